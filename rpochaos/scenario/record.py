"""The run record of a scenario (``scenario`` in resolved.json): the model's own dump and load.

``to_dict(scenario)`` is the model dumped as JSON data (pydantic, from the dataclasses'
annotations): seconds as floats, a random time as ``{between: [LOW, HIGH]}``, a random target
as ``{choose: [A, B]}``. Two keys are informative and ignored on load: ``declared`` (the
workload and expectations in the file's own time) and ``topology.synchronous_standby_names``.
A PostgreSQL workload has no ``acks``/``enable_idempotence`` keys.

``from_dict(data)`` is its inverse, strict (a string is not a number, a number not a
string); it reads records written before ``system`` (PostgreSQL), ``time_scale`` (1),
``specs`` (none) and step names existed. Bad data raises ValueError naming the key.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from rpochaos.scenario.mariadb_model import MariaDBTopology
from rpochaos.scenario.model import (
    SYSTEMS,
    Expect,
    KafkaTopology,
    Scenario,
    Topology,
    Workload,
)

_T = TypeVar("_T")

_SCENARIO: TypeAdapter[Scenario] = TypeAdapter(Scenario)
_POSTGRES_TOPOLOGY: TypeAdapter[Topology] = TypeAdapter(Topology)
_KAFKA_TOPOLOGY: TypeAdapter[KafkaTopology] = TypeAdapter(KafkaTopology)
_MARIADB_TOPOLOGY: TypeAdapter[MariaDBTopology] = TypeAdapter(MariaDBTopology)
_WORKLOAD: TypeAdapter[Workload] = TypeAdapter(Workload)
_EXPECT: TypeAdapter[Expect] = TypeAdapter(Expect)


def to_dict(scenario: Scenario) -> dict[str, object]:
    """The resolved scenario as plain JSON-able data, for the run record.

    ``schedule``, ``workload`` and ``expect`` are in run time; ``declared`` (informative,
    ignored by ``from_dict``) has the file's own workload and expectations; ``specs`` are the
    steps as written, so that ``from_dict(...).with_seed(n)`` re-resolves them.
    """
    data = cast(dict[str, object], _SCENARIO.dump_python(scenario, mode="json"))
    topology = cast(dict[str, object], data["topology"])
    if isinstance(scenario.topology, Topology):
        topology["synchronous_standby_names"] = scenario.topology.synchronous_standby_names
        for key in ("manager", "patroni"):  # only where Patroni manages it: records keep shape
            if topology.get(key) is None:
                topology.pop(key, None)
    _drop_unset_producer_keys(cast(dict[str, object], data["workload"]))
    d = scenario.declared
    data["declared"] = {
        "workload": _drop_unset_producer_keys(
            cast(dict[str, object], _WORKLOAD.dump_python(d.workload, mode="json"))
        ),
        "expect": _EXPECT.dump_python(d.expect, mode="json"),
    }
    return data


def _drop_unset_producer_keys(workload: dict[str, object]) -> dict[str, object]:
    """Kafka's producer knobs only where they are set: PostgreSQL records keep their shape."""
    for key in ("acks", "enable_idempotence"):
        if workload.get(key) is None:
            workload.pop(key, None)
    return workload


def from_dict(data: dict[str, object]) -> Scenario:
    """Inverse of ``to_dict`` (used by ``analyze`` on a stored run). Data written before
    time_scale, step names and specs existed reads as time_scale 1, no names, no specs."""
    if not isinstance(data, dict):
        raise ValueError(f"stored scenario is {type(data).__name__}, expected a mapping")
    record: dict[str, Any] = {k: v for k, v in data.items() if k != "declared"}
    # a record without a system predates Kafka: PostgreSQL
    system = record.get("system")
    if system is None:
        system = record["system"] = "postgres"
    if system not in SYSTEMS:
        raise ValueError(
            f"stored scenario: system is {system!r}, expected one of {', '.join(SYSTEMS)}"
        )
    if record.get("specs") is None:
        record.pop("specs", None)
    # the topology on its own first, so that a wrong one is named as the system's
    topology = record.get("topology")
    if system == "kafka":
        _load(_KAFKA_TOPOLOGY, topology, "topology")
    elif system == "mariadb":
        _load(_MARIADB_TOPOLOGY, topology, "topology")
    else:
        _load(_POSTGRES_TOPOLOGY, topology, "topology")
    return _load(_SCENARIO, record, "")


def _load(adapter: TypeAdapter[_T], data: object, where: str) -> _T:
    """``data`` through ``adapter`` in strict JSON mode; ValueError names each bad key."""
    try:
        return adapter.validate_json(json.dumps(data), strict=True)
    except (TypeError, ValueError) as e:
        if not isinstance(e, ValidationError):
            raise ValueError(f"stored scenario: {where or 'record'} is not JSON data ({e})") from e
        problems = "; ".join(
            f"{_path(where, err['loc'])}: {err['msg']}"
            + ("" if err["type"] == "missing" else f" (got {repr(err['input'])[:60]})")
            for err in e.errors(include_url=False)
        )
        raise ValueError(f"stored scenario: {problems}") from None


def _path(where: str, loc: tuple[int | str, ...]) -> str:
    out = where
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out or "(record)"
