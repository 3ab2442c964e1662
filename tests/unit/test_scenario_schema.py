"""The scenario file's JSON Schema (rpochaos.scenario.schema): the shipped copy is current,
it is a valid draft 2020-12 schema, every shipped scenario passes a standard validator, and
it rejects what it describes as wrong; the docs' key tables are generated from the model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from rpochaos.scenario import json_schema, loads
from rpochaos.scenario.schema import key_tables

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def errors(doc: object) -> list[str]:
    return ["/".join(map(str, e.absolute_path)) for e in VALIDATOR.iter_errors(doc)]


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_docs_scenario_schema_json_is_current() -> None:
    shipped = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())
    assert shipped == json_schema(), "run: python -m rpochaos.scenario.schema > docs/..."


def test_the_module_prints_the_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rpochaos.scenario.schema"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == json_schema()
    assert out.stderr == ""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_validates_against_the_schema(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text())) == []


def test_the_shipped_scenarios_include_the_incidents() -> None:
    assert any(p.parent.name == "incidents" for p in SHIPPED) and len(SHIPPED) >= 10


BASE = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 100/s, duration: 10s}
schedule:
  - {at: {between: [1s, 2s]}, crash: {choose: [primary, replica1]}, outage: true}
expect: {rpo: 1s}
"""


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("rate: 100/s", "rate: 100", "workload"),  # one of two workloads: named there
        ("duration: 10s", "duration: 10 s", "workload"),
        ("rpo: 1s", "rpo: 1s, rpp: 2s", "expect"),
        ("mode: async", "mode: semi", "topology"),  # one of two topologies: named there
        ("[1s, 2s]", "[1s]", "schedule/0/at"),
        ("system: postgres", "system: mysql", "system"),
        ("system: postgres", "system: postgres\nname: " + "a" * 201, "name"),
        ("{rate: 100/s,", "{rate: 100/s, concurrency: 100000000000000000000,", "workload"),
    ],
)
def test_the_schema_rejects_a_wrong_value(old: str, new: str, where: str) -> None:
    loads(BASE)
    assert errors(yaml.safe_load(BASE)) == []
    assert old in BASE
    found = errors(yaml.safe_load(BASE.replace(old, new, 1)))
    assert found and all(e.startswith(where) for e in found), found


DOCS = ROOT / "docs" / "scenarios.md"


def test_the_key_tables_in_the_docs_are_generated_from_the_model() -> None:
    text = DOCS.read_text()
    m = re.search(r"<!-- key-reference:begin -->\n(.*?)<!-- key-reference:end -->", text, re.S)
    assert m is not None
    assert m.group(1) == key_tables(), "run: python -m rpochaos.scenario.schema --tables"


def test_the_docs_say_how_to_point_an_editor_at_the_schema() -> None:
    text = DOCS.read_text()
    assert "# yaml-language-server: $schema=../docs/scenario.schema.json" in text


def test_every_key_the_loader_knows_is_in_the_schema() -> None:
    from rpochaos.scenario import keys

    props = json_schema()["$defs"]
    assert isinstance(props, dict)

    def known(name: str) -> set[str]:
        return set(props[name]["properties"])

    assert known("Step") == set(keys._STEP_KEYS)
    assert known("PostgresTopologySection") == set(keys._TOPOLOGY_KEYS)
    assert known("KafkaTopologySection") == set(keys._KAFKA_TOPOLOGY_KEYS)
    assert known("PostgresWorkload") == set(keys._WORKLOAD_KEYS)
    assert known("KafkaWorkload") == set(keys._KAFKA_WORKLOAD_KEYS)
    assert known("ExpectSection") == set(keys._EXPECT_KEYS)
    assert set(json_schema()["properties"]) == set(keys._TOP_KEYS)  # type: ignore[arg-type]
