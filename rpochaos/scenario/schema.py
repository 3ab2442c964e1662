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
from typing import Any

from pydantic import BaseModel

from rpochaos.scenario.mariadb_shape import MariaDBReplicaShape, MariaDBTopologySection
from rpochaos.scenario.searchform import SearchSection
from rpochaos.scenario.shapes import (
    ArchiveShape,
    ExpectSection,
    KafkaTopologySection,
    KafkaWorkload,
    PatroniShape,
    PostgresTopologySection,
    PostgresWorkload,
    ReplicaShape,
    ScenarioFile,
)
from rpochaos.scenario.stepform import (
    Bandwidth,
    Duration,
    Offset,
    Rate,
    Size,
    Step,
    _pattern,
)

#: where docs/scenario.schema.json is published, for ``$id``
SCHEMA_ID = "https://rpochaos.dev/scenario.schema.json"


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
    ("topology.patroni (with manager: patroni)", PatroniShape),
    ("topology (Kafka)", KafkaTopologySection),
    ("topology (MariaDB)", MariaDBTopologySection),
    ("topology.replicas[] (MariaDB)", MariaDBReplicaShape),
    ("workload (PostgreSQL)", PostgresWorkload),
    ("workload (Kafka)", KafkaWorkload),
    ("expect", ExpectSection),
    ("schedule[] (a step)", Step),
    ("search", SearchSection),
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
        return {
            "Between": "{between: [LOW, HIGH]}",
            "Choose": "{choose: [...]}",
            "Range": "{range: [LOW, HIGH]}",
        }.get(name, "mapping")
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
