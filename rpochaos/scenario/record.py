"""The run record of a scenario (``scenario`` in resolved.json): ``to_dict`` and its inverse
``from_dict``, which also reads records written by older versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from rpochaos.scenario.keys import (
    _ACTIONS,
    _REPLICATION_MODES,
    _SYNC_COMMITS,
)
from rpochaos.scenario.messages import (
    _join,
    _one_of,
)
from rpochaos.scenario.model import (
    KAFKA_ACKS,
    SYSTEMS,
    Action,
    Archive,
    Between,
    Choose,
    Expect,
    KafkaTopology,
    ParamValue,
    Replica,
    ReplicationMode,
    Scenario,
    Step,
    StepSpec,
    SyncCommit,
    SystemName,
    Topology,
    Workload,
)


def to_dict(scenario: Scenario) -> dict[str, object]:
    """The resolved scenario as plain JSON-able data (seconds as floats), for the run record.

    ``schedule``, ``workload`` and ``expect`` are in run time; ``declared`` (informative,
    ignored by ``from_dict``) has the file's own workload and expectations; ``specs`` are the
    steps as written, so that ``from_dict(...).with_seed(n)`` re-resolves them.
    """
    t, w, e = scenario.topology, scenario.workload, scenario.expect
    d = scenario.declared
    return {
        "name": scenario.name,
        "description": scenario.description,
        "system": scenario.system,
        "seed": scenario.seed,
        "backend": scenario.backend,
        "time_scale": float(scenario.time_scale),
        "path": str(scenario.path) if scenario.path is not None else None,
        "topology": _topology_dict(t),
        "workload": _workload_dict(w),
        "schedule": [
            {
                "index": s.index,
                "source_index": s.source_index,
                "name": s.name,
                "at": float(s.at),
                "action": s.action,
                "target": s.target,
                "duration": _opt_float(s.duration),
                "outage": s.outage,
                "params": _params_dict(s.params),
                "line": s.line,
            }
            for s in scenario.schedule
        ],
        "expect": _expect_dict(e),
        "declared": {  # informative only
            "workload": _workload_dict(d.workload),
            "expect": _expect_dict(d.expect),
        },
        "specs": [_spec_dict(s) for s in scenario.specs],
    }


def _topology_dict(t: Topology | KafkaTopology) -> dict[str, object]:
    if isinstance(t, KafkaTopology):
        return {
            "brokers": t.brokers,
            "replication_factor": t.replication_factor,
            "min_insync_replicas": t.min_insync_replicas,
            "unclean_leader_election": t.unclean_leader_election,
            "partitions": t.partitions,
            "topic": t.topic,
            "settings": dict(t.settings),
        }
    return {
        "synchronous_commit": t.synchronous_commit,
        "num_sync": t.num_sync,
        "replicas": [{"name": r.name, "mode": r.mode} for r in t.replicas],
        "settings": dict(t.settings),
        "synchronous_standby_names": t.synchronous_standby_names,  # informative only
        "archive": None if t.archive is None else {"timeout": float(t.archive.timeout)},
    }


def _workload_dict(w: Workload) -> dict[str, object]:
    out: dict[str, object] = {
        "rate": float(w.rate),
        "duration": float(w.duration),
        "concurrency": w.concurrency,
        "commit_timeout": _opt_float(w.commit_timeout),
        "connect_timeout": float(w.connect_timeout),
    }
    # Kafka's producer knobs; PostgreSQL records keep their shape
    if w.acks is not None:
        out["acks"] = w.acks
    if w.enable_idempotence is not None:
        out["enable_idempotence"] = w.enable_idempotence
    return out


def _expect_dict(e: Expect) -> dict[str, object]:
    return {
        "rpo": float(e.rpo),
        "max_lost": e.max_lost,
        "min_lost": e.min_lost,
        "max_rto": _opt_float(e.max_rto),
    }


def _params_dict(params: dict[str, ParamValue]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in params.items():
        if isinstance(v, list):
            out[k] = list(v)
        elif isinstance(v, str | int):
            out[k] = v
        else:
            out[k] = float(v)
    return out


def _time_dict(v: float | Between) -> object:
    if isinstance(v, Between):
        return {"between": [float(v.low), float(v.high)]}
    return float(v)


def _spec_dict(s: StepSpec) -> dict[str, object]:
    return {
        "source_index": s.source_index,
        "name": s.name,
        "action": s.action,
        "target": {"choose": list(s.target.options)} if isinstance(s.target, Choose) else s.target,
        "at": _time_dict(s.at),
        "after": s.after,
        "after_end": s.after_end,
        "duration": None if s.duration is None else _time_dict(s.duration),
        "every": _opt_float(s.every),
        "repeat": s.repeat,
        "outage": s.outage,
        "params": _params_dict(s.params),
        "line": s.line,
    }


def _opt_float(x: float | None) -> float | None:
    return None if x is None else float(x)


def _bad(what: str, value: object, expected: str) -> ValueError:
    return ValueError(f"stored scenario: {what} is {value!r}, expected {expected}")


def _d(data: dict[str, object], key: str, where: str) -> dict[str, object]:
    v = data.get(key)
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise _bad(_join(where, key), v, "a mapping")
    return cast(dict[str, object], v)


def _l(data: dict[str, object], key: str, where: str) -> list[object]:
    v = data.get(key)
    if not isinstance(v, list):
        raise _bad(_join(where, key), v, "a list")
    return v


def _s(data: dict[str, object], key: str, where: str, options: Sequence[str] = ()) -> str:
    v = data.get(key)
    if not isinstance(v, str) or (options and v not in options):
        raise _bad(_join(where, key), v, _one_of(options) if options else "a string")
    return v


def _os(data: dict[str, object], key: str, where: str) -> str | None:
    return None if data.get(key) is None else _s(data, key, where)


def _i(data: dict[str, object], key: str, where: str) -> int:
    v = data.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "an integer")
    return v


def _oi(data: dict[str, object], key: str, where: str) -> int | None:
    return None if data.get(key) is None else _i(data, key, where)


def _f(data: dict[str, object], key: str, where: str) -> float:
    v = data.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "a number")
    return float(v)


def _of(data: dict[str, object], key: str, where: str) -> float | None:
    return None if data.get(key) is None else _f(data, key, where)


def _b(data: dict[str, object], key: str, where: str) -> bool:
    v = data.get(key)
    if not isinstance(v, bool):
        raise _bad(_join(where, key), v, "true or false")
    return v


def _as_dict(v: object, where: str) -> dict[str, object]:
    return _d({"": v}, "", where)


def _params(data: dict[str, object], where: str) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for k, v in _d(data, "params", where).items():
        if isinstance(v, str):
            params[k] = v
        elif isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise _bad(f"{where}.params.{k}", v, "a list of strings")
            params[k] = [str(x) for x in v]
        elif isinstance(v, int) and not isinstance(v, bool):
            params[k] = v
        else:
            params[k] = _f({k: v}, k, f"{where}.params")
    return params


def _time(data: dict[str, object], key: str, where: str) -> float | Between:
    v = data.get(key)
    if isinstance(v, dict):
        pair = _l(_as_dict(v, _join(where, key)), "between", _join(where, key))
        if len(pair) != 2:
            raise _bad(f"{_join(where, key)}.between", pair, "[low, high]")
        bounds = {"low": pair[0], "high": pair[1]}
        low = _f(bounds, "low", f"{_join(where, key)}.between")
        high = _f(bounds, "high", f"{_join(where, key)}.between")
        return Between(low, high)
    return _f(data, key, where)


def _spec(v: object, where: str) -> StepSpec:
    sd = _as_dict(v, where)
    target_v = sd.get("target")
    target: str | Choose
    if isinstance(target_v, dict):
        options = _l(_as_dict(target_v, f"{where}.target"), "choose", f"{where}.target")
        if not options or not all(isinstance(o, str) for o in options):
            raise _bad(f"{where}.target.choose", options, "a non-empty list of strings")
        target = Choose(tuple(str(o) for o in options))
    else:
        target = _s(sd, "target", where)
    return StepSpec(
        source_index=_i(sd, "source_index", where),
        action=cast(Action, _s(sd, "action", where, _ACTIONS)),
        target=target,
        at=_time(sd, "at", where),
        duration=None if sd.get("duration") is None else _time(sd, "duration", where),
        after=_os(sd, "after", where),
        after_end=_b(sd, "after_end", where),
        every=_of(sd, "every", where),
        repeat=_i(sd, "repeat", where),
        outage=_b(sd, "outage", where),
        params=_params(sd, where),
        name=_os(sd, "name", where),
        line=_oi(sd, "line", where),
    )


def _settings_of(t: dict[str, object]) -> dict[str, str]:
    settings = _d(t, "settings", "topology")
    return {k: _s(settings, k, "topology.settings") for k in settings}


def _postgres_topology_of(t: dict[str, object]) -> Topology:
    replicas = []
    for i, r in enumerate(_l(t, "replicas", "topology")):
        rd = _as_dict(r, f"topology.replicas[{i}]")
        where = f"topology.replicas[{i}]"
        mode = _s(rd, "mode", where, _REPLICATION_MODES)
        replicas.append(Replica(_s(rd, "name", where), cast(ReplicationMode, mode)))
    return Topology(
        synchronous_commit=cast(SyncCommit, _s(t, "synchronous_commit", "topology", _SYNC_COMMITS)),
        replicas=tuple(replicas),
        num_sync=_i(t, "num_sync", "topology"),
        settings=_settings_of(t),
        archive=(
            None
            if t.get("archive") is None
            else Archive(timeout=_f(_d(t, "archive", "topology"), "timeout", "topology.archive"))
        ),
    )


def _kafka_topology_of(t: dict[str, object]) -> KafkaTopology:
    return KafkaTopology(
        brokers=_i(t, "brokers", "topology"),
        replication_factor=_i(t, "replication_factor", "topology"),
        min_insync_replicas=_i(t, "min_insync_replicas", "topology"),
        unclean_leader_election=_b(t, "unclean_leader_election", "topology"),
        partitions=_i(t, "partitions", "topology"),
        topic=_s(t, "topic", "topology"),
        settings=_settings_of(t),
    )


def _backend_of(data: dict[str, object]) -> str | None:
    b = data.get("backend")
    return b if isinstance(b, str) else None


def from_dict(data: dict[str, object]) -> Scenario:
    """Inverse of ``to_dict`` (used by ``analyze`` on a stored run). Data written before
    time_scale, step names and specs existed reads as time_scale 1, no names, no specs."""
    t = _d(data, "topology", "")
    w = _d(data, "workload", "")
    e = _d(data, "expect", "")
    # a record without a system predates Kafka: PostgreSQL
    system = "postgres" if data.get("system") is None else _s(data, "system", "", SYSTEMS)
    topology = _kafka_topology_of(t) if system == "kafka" else _postgres_topology_of(t)
    acks = _os(w, "acks", "workload")
    if acks is not None and acks not in KAFKA_ACKS:
        raise _bad("workload.acks", acks, _one_of(KAFKA_ACKS))
    steps = []
    for i, s in enumerate(_l(data, "schedule", "")):
        where = f"schedule[{i}]"
        sd = _as_dict(s, where)
        index = _i(sd, "index", where)
        source_index = _oi(sd, "source_index", where)
        steps.append(
            Step(
                index=index,
                at=_f(sd, "at", where),
                action=cast(Action, _s(sd, "action", where, _ACTIONS)),
                target=_s(sd, "target", where),
                duration=_of(sd, "duration", where),
                outage=_b(sd, "outage", where),
                params=_params(sd, where),
                line=_oi(sd, "line", where),
                name=_os(sd, "name", where),
                source_index=index if source_index is None else source_index,
            )
        )
    specs = tuple(
        _spec(s, f"specs[{i}]")
        for i, s in enumerate(_l(data, "specs", "") if data.get("specs") is not None else [])
    )
    path = data.get("path")
    if path is not None and not isinstance(path, str):
        raise _bad("path", path, "a string or null")
    time_scale = _of(data, "time_scale", "")
    return Scenario(
        name=_s(data, "name", ""),
        system=cast(SystemName, system),
        topology=topology,
        workload=Workload(
            rate=_f(w, "rate", "workload"),
            duration=_f(w, "duration", "workload"),
            concurrency=_i(w, "concurrency", "workload"),
            commit_timeout=_of(w, "commit_timeout", "workload"),
            connect_timeout=_f(w, "connect_timeout", "workload"),
            acks=acks,
            enable_idempotence=(
                None
                if w.get("enable_idempotence") is None
                else _b(w, "enable_idempotence", "workload")
            ),
        ),
        schedule=tuple(steps),
        expect=Expect(
            rpo=_f(e, "rpo", "expect"),
            max_lost=_oi(e, "max_lost", "expect"),
            min_lost=_oi(e, "min_lost", "expect"),
            max_rto=_of(e, "max_rto", "expect"),
        ),
        seed=_i(data, "seed", ""),
        description=_s(data, "description", ""),
        path=Path(path) if path is not None else None,
        time_scale=1.0 if time_scale is None else time_scale,
        specs=specs,
        backend=_backend_of(data),
    )
