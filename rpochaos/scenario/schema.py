"""The shape of a scenario *file*, as users write it (durations as '5s', random values as
``{between: [..]}`` and ``{choose: [..]}``), as pydantic models: the JSON Schema for editors
(``json_schema()``, docs/scenario.schema.json) and the key reference tables of
docs/scenarios.md (``key_tables()``) come from here. The sections the loader validates with
pydantic (``shapes``: workload, expect, a Kafka topology) are those very models, their values
typed by how they are written; the unit patterns are the parsers' own expressions (``units``).

The schema describes each key, its type, its pattern and its bounds (rpochaos.scenario.limits);
the rules that span keys and sections (targets that exist, one outage, the ``after`` graph,
start times before the end of the workload, sync/quorum mixes, managed settings) are the
loader's, so a file the schema accepts can still have problems ``rpochaos validate`` reports.

``python -m rpochaos.scenario.schema`` prints the schema; ``--tables`` prints the tables.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rpochaos.scenario import limits
from rpochaos.scenario.model import MAX_REPEAT, PAUSE_PROCESSES
from rpochaos.scenario.shapes import (
    ArchiveShape,
    ExpectSection,
    KafkaTopologySection,
    KafkaWorkload,
    PostgresTopologySection,
    PostgresWorkload,
    ReplicaShape,
)
from rpochaos.scenario.units import (
    BANDWIDTH_PATTERN,
    DURATION_PATTERN,
    OFFSET_PATTERN,
    RATE_PATTERN,
    SIZE_PATTERN,
)

#: where docs/scenario.schema.json is published, for ``$id``
SCHEMA_ID = "https://rpochaos.dev/scenario.schema.json"


Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN),
    Field(description="a duration like '250ms', '5s' or '2m'"),
]
Offset = Annotated[
    str,
    StringConstraints(pattern=OFFSET_PATTERN),
    Field(description="a signed duration like '30s', '+30s' or '-2m'"),
]
Rate = Annotated[
    str,
    StringConstraints(pattern=RATE_PATTERN),
    Field(description="a rate > 0 like '500/s' or '60/m'"),
]
Bandwidth = Annotated[
    str,
    StringConstraints(pattern=BANDWIDTH_PATTERN),
    Field(description="a bandwidth > 0 like '64KB/s', '64kB/s' or '1MB/s'"),
]
Size = Annotated[
    str,
    StringConstraints(pattern=SIZE_PATTERN),
    Field(description="a size like '16MB', '512kB' or '0B' (1kB = 1024 B)"),
]
Setting = str | int | float | bool


def _pattern(unit: object) -> str:
    """The regular expression of a unit type (its StringConstraints)."""
    for meta in getattr(unit, "__metadata__", ()):
        if isinstance(meta, StringConstraints) and meta.pattern is not None:
            return str(meta.pattern)
    raise ValueError(f"{unit!r} has no pattern")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Between(_Section):
    """A random duration, drawn from the seed."""

    between: Annotated[list[Duration], Field(min_length=2, max_length=2)] = Field(
        description="[LOW, HIGH]: two durations, LOW <= HIGH"
    )


class Choose(_Section):
    """A random target, drawn from the seed."""

    choose: Annotated[list[str], Field(min_length=1)] = Field(
        description="the targets to choose from"
    )


TimeValue = Duration | Between
Target = str | Choose


_ACTION = "an action and its target"


class Step(_Section):
    """One step: exactly one action key (its value is the target), the action's own keys,
    and timing keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: (
        Annotated[
            str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=limits.MAX_STEP_NAME)
        ]
        | None
    ) = Field(None, description="`[a-z][a-z0-9_-]*`, unique")
    at: TimeValue | None = Field(
        None, description="start, after the workload's start or the 'after' step's"
    )
    after: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*(\.end)?$")] | None = Field(
        None, description="a step's name, or NAME.end (its start + its 'for')"
    )
    every: Duration | None = Field(None, description="> 0: between repetitions' starts")
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT)] | None = Field(
        None, description="how many times the step happens"
    )
    for_: TimeValue | None = Field(
        None, alias="for", description="> 0: how long a lasting fault lasts, then it heals"
    )
    outage: bool | None = Field(None, description="exactly one step declares the outage")
    partition: Target | None = Field(None, description=f"{_ACTION}: a link")
    latency: Target | None = Field(None, description=f"{_ACTION}: a link")
    bandwidth: Target | None = Field(None, description=f"{_ACTION}: a link")
    crash: Target | None = Field(None, description=f"{_ACTION}: a node")
    restart: Target | None = Field(None, description=f"{_ACTION}: a node")
    promote: Target | None = Field(
        None, description=f"{_ACTION}: a replica or most_up_to_date (PostgreSQL)"
    )
    pause: Target | None = Field(None, description=f"{_ACTION}: a node")
    io_stall: Target | None = Field(None, description=f"{_ACTION}: a node")
    clock_skew: Target | None = Field(None, description=f"{_ACTION}: a node")
    archive_fail: Target | None = Field(
        None, description=f"{_ACTION}: primary (needs topology.archive)"
    )
    restore: Target | None = Field(None, description=f"{_ACTION}: primary (needs topology.archive)")
    mode: Literal["blackhole", "reset"] | None = Field(None, description="partition, required")
    direction: Literal["both", "upstream", "downstream"] | None = Field(
        None, description="partition, default both"
    )
    delay: Duration | None = Field(None, description="latency, required")
    jitter: Duration | None = Field(None, description="latency, default 0")
    rate: Bandwidth | None = Field(None, description="bandwidth, required")
    links: Literal["cut", "keep"] | None = Field(None, description="crash, default cut")
    process: Literal[PAUSE_PROCESSES] | None = Field(  # type: ignore[valid-type]
        None, description="pause (PostgreSQL), default every process of the node"
    )
    candidates: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="promote most_up_to_date: the replicas to choose among"
    )
    max_lag: Size | None = Field(None, description="promote: refuse beyond this much lag")
    offset: Offset | None = Field(None, description="clock_skew, required")
    drift_ppm: Annotated[float, Field(ge=-limits.MAX_DRIFT_PPM, le=limits.MAX_DRIFT_PPM)] | None = (
        Field(None, description="clock_skew: microseconds per second, default 0")
    )


class ScenarioFile(_Section):
    """A scenario file (docs/scenarios.md)."""

    name: (
        Annotated[
            str,
            StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=limits.MAX_NAME),
        ]
        | None
    ) = Field(None, description="default: the file name; runs go under runs/<name>/")
    description: str | None = Field(None, description="shown by rpochaos list")
    system: Literal["postgres", "kafka"] = Field(description="the system under test")
    backend: Literal["local", "docker"] | None = Field(
        None, description="where nodes run; RPOCHAOS_BACKEND and --backend override it"
    )
    seed: Annotated[int, Field(ge=-limits.MAX_INTEGER, le=limits.MAX_INTEGER)] = Field(
        0, description="drives every random choice; --seed N overrides it"
    )
    time_scale: Annotated[float, Field(ge=1, le=limits.MAX_TIME_SCALE)] = Field(
        1, description="replay the timeline this many times faster"
    )
    topology: PostgresTopologySection | KafkaTopologySection = Field(description="the cluster")
    workload: PostgresWorkload | KafkaWorkload = Field(description="the writes")
    schedule: Annotated[list[Step], Field(min_length=1)] = Field(
        description="the steps, exactly one with outage: true"
    )
    expect: ExpectSection = Field(description="the verdict's thresholds")


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of a scenario file."""
    schema: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **ScenarioFile.model_json_schema(by_alias=True),
    }
    schema["title"] = "rpochaos scenario"
    return schema


#: the sections of the key reference, in the order of docs/scenarios.md
_TABLES: tuple[tuple[str, type[BaseModel]], ...] = (
    ("top level", ScenarioFile),
    ("topology (PostgreSQL)", PostgresTopologySection),
    ("topology.replicas[]", ReplicaShape),
    ("topology.archive", ArchiveShape),
    ("topology (Kafka)", KafkaTopologySection),
    ("workload (PostgreSQL)", PostgresWorkload),
    ("workload (Kafka)", KafkaWorkload),
    ("expect", ExpectSection),
    ("schedule[] (a step)", Step),
)


def key_tables() -> str:
    """Markdown: one table per section (key, required, default, type, meaning), from the
    models and their JSON Schema."""
    out: list[str] = []
    for title, model in _TABLES:
        properties = model.model_json_schema(by_alias=True)["properties"]
        out += [
            f"**{title}**",
            "",
            "| key | required | default | type | meaning |",
            "|---|---|---|---|---|",
        ]
        for name, info in model.model_fields.items():
            key = info.alias or name
            required = "yes" if info.is_required() else "no"
            default = "" if info.is_required() else _shown_default(properties[key].get("default"))
            kind = _kind(properties[key])
            text = info.description or ""
            out.append(f"| `{key}` | {required} | {default} | {_cell(kind)} | {_cell(text)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


#: the unit types, by their pattern
_UNITS = {
    _pattern(Duration): "duration",
    _pattern(Offset): "signed duration",
    _pattern(Rate): "rate",
    _pattern(Bandwidth): "bandwidth",
    _pattern(Size): "size",
}


def _kind(prop: dict[str, Any]) -> str:
    """A JSON Schema property in a few words: 'duration or {between: [LOW, HIGH]}'."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        return {"Between": "{between: [LOW, HIGH]}", "Choose": "{choose: [...]}"}.get(
            name, "mapping"
        )
    if "anyOf" in prop:
        parts = [_kind(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(dict.fromkeys(parts))
    if "enum" in prop:
        return " / ".join(dict.fromkeys(f"`{v}`" for v in prop["enum"]))
    kind = prop.get("type")
    if kind == "string":
        return _UNITS.get(prop.get("pattern", ""), "text")
    if kind in ("integer", "number"):
        low, high = prop.get("minimum"), prop.get("maximum")
        word = "integer" if kind == "integer" else "number"
        if low is not None and high is not None:
            return f"{word} {_number(low)} to {_number(high)}"
        return f"{word} >= {_number(low)}" if low is not None else word
    if kind == "boolean":
        return "true / false"
    if kind == "array":
        return "list of " + _kind(prop.get("items", {}))
    if kind == "object":
        return "mapping"
    return "value"


def _shown_default(value: object) -> str:
    if value is None or value == {}:
        return ""
    return f"`{json.dumps(value)}`"


def main(argv: list[str]) -> int:
    """``python -m rpochaos.scenario.schema [--tables]``: print the schema (or the tables)."""
    if argv[1:] == ["--tables"]:
        sys.stdout.write(key_tables())
        return 0
    if argv[1:]:
        sys.stderr.write("usage: python -m rpochaos.scenario.schema [--tables]\n")
        return 254
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
