"""The run record (resolved.json's ``scenario``): records written before the record became
the model's own dump still load, and today's dump has their shape."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rpochaos.scenario import from_dict, load, loads, to_dict

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
#: to_dict's output for every shipped scenario and the format examples, as written by the
#: hand-written codec this one replaced
OLD = json.loads((DATA / "scenario_records.json").read_text())


def _loaded(name: str) -> object:
    if name == "<docstring postgres>":
        return loads((DATA / "format-example.yaml").read_text())
    if name == "<docstring kafka>":
        return loads((DATA / "kafka-format-example.yaml").read_text())
    return replace(load(ROOT / name), path=Path(name))  # recorded relative to the checkout


@pytest.mark.parametrize("name", sorted(k for k in OLD if not k.startswith("<FULL")))
def test_an_old_record_loads_as_the_scenario_it_recorded(name: str) -> None:
    old = OLD[name]
    sc = from_dict(old)
    assert sc == _loaded(name)
    assert to_dict(sc) == old  # same keys, same values: old run directories still analyse
    assert from_dict(json.loads(json.dumps(to_dict(sc)))) == sc


def test_the_full_example_record_round_trips() -> None:
    old = OLD["<FULL>"]
    assert to_dict(from_dict(old)) == old


def test_bad_data_names_the_key() -> None:
    data = json.loads(json.dumps(OLD["scenarios/pg-async-partition-crash.yaml"]))
    data["schedule"][0]["at"] = "1s"
    data["expect"]["max_lost"] = True
    with pytest.raises(ValueError, match=r"schedule\[0\]\.at: .*expect\.max_lost") as info:
        from_dict(data)
    assert str(info.value).startswith("stored scenario: ")


def test_a_random_time_and_target_are_recorded_as_written() -> None:
    text = (ROOT / "scenarios" / "pg-split-brain.yaml").read_text()
    specs = to_dict(loads(text))["specs"]
    assert isinstance(specs, list)
    assert all(isinstance(s["at"], float | dict) for s in specs)
