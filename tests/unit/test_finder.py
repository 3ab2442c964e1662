"""The one scenario finder (CLI and pytest plugin): path, folder, glob, name; did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpochaos import finder
from rpochaos.errors import ScenarioError
from tests.helpers import SCENARIOS


@pytest.fixture
def sdir(tmp_path: Path) -> Path:
    d = tmp_path / "scenarios"
    (d / "incidents").mkdir(parents=True)
    for name in ("pg-a.yaml", "pg-b.yml", "kafka-c.yaml", "notes.txt", "incidents/deep-one.yaml"):
        (d / name).write_text("system: postgres\n")
    return d


def test_a_file_is_itself_whatever_its_suffix(sdir: Path) -> None:
    assert finder.find(str(sdir / "notes.txt"), sdir) == [sdir / "notes.txt"]
    assert finder.find(str(sdir / "pg-a.yaml"), sdir) == [sdir / "pg-a.yaml"]


def test_a_folder_is_its_yaml_files_sorted_not_its_subfolders(sdir: Path) -> None:
    assert finder.find(str(sdir), sdir) == [
        sdir / "kafka-c.yaml",
        sdir / "pg-a.yaml",
        sdir / "pg-b.yml",
    ]


def test_a_glob_relative_to_the_cwd_else_to_the_scenarios_dir(
    sdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert finder.find(str(sdir / "pg-*"), sdir) == [sdir / "pg-a.yaml", sdir / "pg-b.yml"]
    monkeypatch.chdir(tmp_path)
    assert finder.find("scenarios/pg-*", sdir) == [
        Path("scenarios/pg-a.yaml"),
        Path("scenarios/pg-b.yml"),
    ]
    assert finder.find("incidents/*", sdir) == [sdir / "incidents/deep-one.yaml"]


def test_a_name_with_or_without_folder_or_suffix(
    sdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert finder.find("pg-a", sdir) == [sdir / "pg-a.yaml"]
    assert finder.find("pg-b", sdir) == [sdir / "pg-b.yml"]
    assert finder.find("incidents/deep-one", sdir) == [sdir / "incidents/deep-one.yaml"]
    assert finder.find("deep-one", sdir) == [sdir / "incidents/deep-one.yaml"]  # unique stem
    monkeypatch.chdir(tmp_path)
    assert finder.find("scenarios/pg-a", sdir) == [Path("scenarios/pg-a.yaml")]


def test_an_unknown_name_is_a_scenario_error_with_did_you_mean(sdir: Path) -> None:
    with pytest.raises(finder.ScenarioNotFound) as e:
        finder.find("pg-aa", sdir)
    assert isinstance(e.value, ScenarioError)  # the CLI's exit 254
    assert e.value.suggestions[0] == "pg-a"
    assert "did you mean pg-a" in str(e.value)
    assert "'pg-aa'" in str(e.value)
    with pytest.raises(finder.ScenarioNotFound) as e2:
        finder.find("zzzzzzzz", sdir)
    assert e2.value.suggestions == []
    assert "did you mean" not in str(e2.value)
    with pytest.raises(finder.ScenarioNotFound):
        finder.find(str(sdir / "nothing-*.yaml"), sdir)  # a glob that matches nothing
    with pytest.raises(finder.ScenarioNotFound):
        finder.find("pg-a", sdir / "missing")  # no scenarios dir at all


def test_find_all_keeps_order_and_each_file_once_find_one_wants_one(sdir: Path) -> None:
    got = finder.find_all(["pg-b", str(sdir), "pg-a"], sdir)
    assert got == [sdir / "pg-b.yml", sdir / "kafka-c.yaml", sdir / "pg-a.yaml"]
    assert finder.find_one("kafka-c", sdir) == sdir / "kafka-c.yaml"
    with pytest.raises(ScenarioError, match="3 scenario files"):
        finder.find_one(str(sdir), sdir)


def test_the_shipped_scenarios_are_found_by_name() -> None:
    names = finder.names(SCENARIOS)
    assert "pg-split-brain" in names and "incidents/archive-command-fails" in names
    for n in names:
        assert finder.find_one(n, SCENARIOS) == SCENARIOS / f"{n}.yaml"
