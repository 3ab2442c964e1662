"""Scenario files: parsing, every validation rule, and the plain-data round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario import (
    Action,
    Expect,
    Replica,
    Scenario,
    Step,
    Topology,
    Workload,
    from_dict,
    load,
    loads,
    parse_duration,
    parse_rate,
    to_dict,
)

# line numbers matter below: keep this text as it is
FULL = """\
# a comment line
name: full-example
description: every feature at once
system: postgres
seed: 7
topology:
  synchronous_commit: remote_apply
  num_sync: 2
  replicas:
    - name: replica1
      mode: sync
    - name: replica2
      mode: sync
    - name: replica3
      mode: async
  settings:
    wal_sender_timeout: 10s
    max_connections: 50
    random_page_cost: 1.5
    fsync: off
workload:
  rate: 60/m
  concurrency: 4
  duration: 12s
  commit_timeout: 1500ms
  connect_timeout: 2s
schedule:
  - at: 8s
    crash: primary
    outage: true
    for: 2s
  - at: 3s
    partition: replica1->primary
    mode: blackhole
    for: 5s
  - at: 3s
    latency: client->primary
    delay: 200ms
    jitter: 10ms
  - at: 1s
    bandwidth: replica2->primary
    rate: 64KB/s
  - at: 8500ms
    promote: replica1
  - at: 0.1m
    restart: replica3
  - at: 2s
    partition: client->replica2
    mode: reset
    direction: upstream
expect:
  rpo: 1s
  max_lost: 10
  min_lost: 0
  max_rto: 5s
"""


def minimal() -> dict[str, Any]:
    """The smallest valid scenario, as data: tests change one thing and dump it."""
    return {
        "system": "postgres",
        "topology": {
            "synchronous_commit": "on",
            "replicas": [{"name": "replica1", "mode": "async"}],
        },
        "workload": {"rate": "100/s", "duration": "10s"},
        "schedule": [
            {"at": "2s", "partition": "replica1->primary", "mode": "blackhole"},
            {"at": "5s", "crash": "primary", "outage": True},
        ],
        "expect": {"rpo": "1s"},
    }


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def problems(text: str, source: str = "t.yaml") -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        loads(text, source)
    return info.value.problems


def line_of(p: Problem) -> int:
    assert p.line is not None, p
    return p.line


def keys(data: dict[str, Any]) -> list[str]:
    """The keys of the problems in ``data`` (which must be invalid)."""
    return [p.key for p in problems(dump(data))]


def only(data: dict[str, Any]) -> Problem:
    """The one problem in ``data``."""
    found = problems(dump(data))
    assert len(found) == 1, found
    return found[0]


def test_minimal_is_valid() -> None:
    sc = loads(dump(minimal()))
    assert sc.name == "scenario"
    assert sc.seed == 0
    assert sc.description == ""
    assert sc.path is None
    assert sc.topology.num_sync == 1
    assert sc.topology.settings == {}
    assert sc.workload == Workload(rate=100.0, duration=10.0)
    assert sc.expect == Expect(rpo=1.0)


# -- the full example ------------------------------------------------------------------------


def test_full_scenario_loads_to_the_expected_model(tmp_path: Path) -> None:
    path = tmp_path / "ignored-stem.yaml"
    path.write_text(FULL)
    sc = load(path)
    assert sc == Scenario(
        name="full-example",
        system="postgres",
        topology=Topology(
            synchronous_commit="remote_apply",
            replicas=(
                Replica("replica1", "sync"),
                Replica("replica2", "sync"),
                Replica("replica3", "async"),
            ),
            num_sync=2,
            settings={
                "wal_sender_timeout": "10s",
                "max_connections": "50",
                "random_page_cost": "1.5",
                "fsync": "off",
            },
        ),
        workload=Workload(
            rate=1.0, duration=12.0, concurrency=4, commit_timeout=1.5, connect_timeout=2.0
        ),
        schedule=(
            Step(3, 1.0, "bandwidth", "replica2->primary", params={"rate_kbps": 64.0}, line=40),
            Step(
                6,
                2.0,
                "partition",
                "client->replica2",
                params={"mode": "reset", "direction": "upstream"},
                line=47,
            ),
            Step(
                1,
                3.0,
                "partition",
                "replica1->primary",
                duration=5.0,
                params={"mode": "blackhole", "direction": "both"},
                line=32,
            ),
            Step(
                2, 3.0, "latency", "client->primary", params={"delay": 0.2, "jitter": 0.01}, line=36
            ),
            Step(5, 6.0, "restart", "replica3", line=45),
            Step(
                0,
                8.0,
                "crash",
                "primary",
                duration=2.0,
                outage=True,
                params={"links": "cut"},
                line=28,
            ),
            Step(4, 8.5, "promote", "replica1", line=43),
        ),
        expect=Expect(rpo=1.0, max_lost=10, min_lost=0, max_rto=5.0),
        seed=7,
        description="every feature at once",
        path=path,
    )
    assert sc.outage_step.index == 0
    assert sc.topology.synchronous_standby_names == "FIRST 2 (replica1, replica2)"


def test_schedule_is_sorted_by_at_with_ties_in_file_order() -> None:
    sc = loads(FULL)
    ats = [s.at for s in sc.schedule]
    assert ats == sorted(ats)
    tied = [s.index for s in sc.schedule if s.at == 3.0]
    assert tied == [1, 2]
    data = minimal()
    data["schedule"] = [
        {"at": "4s", "restart": "replica1"},
        {"at": "4s", "crash": "primary", "outage": True},
        {"at": "1s", "promote": "replica1"},
        {"at": "4s", "restart": "primary"},
    ]
    sc = loads(dump(data))
    assert [s.index for s in sc.schedule] == [2, 0, 1, 3]


def test_repository_scenarios_load() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    files = sorted(root.glob("*.yaml"))
    for f in files:
        sc = load(f)
        assert sc.name == f.stem
        assert sum(s.outage for s in sc.schedule) == 1


# -- collecting every problem ----------------------------------------------------------------

THREE_MISTAKES = """\
system: postgres
expect:
  rpo: soon
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: asynchronous
workload:
  rate: 100/s
  duration: 5 seconds
schedule:
  - at: 1s
    crash: primary
    outage: true
"""


def test_three_mistakes_give_one_error_with_three_problems_in_file_order() -> None:
    with pytest.raises(ScenarioError) as info:
        loads(THREE_MISTAKES, "three.yaml")
    found = info.value.problems
    assert [(p.line, p.key) for p in found] == [
        (3, "expect.rpo"),
        (8, "topology.replicas[0].mode"),
        (11, "workload.duration"),
    ]
    assert all(p.file == "three.yaml" for p in found)
    assert found[0].given == "'soon'"
    assert found[1].expected == "one of async, sync, quorum"
    assert found[2].given == "'5 seconds'"
    assert "'5s'" in found[2].expected
    assert "3 problems" in str(info.value)


def test_problems_are_in_file_order_across_sections() -> None:
    text = dump(minimal()).replace("rpo: 1s", "rpo: 1 s").replace("rate: 100/s", "rate: 0/s")
    found = problems(text)
    assert [p.key for p in found] == ["workload.rate", "expect.rpo"]
    lines = [line_of(p) for p in found]
    assert lines == sorted(lines)


def test_missing_required_keys_are_reported_as_nothing() -> None:
    data = minimal()
    del data["workload"]["duration"]
    del data["expect"]["rpo"]
    found = problems(dump(data))
    assert [(p.key, p.given) for p in found] == [
        ("workload.duration", "nothing"),
        ("expect.rpo", "nothing"),
    ]
    text = dump(data)
    lines = text.splitlines()
    assert lines[line_of(found[0]) - 1] == "workload:"
    assert lines[line_of(found[1]) - 1].startswith("expect:")


@pytest.mark.parametrize("key", ["system", "topology", "workload", "schedule", "expect"])
def test_top_level_required_keys(key: str) -> None:
    data = minimal()
    del data[key]
    found = problems(dump(data))
    assert (key, "nothing") in [(p.key, p.given) for p in found]


# -- the YAML itself -------------------------------------------------------------------------


def test_yaml_syntax_error_is_one_problem_with_its_line() -> None:
    text = dump(minimal()) + "oops: [unclosed\n"
    found = problems(text)
    assert len(found) == 1
    assert found[0].line == len(text.splitlines()) + 1
    assert "YAML" in found[0].given


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_file_is_a_problem(text: str) -> None:
    found = problems(text)
    assert len(found) == 1 and "empty" in found[0].given


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    found = problems(text)
    assert len(found) == 1 and "a mapping" in found[0].expected


def test_duplicate_keys_are_reported_with_the_second_line() -> None:
    text = dump(minimal()).replace("  rate: 100/s\n", "  rate: 100/s\n  rate: 200/s\n")
    (p,) = problems(text)
    assert p.key == "workload.rate"
    assert text.splitlines()[line_of(p) - 1] == "  rate: 200/s"
    assert "once" in p.expected


def test_recursive_alias_is_a_problem_not_a_crash() -> None:
    found = problems(dump(minimal()) + "extra: &a [*a]\n")
    assert any("recursive" in p.given for p in found)


def test_non_text_keys_are_problems() -> None:
    text = dump(minimal()).replace("expect:\n", "expect:\n  1: 2\n")
    (p,) = problems(text)
    assert p.key == "expect.1"


def test_unknown_keys_list_the_allowed_keys_and_suggest_a_match() -> None:
    data = minimal()
    data["workload"]["durration"] = "5s"
    (p,) = problems(dump(data))
    assert p.key == "workload.durration"
    assert p.given == "'durration'"
    for allowed in ("rate", "concurrency", "duration", "commit_timeout", "connect_timeout"):
        assert allowed in p.expected
    assert "did you mean 'duration'?" in p.expected


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    data = minimal()
    data["zzzz"] = 1
    p = only(data)
    assert p.key == "zzzz" and "did you mean" not in p.expected


@pytest.mark.parametrize(
    ("section", "extra"),
    [("topology", "replics"), ("expect", "rpoo"), ("", "sead")],
)
def test_unknown_keys_in_every_section(section: str, extra: str) -> None:
    data = minimal()
    (data[section] if section else data)[extra] = 1
    p = only(data)
    assert p.key == (f"{section}.{extra}" if section else extra)
    assert "did you mean" in p.expected


def test_unknown_key_in_a_replica_and_a_step() -> None:
    data = minimal()
    data["topology"]["replicas"][0]["port"] = 5433
    data["schedule"][1]["outtage"] = True
    assert keys(data) == ["topology.replicas[0].port", "schedule[1].outtage"]


# -- top level -------------------------------------------------------------------------------


def test_name_defaults() -> None:
    text = dump(minimal())
    assert loads(text).name == "scenario"
    assert loads(text, "dir/my-scn.yaml").name == "my-scn"
    assert loads(text, "dir/other.yml").name == "other"
    assert loads(text, "dir/other.txt").name == "scenario"
    data = minimal()
    data["name"] = "explicit"
    assert loads(dump(data), "dir/my-scn.yaml").name == "explicit"


def test_load_uses_the_file_stem_and_path(tmp_path: Path) -> None:
    path = tmp_path / "from-file.yaml"
    path.write_text(dump(minimal()))
    sc = load(str(path))
    assert sc.name == "from-file"
    assert sc.path == path


def test_load_reports_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    data = minimal()
    data["seed"] = "x"
    path.write_text(dump(data))
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert info.value.problems[0].file == str(path)


def test_load_rejects_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(dump(minimal()).encode() + b"description: caf\xe9\n")
    with pytest.raises(ScenarioError):
        load(path)


def test_name_must_be_usable_as_a_directory() -> None:
    data = minimal()
    data["name"] = "../escape"
    assert only(data).key == "name"


def test_system_must_be_postgres() -> None:
    data = minimal()
    data["system"] = "mysql"
    p = only(data)
    assert p.key == "system" and p.given == "'mysql'" and "postgres" in p.expected


def test_seed_is_an_integer() -> None:
    data = minimal()
    data["seed"] = 42
    assert loads(dump(data)).seed == 42
    for bad in ("x", 1.5, True):
        data["seed"] = bad
        assert only(data).key == "seed"


def test_description_must_be_text() -> None:
    data = minimal()
    data["description"] = ["a", "b"]
    assert only(data).key == "description"


# -- topology --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [("on", "on"), ("off", "off"), ("yes", "on"), ('"on"', "on"), ("remote_write", "remote_write")],
)
def test_synchronous_commit_accepts_yaml_booleans(written: str, value: str) -> None:
    text = dump(minimal()).replace("synchronous_commit: 'on'", f"synchronous_commit: {written}")
    assert f"synchronous_commit: {written}" in text
    assert loads(text).topology.synchronous_commit == value


def test_synchronous_commit_rejects_other_values() -> None:
    data = minimal()
    data["topology"]["synchronous_commit"] = "always"
    p = only(data)
    assert p.key == "topology.synchronous_commit"
    assert p.expected == "one of off, local, remote_write, on, remote_apply"
    del data["topology"]["synchronous_commit"]
    assert only(data).given == "nothing"


def test_replicas_may_be_empty_but_are_required() -> None:
    data = minimal()
    data["topology"]["replicas"] = []
    data["schedule"] = [{"at": "1s", "crash": "primary", "outage": True}]
    assert loads(dump(data)).topology.replicas == ()
    del data["topology"]["replicas"]
    assert only(data).key == "topology.replicas"


@pytest.mark.parametrize("name", ["primary", "client", "Replica1", "1replica", "re-plica"])
def test_replica_names_are_checked(name: str) -> None:
    data = minimal()
    data["topology"]["replicas"].append({"name": name, "mode": "async"})
    assert only(data).key == "topology.replicas[1].name"


def test_replica_names_are_unique() -> None:
    data = minimal()
    data["topology"]["replicas"].append({"name": "replica1", "mode": "async"})
    p = only(data)
    assert p.key == "topology.replicas[1].name"
    assert "unique" in p.expected


def test_replica_mode_is_required_and_checked() -> None:
    data = minimal()
    data["topology"]["replicas"][0]["mode"] = "semi-sync"
    p = only(data)
    assert p.key == "topology.replicas[0].mode"
    assert p.expected == "one of async, sync, quorum"
    del data["topology"]["replicas"][0]["mode"]
    assert only(data).given == "nothing"


def test_sync_and_quorum_replicas_cannot_be_mixed() -> None:
    data = minimal()
    data["topology"]["replicas"] = [
        {"name": "a", "mode": "sync"},
        {"name": "b", "mode": "async"},
        {"name": "c", "mode": "quorum"},
    ]
    data["schedule"][0]["partition"] = "a->primary"
    p = only(data)
    assert p.key == "topology.replicas[2].mode"
    assert "mixed" in p.expected
    data["topology"]["replicas"][2]["mode"] = "sync"
    assert loads(dump(data)).topology.synchronous_standby_names == "FIRST 1 (a, c)"


def test_num_sync_cannot_exceed_the_sync_replicas() -> None:
    data = minimal()
    data["topology"]["replicas"] = [
        {"name": "a", "mode": "quorum"},
        {"name": "b", "mode": "quorum"},
    ]
    data["schedule"][0]["partition"] = "a->primary"
    data["topology"]["num_sync"] = 2
    assert loads(dump(data)).topology.synchronous_standby_names == "ANY 2 (a, b)"
    data["topology"]["num_sync"] = 3
    p = only(data)
    assert p.key == "topology.num_sync" and p.given == "3" and "at most 2" in p.expected


def test_num_sync_is_free_when_all_replicas_are_async() -> None:
    data = minimal()
    data["topology"]["num_sync"] = 3
    assert loads(dump(data)).topology.num_sync == 3


@pytest.mark.parametrize("bad", [0, -3, "two", True])
def test_num_sync_is_an_integer_at_least_one(bad: object) -> None:
    data = minimal()
    data["topology"]["num_sync"] = bad
    assert only(data).key == "topology.num_sync"


def test_settings_values_are_rendered_as_strings() -> None:
    text = dump(minimal()) + ""
    text = text.replace(
        "  replicas:",
        "  settings:\n    a: 10s\n    b: 3\n    c: 0.5\n    d: on\n    e: false\n  replicas:",
    )
    settings = loads(text).topology.settings
    assert settings == {"a": "10s", "b": "3", "c": "0.5", "d": "on", "e": "off"}


@pytest.mark.parametrize("bad", [[1, 2], {"x": 1}, None])
def test_settings_values_must_be_scalars(bad: object) -> None:
    data = minimal()
    data["topology"]["settings"] = {"work_mem": bad}
    assert only(data).key == "topology.settings.work_mem"


@pytest.mark.parametrize("managed", ["synchronous_commit", "synchronous_standby_names", "port"])
def test_settings_cannot_override_what_the_topology_manages(managed: str) -> None:
    data = minimal()
    data["topology"]["settings"] = {managed: "x"}
    assert only(data).key == f"topology.settings.{managed}"


def test_settings_must_be_a_mapping() -> None:
    data = minimal()
    data["topology"]["settings"] = ["fsync=off"]
    assert only(data).key == "topology.settings"


# -- workload --------------------------------------------------------------------------------


def test_workload_defaults() -> None:
    w = loads(dump(minimal())).workload
    assert (w.concurrency, w.commit_timeout, w.connect_timeout) == (1, None, 1.0)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("rate", "0/s"),
        ("rate", "100"),
        ("rate", 100),
        ("rate", "100/h"),
        ("duration", "0s"),
        ("duration", 10),
        ("duration", "-3s"),
        ("concurrency", 0),
        ("concurrency", "4"),
        ("commit_timeout", "0ms"),
        ("commit_timeout", "soon"),
        ("connect_timeout", "0s"),
    ],
)
def test_workload_values_are_checked(key: str, bad: object) -> None:
    data = minimal()
    data["workload"][key] = bad
    p = only(data)
    assert p.key == f"workload.{key}"


def test_given_shows_numbers_as_written() -> None:
    data = minimal()
    data["workload"]["concurrency"] = -3
    assert only(data).given == "-3"
    data = minimal()
    data["workload"]["duration"] = 10
    p = only(data)
    assert p.given == "10"
    assert p.expected == "a duration > 0 like '250ms', '5s' or '2m'"


# -- expect ----------------------------------------------------------------------------------


def test_expect_rpo_is_required() -> None:
    data = minimal()
    data["expect"] = {"max_lost": 0}
    p = only(data)
    assert (p.key, p.given) == ("expect.rpo", "nothing")


def test_expect_rpo_may_be_zero() -> None:
    data = minimal()
    data["expect"]["rpo"] = "0s"
    assert loads(dump(data)).expect.rpo == 0.0


@pytest.mark.parametrize(
    ("key", "bad"), [("max_lost", -1), ("min_lost", "1"), ("max_rto", 5), ("rpo", "-1s")]
)
def test_expect_values_are_checked(key: str, bad: object) -> None:
    data = minimal()
    data["expect"][key] = bad
    assert only(data).key == f"expect.{key}"


def test_expect_min_lost_cannot_exceed_max_lost() -> None:
    data = minimal()
    data["expect"].update(min_lost=3, max_lost=2)
    assert only(data).key == "expect.min_lost"
    data["expect"].update(min_lost=2)
    assert loads(dump(data)).expect.min_lost == 2


# -- schedule: steps -------------------------------------------------------------------------


def test_step_at_must_be_before_the_end_of_the_workload() -> None:
    data = minimal()
    data["schedule"][0]["at"] = "10s"  # == workload.duration
    p = only(data)
    assert p.key == "schedule[0].at" and "10s" in p.expected
    data["schedule"][0]["at"] = "9999ms"
    assert loads(dump(data)).schedule[-1].at == 9.999


def test_step_at_is_required_and_a_duration() -> None:
    data = minimal()
    del data["schedule"][0]["at"]
    assert only(data).key == "schedule[0].at"
    data["schedule"][0]["at"] = 2
    assert only(data).given == "2"


def test_a_fault_may_outlast_the_workload() -> None:
    data = minimal()
    data["schedule"][0]["for"] = "1m"
    assert loads(dump(data)).schedule[0].duration == 60.0


@pytest.mark.parametrize("bad", ["0s", "0ms", "-1s", 5])
def test_for_must_be_a_positive_duration(bad: object) -> None:
    data = minimal()
    data["schedule"][0]["for"] = bad
    assert only(data).key == "schedule[0].for"


@pytest.mark.parametrize(
    "step",
    [
        {"partition": "replica1->primary", "mode": "reset"},
        {"latency": "client->primary", "delay": "1s"},
        {"bandwidth": "client->replica1", "rate": "1MB/s"},
        {"crash": "replica1"},
    ],
)
def test_for_is_allowed_on_lasting_actions(step: dict[str, str]) -> None:
    data = minimal()
    data["schedule"].append({"at": "1s", **step, "for": "2s"})
    assert loads(dump(data)).schedule[0].duration == 2.0


@pytest.mark.parametrize("step", [{"restart": "replica1"}, {"promote": "replica1"}])
def test_for_is_not_allowed_on_instant_actions(step: dict[str, str]) -> None:
    data = minimal()
    data["schedule"].append({"at": "1s", **step, "for": "2s"})
    p = only(data)
    assert p.key == "schedule[2].for"


def test_a_step_needs_an_action() -> None:
    data = minimal()
    data["schedule"].append({"at": "1s"})
    p = only(data)
    assert p.key == "schedule[2]" and "partition" in p.expected


def test_a_step_takes_only_one_action() -> None:
    data = minimal()
    data["schedule"][1]["restart"] = "replica1"
    p = only(data)
    assert p.key == "schedule[1].restart"


def test_a_step_must_be_a_mapping() -> None:
    data = minimal()
    data["schedule"].append("crash primary")
    assert only(data).key == "schedule[2]"


def test_schedule_must_be_a_list() -> None:
    data = minimal()
    data["schedule"] = {"at": "1s", "crash": "primary", "outage": True}
    assert "schedule" in keys(data)


# -- schedule: outage ------------------------------------------------------------------------


def test_exactly_one_outage_none_is_a_problem_on_schedule() -> None:
    data = minimal()
    del data["schedule"][1]["outage"]
    p = only(data)
    assert p.key == "schedule"
    assert dump(data).splitlines()[line_of(p) - 1] == "schedule:"


def test_exactly_one_outage_each_extra_is_a_problem() -> None:
    data = minimal()
    data["schedule"][0]["outage"] = True
    data["schedule"].append({"at": "6s", "restart": "primary", "outage": True})
    assert keys(data) == ["schedule[1].outage", "schedule[2].outage"]


def test_outage_false_is_allowed() -> None:
    data = minimal()
    data["schedule"][0]["outage"] = False
    assert loads(dump(data)).schedule[0].outage is False


@pytest.mark.parametrize("bad", ["true", 1, "on"])
def test_outage_accepts_only_booleans(bad: object) -> None:
    data = minimal()
    data["schedule"][1]["outage"] = bad
    found = problems(dump(data))
    assert "schedule[1].outage" in [p.key for p in found]


def test_outage_accepts_yaml_11_booleans() -> None:
    text = dump(minimal()).replace("outage: true", "outage: yes")
    assert "outage: yes" in text
    assert loads(text).outage_step.action == "crash"


# -- schedule: targets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "valid"),
    [
        ({"partition": "replica9->primary", "mode": "reset"}, "replica1->primary"),
        ({"partition": "primary->replica1", "mode": "reset"}, "client->replica1"),
        ({"latency": "client->replica9", "delay": "1s"}, "client->primary"),
        ({"bandwidth": "replica1", "rate": "1KB/s"}, "replica1->primary"),
        ({"crash": "replica9"}, "primary, replica1"),
        ({"restart": "client"}, "primary, replica1"),
        ({"promote": "primary"}, "replica1"),
        ({"crash": "replica1->primary"}, "replica1"),
    ],
)
def test_action_targets_must_exist_and_say_which_do(step: dict[str, str], valid: str) -> None:
    data = minimal()
    data["schedule"].append({"at": "1s", **step})
    p = only(data)
    action = next(iter(step))
    assert p.key == f"schedule[2].{action}"
    assert valid in p.expected


def test_valid_targets_of_every_kind() -> None:
    data = minimal()
    data["schedule"] += [
        {"at": "1s", "partition": "client->replica1", "mode": "reset"},
        {"at": "1s", "latency": "client->primary", "delay": "1ms"},
        {"at": "1s", "restart": "replica1"},
        {"at": "6s", "promote": "replica1"},
    ]
    assert len(loads(dump(data)).schedule) == 6


def test_target_suggests_a_close_link() -> None:
    data = minimal()
    data["schedule"][0]["partition"] = "replica->primary"
    assert "did you mean 'replica1->primary'?" in only(data).expected


def test_promote_without_replicas_says_there_are_none() -> None:
    data = minimal()
    data["topology"]["replicas"] = []
    data["schedule"] = [{"at": "1s", "crash": "primary", "outage": True, "for": "1s"}]
    data["schedule"].append({"at": "2s", "promote": "replica1"})
    assert "no replicas" in only(data).expected


# -- schedule: action parameters -------------------------------------------------------------


def test_partition_needs_a_mode() -> None:
    data = minimal()
    del data["schedule"][0]["mode"]
    p = only(data)
    assert (p.key, p.given) == ("schedule[0].mode", "nothing")
    data["schedule"][0]["mode"] = "drop"
    p = only(data)
    assert p.expected == "one of blackhole, reset"


def test_partition_direction_defaults_to_both_and_is_checked() -> None:
    data = minimal()
    assert loads(dump(data)).schedule[0].params == {"mode": "blackhole", "direction": "both"}
    data["schedule"][0]["direction"] = "downstream"
    assert loads(dump(data)).schedule[0].params["direction"] == "downstream"
    data["schedule"][0]["direction"] = "sideways"
    p = only(data)
    assert p.key == "schedule[0].direction"
    assert p.expected == "one of both, upstream, downstream"


def test_latency_needs_a_delay_and_takes_an_optional_jitter() -> None:
    data = minimal()
    data["schedule"][0] = {"at": "1s", "latency": "replica1->primary", "delay": "250ms"}
    assert loads(dump(data)).schedule[0].params == {"delay": 0.25, "jitter": 0.0}
    data["schedule"][0]["jitter"] = "5ms"
    assert loads(dump(data)).schedule[0].params == {"delay": 0.25, "jitter": 0.005}
    data["schedule"][0]["jitter"] = "lots"
    assert only(data).key == "schedule[0].jitter"
    data["schedule"][0]["jitter"] = "0ms"
    del data["schedule"][0]["delay"]
    assert only(data).key == "schedule[0].delay"
    data["schedule"][0]["delay"] = 200
    assert only(data).key == "schedule[0].delay"


@pytest.mark.parametrize(
    ("rate", "kbps"), [("64KB/s", 64.0), ("64kB/s", 64.0), ("1.5MB/s", 1500.0), ("0.5KB/s", 0.5)]
)
def test_bandwidth_rate(rate: str, kbps: float) -> None:
    data = minimal()
    data["schedule"][0] = {"at": "1s", "bandwidth": "replica1->primary", "rate": rate}
    assert loads(dump(data)).schedule[0].params == {"rate_kbps": kbps}


@pytest.mark.parametrize("bad", ["0KB/s", "64", "64KB", "64 KB/s", "64kb/s", "-1KB/s", 64, "64/s"])
def test_bandwidth_rejects_bad_rates(bad: object) -> None:
    data = minimal()
    data["schedule"][0] = {"at": "1s", "bandwidth": "replica1->primary", "rate": bad}
    assert only(data).key == "schedule[0].rate"


def test_bandwidth_needs_a_rate() -> None:
    data = minimal()
    data["schedule"][0] = {"at": "1s", "bandwidth": "replica1->primary"}
    assert only(data).key == "schedule[0].rate"


@pytest.mark.parametrize("extra", [{"mode": "reset"}, {"delay": "1s"}, {"rate": "1KB/s"}])
def test_node_actions_take_no_extra_keys(extra: dict[str, str]) -> None:
    data = minimal()
    data["schedule"][1].update(extra)
    p = only(data)
    assert p.key == f"schedule[1].{next(iter(extra))}"
    assert "crash" in p.expected


def test_parameters_of_another_action_are_rejected() -> None:
    data = minimal()
    data["schedule"][0]["delay"] = "1s"
    assert only(data).key == "schedule[0].delay"


# -- durations and rates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("0s", 0.0),
        ("0ms", 0.0),
        ("0.5m", 30.0),
        ("8500ms", 8.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5",
        "1.5",
        "-3s",
        "5 s",
        " 5s",
        "5s ",
        "5 seconds",
        "5h",
        "s",
        ".5s",
        "5.s",
        "1e3s",
        "5S",
        "inf s",
        "nans",
        "5sec",
        "٣s",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("1000/s", 1000.0), ("60/m", 1.0), ("0.5/s", 0.5), ("30/m", 0.5), ("1/m", 1 / 60)],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second


@pytest.mark.parametrize(
    "text", ["", "100", "0/s", "0.0/m", "-5/s", "5/h", "5 /s", "5/sec", "/s", "5/S", "1e3/s"]
)
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


@given(st.integers(min_value=0, max_value=10**12))
def test_n_milliseconds_parse_to_n_thousandths(n: int) -> None:
    assert parse_duration(f"{n}ms") == n / 1000


@given(st.integers(min_value=0, max_value=10**12))
def test_n_seconds_and_minutes(n: int) -> None:
    assert parse_duration(f"{n}s") == float(n)
    assert parse_duration(f"{n}m") == float(n * 60)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999))
def test_decimal_seconds(whole: int, millis: int) -> None:
    assert parse_duration(f"{whole}.{millis:03d}s") == (whole * 1000 + millis) / 1000


@given(st.integers(min_value=1, max_value=10**9))
def test_rates_per_second_and_per_minute(n: int) -> None:
    assert parse_rate(f"{n}/s") == float(n)
    assert parse_rate(f"{n}/m") == n / 60


@given(st.text(max_size=12))
def test_parse_duration_either_rejects_or_is_non_negative(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0
    assert text[-1] in "sm" and text[0].isdigit()


@given(st.integers(min_value=1, max_value=10**6))
def test_a_bare_number_is_never_a_duration(n: int) -> None:
    with pytest.raises(ValueError):
        parse_duration(str(n))


# -- to_dict / from_dict ---------------------------------------------------------------------


def test_round_trip_of_the_full_example_through_json(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(FULL)
    sc = load(path)
    data = to_dict(sc)
    stored = json.loads(json.dumps(data))
    assert stored == data  # plain JSON types only
    assert from_dict(stored) == sc
    assert from_dict(data) == sc
    assert data["path"] == str(path)
    topo = data["topology"]
    assert isinstance(topo, dict)
    assert topo["synchronous_standby_names"] == "FIRST 2 (replica1, replica2)"
    workload = data["workload"]
    assert isinstance(workload, dict)
    assert workload["duration"] == 12.0 and isinstance(workload["duration"], float)


def test_from_dict_ignores_synchronous_standby_names() -> None:
    sc = loads(FULL)
    data = copy.deepcopy(to_dict(sc))
    topo = data["topology"]
    assert isinstance(topo, dict)
    topo["synchronous_standby_names"] = "nonsense"
    assert from_dict(data) == sc
    del topo["synchronous_standby_names"]
    assert from_dict(data) == sc


def test_round_trip_without_a_path() -> None:
    sc = loads(dump(minimal()))
    data = to_dict(sc)
    assert data["path"] is None
    assert from_dict(json.loads(json.dumps(data))) == sc


def test_from_dict_rejects_malformed_data() -> None:
    data = to_dict(loads(dump(minimal())))
    data["workload"] = "fast"
    with pytest.raises(ValueError):
        from_dict(data)


_seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("primary", "client")
)


_ACTIONS: list[Action] = ["partition", "latency", "bandwidth", "crash", "restart", "promote"]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    names = draw(st.lists(_names, max_size=3, unique=True))
    mode = draw(st.sampled_from(["sync", "quorum"]))
    replicas = tuple(Replica(n, draw(st.sampled_from(["async", mode]))) for n in names)
    topology = Topology(
        synchronous_commit=draw(
            st.sampled_from(["off", "local", "remote_write", "on", "remote_apply"])
        ),
        replicas=replicas,
        num_sync=draw(st.integers(1, 3)),
        settings=draw(st.dictionaries(_names, st.text(max_size=5), max_size=2)),
    )
    steps = []
    for i in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(_ACTIONS))
        params: dict[str, str | float] = {}
        if action == "partition":
            params = {"mode": "reset", "direction": draw(st.sampled_from(["both", "upstream"]))}
        elif action == "latency":
            params = {"delay": draw(_seconds), "jitter": draw(_seconds)}
        elif action == "bandwidth":
            params = {"rate_kbps": draw(st.floats(0.001, 1e6))}
        steps.append(
            Step(
                index=i,
                at=draw(_seconds),
                action=action,
                target=draw(st.sampled_from(topology.links + topology.nodes)),
                duration=draw(st.none() | _seconds),
                outage=i == 0,
                params=params,
                line=draw(st.none() | st.integers(1, 1000)),
            )
        )
    return Scenario(
        name=draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)),
        system="postgres",
        topology=topology,
        workload=Workload(
            rate=draw(st.floats(0.001, 1e6)),
            duration=draw(_seconds),
            concurrency=draw(st.integers(1, 64)),
            commit_timeout=draw(st.none() | _seconds),
            connect_timeout=draw(_seconds),
        ),
        schedule=tuple(steps),
        expect=Expect(
            rpo=draw(_seconds),
            max_lost=draw(st.none() | st.integers(0, 10**6)),
            min_lost=draw(st.none() | st.integers(0, 10**6)),
            max_rto=draw(st.none() | _seconds),
        ),
        seed=draw(st.integers(-(2**63), 2**63)),
        description=draw(st.text(max_size=20)),
        path=draw(st.none() | st.just(Path("scenarios/x.yaml"))),
    )


@given(scenarios())
def test_to_dict_from_dict_round_trip(sc: Scenario) -> None:
    data = to_dict(sc)
    assert from_dict(json.loads(json.dumps(data))) == sc


def test_crash_links_defaults_to_cut_and_accepts_keep() -> None:
    base = {
        "system": "postgres",
        "topology": {"synchronous_commit": "on", "replicas": [{"name": "r1", "mode": "async"}]},
        "workload": {"rate": "10/s", "duration": "5s"},
        "expect": {"rpo": "1s"},
    }
    cut = loads(
        yaml.safe_dump({**base, "schedule": [{"at": "1s", "crash": "primary", "outage": True}]})
    )
    assert cut.schedule[0].params == {"links": "cut"}
    keep = loads(
        yaml.safe_dump(
            {
                **base,
                "schedule": [{"at": "1s", "crash": "primary", "links": "keep", "outage": True}],
            }
        )
    )
    assert keep.schedule[0].params == {"links": "keep"}
    with pytest.raises(ScenarioError, match="links"):
        loads(
            yaml.safe_dump(
                {
                    **base,
                    "schedule": [
                        {"at": "1s", "crash": "primary", "links": "sever", "outage": True}
                    ],
                }
            )
        )
