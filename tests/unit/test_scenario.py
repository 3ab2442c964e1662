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

from rpochaos import scenario as scenario_module
from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario import (
    LINK_GROUPS,
    MAX_BROKERS,
    Action,
    Between,
    Choose,
    Expect,
    KafkaTopology,
    ParamValue,
    Replica,
    Scenario,
    Step,
    StepSpec,
    Topology,
    Workload,
    from_dict,
    kafka_link_names,
    load,
    loads,
    parse_duration,
    parse_rate,
    parse_size,
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
            Step(
                4,
                8.5,
                "promote",
                "replica1",
                params={"policy": "named", "candidates": ["replica1"]},
                line=43,
            ),
        ),
        expect=Expect(rpo=1.0, max_lost=10, min_lost=0, max_rto=5.0),
        seed=7,
        description="every feature at once",
        path=path,
        specs=sc.specs,  # the steps as written: checked below
    )
    assert [s.source_index for s in sc.specs] == list(range(7))
    assert [s.line for s in sc.specs] == [28, 32, 36, 40, 43, 45, 47]
    assert sc.specs[1] == StepSpec(
        source_index=1,
        action="partition",
        target="replica1->primary",
        at=3.0,
        duration=5.0,
        params={"mode": "blackhole", "direction": "both"},
        line=32,
    )
    assert sc.time_scale == 1.0
    assert all(s.name is None and s.source_index == s.index for s in sc.schedule)
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


_ACTIONS: list[Action] = [
    "partition",
    "latency",
    "bandwidth",
    "crash",
    "restart",
    "promote",
    "pause",
]
_times = _seconds | st.builds(lambda a, b: Between(min(a, b), max(a, b)), _seconds, _seconds)


_params = st.dictionaries(
    _names,
    st.text(max_size=5) | st.integers(0, 2**40) | st.floats(0, 1e6) | st.lists(_names, max_size=3),
    max_size=3,
)


@st.composite
def step_specs(draw: st.DrawFn, i: int, targets: tuple[str, ...]) -> StepSpec:
    return StepSpec(
        source_index=i,
        action=draw(st.sampled_from(_ACTIONS)),
        target=draw(
            st.sampled_from(targets)
            | st.lists(st.sampled_from(targets), min_size=1, max_size=3).map(
                lambda o: Choose(tuple(o))
            )
        ),
        at=draw(_times),
        duration=draw(st.none() | _times),
        after=draw(st.none() | _names),
        after_end=draw(st.booleans()),
        every=draw(st.none() | _seconds),
        repeat=draw(st.integers(1, 5)),
        outage=draw(st.booleans()),
        params=draw(_params),
        name=draw(st.none() | _names),
        line=draw(st.none() | st.integers(1, 1000)),
    )


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
        params: dict[str, ParamValue] = {}
        if action == "partition":
            params = {"mode": "reset", "direction": draw(st.sampled_from(["both", "upstream"]))}
        elif action == "latency":
            params = {"delay": draw(_seconds), "jitter": draw(_seconds)}
        elif action == "bandwidth":
            params = {"rate_kbps": draw(st.floats(0.001, 1e6))}
        elif action == "promote":
            params = {"policy": "most_up_to_date", "candidates": list(names)}
            if draw(st.booleans()):
                params["max_lag_bytes"] = draw(st.integers(0, 2**40))
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
                name=draw(st.none() | _names),
                source_index=draw(st.integers(-1, 10)),
            )
        )
    targets = topology.links + topology.nodes
    specs = [draw(step_specs(i, targets)) for i in range(draw(st.integers(0, 3)))]
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
        time_scale=draw(st.floats(1, 1e6)),
        specs=tuple(specs),
    )


@given(scenarios())
def test_to_dict_from_dict_round_trip(sc: Scenario) -> None:
    data = to_dict(sc)
    assert from_dict(json.loads(json.dumps(data))) == sc


def test_round_trip_of_the_schedule_language_through_json() -> None:
    sc = loads(SCALED)
    data = json.loads(json.dumps(to_dict(sc)))
    back = from_dict(data)
    assert back == sc
    assert back.time_scale == 60.0 and back.specs == sc.specs
    assert back.with_seed(5) == sc.with_seed(5)
    assert data["declared"] == {
        "workload": {
            "rate": pytest.approx(10.0),
            "duration": pytest.approx(600.0),
            "concurrency": 1,
            "commit_timeout": 1.0,
            "connect_timeout": 2.0,
        },
        "expect": {"rpo": 60.0, "max_lost": 5, "min_lost": None, "max_rto": 120.0},
    }
    promote = next(s for s in data["schedule"] if s["action"] == "promote")
    assert promote["params"]["max_lag_bytes"] == 16 * 2**20
    assert promote["params"]["candidates"] == ["replica1"]
    stall = next(s for s in data["specs"] if s["name"] == "stall")
    assert stall["duration"] == {"between": [300.0, 360.0]}


def test_from_dict_reads_a_run_record_written_before_the_schedule_language() -> None:
    sc = loads(FULL)
    data = to_dict(sc)
    for key in ("time_scale", "specs", "declared"):
        del data[key]
    schedule = data["schedule"]
    assert isinstance(schedule, list)
    for step in schedule:
        del step["name"], step["source_index"]
    old = from_dict(json.loads(json.dumps(data)))
    assert old.time_scale == 1.0 and old.specs == ()
    assert old.schedule == sc.schedule
    assert old.with_seed(99).schedule == sc.schedule  # nothing random to draw again
    assert old == Scenario(**{**sc.__dict__, "specs": ()})


def test_from_dict_rejects_malformed_new_keys() -> None:
    for key, value in [("time_scale", "60"), ("specs", [{"action": "crash"}]), ("specs", 3)]:
        data = to_dict(loads(SCALED))
        data[key] = value
        with pytest.raises(ValueError):
            from_dict(data)


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


# -- the schedule language: shared text ------------------------------------------------------

HEAD = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
    - name: replica2
      mode: async
workload:
  rate: 100/s
  duration: 10s
expect:
  rpo: 1s
schedule:
"""
OUTAGE = """\
  - at: 5s
    crash: primary
    outage: true
"""


def steps(text: str, outage: bool = True) -> str:
    """HEAD, then ``text`` (steps indented by two spaces), then the outage step."""
    return HEAD + text + (OUTAGE if outage else "")


def line(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line of ``text`` containing ``needle``."""
    found = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    assert len(found) >= nth, (needle, found)
    return found[nth - 1]


def one(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# -- step names ------------------------------------------------------------------------------


def test_step_names_are_kept_and_optional() -> None:
    sc = loads(steps("  - name: cut-1_a\n    at: 1s\n    restart: replica1\n"))
    assert [s.name for s in sc.schedule] == ["cut-1_a", None]
    assert [s.source_index for s in sc.schedule] == [0, 1]


@pytest.mark.parametrize("bad", ["Cut", "1cut", "cut link", "cut#1", "cut.end", "", 5])
def test_step_names_follow_the_pattern(bad: object) -> None:
    text = steps(f"  - name: {json.dumps(bad)}\n    at: 1s\n    restart: replica1\n")
    p = one(text)
    assert p.key == "schedule[0].name"
    assert p.line == line(text, "- name:", 3)  # after replica1's and replica2's
    assert "[a-z][a-z0-9_-]*" in p.expected


def test_step_names_are_unique() -> None:
    text = steps(
        "  - name: x\n    at: 1s\n    restart: replica1\n"
        "  - name: x\n    at: 2s\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].name", line(text, "name: x", 2))
    assert "schedule[0] is already 'x'" in p.expected


# -- after -----------------------------------------------------------------------------------


def test_after_is_relative_to_the_named_steps_start_or_end() -> None:
    text = steps(
        "  - after: cut\n    at: 500ms\n    restart: replica1\n"  # forward reference
        "  - name: cut\n    at: 2s\n    partition: replica1->primary\n    mode: blackhole\n"
        "    for: 3s\n"
        "  - after: cut.end\n    restart: replica2\n"  # at defaults to 0s
        "  - after: cut.end\n    at: 1s\n    promote: replica1\n"
    )
    sc = loads(text)
    by_source = {s.source_index: s for s in sc.schedule}
    assert by_source[0].at == 2.5
    assert by_source[1].at == 2.0
    assert by_source[2].at == 5.0
    assert by_source[3].at == 6.0
    assert [s.source_index for s in sc.schedule] == [1, 0, 2, 4, 3]  # 2 and 4 tie at 5s


def test_after_chains_add_up() -> None:
    text = steps(
        "  - name: a\n    at: 1s\n    crash: replica1\n    for: 1s\n"
        "  - name: b\n    after: a.end\n    at: 1s\n    latency: client->primary\n"
        "    delay: 1ms\n    for: 2s\n"
        "  - after: b.end\n    at: 250ms\n    restart: replica1\n"
    )
    ats = {s.source_index: s.at for s in loads(text).schedule}
    assert ats == {0: 1.0, 1: 3.0, 2: 5.25, 3: 5.0}


def test_at_is_required_without_after() -> None:
    text = steps("  - restart: replica1\n")
    p = one(text)
    assert (p.key, p.given, p.line) == ("schedule[0].at", "nothing", line(text, "restart:"))


def test_after_an_unknown_step_is_a_problem_with_a_suggestion() -> None:
    text = steps(
        "  - name: cut\n    at: 1s\n    restart: replica1\n  - after: cutt\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].after", line(text, "after: cutt"))
    assert p.given == "'cutt'"
    assert "these exist: cut" in p.expected and "did you mean 'cut'?" in p.expected


def test_after_without_any_named_step() -> None:
    p = one(steps("  - after: x\n    restart: replica2\n"))
    assert "no step has one" in p.expected


@pytest.mark.parametrize("bad", ["cut.start", "cut.end.end", "Cut", "cut end", 3])
def test_after_syntax(bad: object) -> None:
    text = steps(
        "  - name: cut\n    at: 1s\n    restart: replica1\n"
        f"  - after: {json.dumps(bad)}\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].after", line(text, "after:"))
    assert "NAME.end" in p.expected


def test_after_cycles_are_problems_on_every_step_of_the_cycle() -> None:
    text = steps(
        "  - name: a\n    after: c\n    restart: replica1\n"
        "  - name: b\n    after: a\n    crash: replica1\n    for: 1s\n"
        "  - name: c\n    after: b.end\n    restart: replica1\n"
        "  - after: c\n    restart: replica2\n"  # leads into the cycle: not reported again
        "  - name: me\n    after: me\n    restart: replica2\n"
    )
    found = problems(text)
    assert [(p.key, p.line) for p in found] == [
        ("schedule[0].after", line(text, "after: c")),
        ("schedule[1].after", line(text, "after: a")),
        ("schedule[2].after", line(text, "after: b.end")),
        ("schedule[4].after", line(text, "after: me")),
    ]
    assert all("cycle" in p.expected for p in found)
    assert "cycle: a -> c -> b -> a" in found[0].expected  # a is after c, c after b, ...
    assert "cycle: me -> me" in found[3].expected


def test_after_the_end_of_a_step_without_for() -> None:
    text = steps(
        "  - name: cut\n    at: 1s\n    partition: replica1->primary\n    mode: reset\n"
        "  - after: cut.end\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].after", line(text, "after: cut.end"))
    assert "schedule[0] has no 'for'" in p.expected
    # its start is fine
    assert loads(text.replace("after: cut.end", "after: cut")).schedule[1].at == 1.0


def test_after_a_repeated_step_is_a_problem() -> None:
    text = steps(
        "  - name: flap\n    at: 1s\n    restart: replica1\n    every: 1s\n    repeat: 2\n"
        "  - after: flap\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].after", line(text, "after: flap"))
    assert "repeats 2 times" in p.expected


def test_a_step_after_a_broken_step_adds_no_problem_of_its_own() -> None:
    text = steps(
        "  - name: cut\n    at: 1s\n    restart: replica9\n  - after: cut\n    restart: replica2\n"
    )
    assert one(text).key == "schedule[0].restart"


def test_after_chains_must_start_before_the_end_of_the_workload() -> None:
    text = steps(
        "  - name: cut\n    at: 6s\n    crash: replica1\n    for: 3s\n"
        "  - after: cut.end\n    restart: replica2\n"  # 9s: fine
        "  - after: cut.end\n    at: 1s\n    restart: replica2\n"  # 10s: too late
        "  - after: cut.end\n    at: {between: [500ms, 1500ms]}\n    restart: replica2\n"
    )
    found = problems(text)
    assert [(p.key, p.line) for p in found] == [
        ("schedule[2].at", line(text, "at: 1s", 1)),
        ("schedule[3].at", line(text, "between: [500ms")),
    ]
    assert "workload.duration is 10s" in found[0].expected
    assert "as late as 10s" in found[0].expected
    assert "as late as 10.5s" in found[1].expected
    # without 'at', the problem is on 'after'
    text = steps("  - name: cut\n    at: 9s\n    crash: replica1\n    for: 1s\n") + (
        "  - after: cut.end\n    restart: replica2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[2].after", line(text, "after: cut.end"))


# -- every / repeat --------------------------------------------------------------------------


def test_repeat_expands_into_named_instances_with_distinct_indices() -> None:
    text = steps(
        "  - name: flap\n    at: 1s\n    partition: replica1->primary\n    mode: reset\n"
        "    for: 500ms\n    every: 2s\n    repeat: 3\n"
        "  - at: 1500ms\n    restart: replica2\n    every: 1s\n    repeat: 2\n"
    )
    sc = loads(text)
    got = [(s.at, s.name, s.index, s.source_index, s.duration) for s in sc.schedule]
    assert got == [
        (1.0, "flap#1", 0, 0, 0.5),
        (1.5, "step1#1", 3, 1, None),
        (2.5, "step1#2", 4, 1, None),
        (3.0, "flap#2", 1, 0, 0.5),
        (5.0, "flap#3", 2, 0, 0.5),
        (5.0, None, 5, 2, None),
    ]
    assert len({s.index for s in sc.schedule}) == len(sc.schedule)
    assert all(s.line == line(text, "name: flap") for s in sc.schedule if s.source_index == 0)
    assert sc.outage_step.index == 5


def test_repeat_one_means_once_with_its_plain_name() -> None:
    sc = loads(steps("  - name: once\n    at: 1s\n    restart: replica1\n    repeat: 1\n"))
    assert [s.name for s in sc.schedule] == ["once", None]


def test_every_needs_repeat() -> None:
    text = steps("  - at: 1s\n    restart: replica1\n    every: 2s\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].every", line(text, "every:"))
    assert "repeat" in p.expected


def test_repeat_above_one_needs_every() -> None:
    text = steps("  - at: 1s\n    restart: replica1\n    repeat: 3\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].repeat", line(text, "repeat:"))
    assert "every" in p.expected


def test_every_with_repeat_one_is_a_problem() -> None:
    text = steps("  - at: 1s\n    restart: replica1\n    every: 2s\n    repeat: 1\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].repeat", line(text, "repeat:"))
    assert "repeat >= 2" in p.expected


@pytest.mark.parametrize(
    ("key", "bad"),
    [("repeat", 0), ("repeat", '"3"'), ("repeat", 10_001), ("every", "0s"), ("every", 1)],
)
def test_every_and_repeat_values(key: str, bad: object) -> None:
    values = {"every": "1s", "repeat": "2", key: bad}
    text = steps(
        f"  - at: 1s\n    restart: replica1\n    every: {values['every']}\n"
        f"    repeat: {values['repeat']}\n"
    )
    p = one(text)
    assert (p.key, p.line) == (f"schedule[0].{key}", line(text, f"{key}:"))


def test_the_outage_step_may_not_repeat() -> None:
    text = HEAD + "  - at: 1s\n    crash: primary\n    for: 1s\n    outage: true\n"
    text += "    every: 2s\n    repeat: 2\n"
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].repeat", line(text, "repeat:"))
    assert "outage" in p.expected


def test_a_repeated_fault_must_heal_before_it_recurs() -> None:
    text = steps(
        "  - at: 1s\n    partition: replica1->primary\n    mode: reset\n"
        "    for: 3s\n    every: 2s\n    repeat: 2\n"
    )
    p = one(text)
    assert (p.key, p.line, p.given) == ("schedule[0].for", line(text, "for: 3s"), "'3s'")
    assert "<= every (2s)" in p.expected and "heal" in p.expected
    assert loads(text.replace("for: 3s", "for: 2s")).schedule[1].at == 3.0  # for == every: ok


def test_a_repeated_random_fault_must_heal_before_it_recurs_at_its_longest() -> None:
    text = steps(
        "  - at: 1s\n    latency: replica1->primary\n    delay: 1ms\n"
        "    for: {between: [1s, 2500ms]}\n    every: 2s\n    repeat: 2\n"
    )
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].for", line(text, "for:"))
    assert p.given == "between 1s and 2.5s"


def test_a_repeated_lasting_fault_needs_a_for() -> None:
    text = steps("  - at: 1s\n    pause: replica1\n    every: 2s\n    repeat: 2\n")
    p = one(text)
    assert (p.key, p.given, p.line) == ("schedule[0].for", "nothing", line(text, "at: 1s"))


def test_every_repetition_must_start_before_the_end_of_the_workload() -> None:
    text = steps("  - at: 6s\n    restart: replica1\n    every: 2s\n    repeat: 3\n")
    p = one(text)
    assert (p.key, p.line, p.given) == ("schedule[0].repeat", line(text, "repeat:"), "3")
    assert "at most 2" in p.expected and "10s" in p.expected
    assert len(loads(text.replace("repeat: 3", "repeat: 2")).schedule) == 3


# -- random choices --------------------------------------------------------------------------


def test_between_and_choose_resolve_within_their_ranges() -> None:
    text = steps(
        "  - at: {between: [1s, 2s]}\n    partition: {choose: [replica1->primary, "
        "replica2->primary]}\n    mode: reset\n    for: {between: [100ms, 200ms]}\n"
    )
    sc = loads(text)
    s = sc.schedule[0]
    assert 1.0 <= s.at <= 2.0
    assert s.duration is not None and 0.1 <= s.duration <= 0.2
    assert s.target in ("replica1->primary", "replica2->primary")
    spec = sc.specs[0]
    assert spec.at == Between(1.0, 2.0) and spec.duration == Between(0.1, 0.2)
    assert spec.target == Choose(("replica1->primary", "replica2->primary"))


@pytest.mark.parametrize(
    ("value", "given"),
    [
        ("{between: [4s, 2s]}", "[4s, 2s]"),
        ("{between: [2s]}", "a list of 1"),
        ("{between: [1s, 2s, 3s]}", "a list of 3"),
        ("{between: 2s}", "'2s'"),
    ],
)
def test_between_needs_two_ordered_durations(value: str, given: str) -> None:
    text = steps(f"  - at: {value}\n    restart: replica1\n")
    p = one(text)
    assert (p.key, p.line, p.given) == ("schedule[0].at.between", line(text, "between"), given)
    assert "[LOW, HIGH]" in p.expected


def test_between_checks_each_bound() -> None:
    text = steps("  - at: 1s\n    crash: replica1\n    for: {between: [0s, 2 s]}\n")
    assert [(p.key, p.line) for p in problems(text)] == [
        ("schedule[0].for.between[0]", line(text, "between")),
        ("schedule[0].for.between[1]", line(text, "between")),
    ]


def test_a_random_time_takes_only_between() -> None:
    text = steps("  - at: {from: 1s}\n    restart: replica1\n")
    assert [p.key for p in problems(text)] == ["schedule[0].at.from", "schedule[0].at.between"]


def test_a_bare_number_time_suggests_between() -> None:
    text = steps("  - at: [1s, 2s]\n    restart: replica1\n")
    p = one(text)
    assert p.key == "schedule[0].at" and "between" in p.expected


def test_a_random_at_must_end_before_the_workload_whatever_the_seed() -> None:
    text = steps("  - at: {between: [1s, 10s]}\n    restart: replica1\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].at", line(text, "between"))
    assert "as late as 10s" in p.expected


def test_choose_checks_every_choice_like_a_plain_target() -> None:
    text = steps("  - at: 1s\n    crash: {choose: [replica1, replica9, primary]}\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].crash.choose[1]", line(text, "choose"))
    assert p.given == "'replica9'" and "primary, replica1, replica2" in p.expected


@pytest.mark.parametrize("value", ["{choose: []}", "{choose: replica1}", "{pick: [replica1]}"])
def test_choose_needs_a_non_empty_list(value: str) -> None:
    text = steps(f"  - at: 1s\n    restart: {value}\n")
    assert any(p.key.startswith("schedule[0].restart.") for p in problems(text))


def test_choose_works_for_every_action() -> None:
    text = steps(
        "  - at: 1s\n    promote: {choose: [replica1, replica2]}\n"
        "  - at: 1s\n    pause: {choose: [primary, replica2]}\n"
        "  - at: 1s\n    latency: {choose: [client->primary]}\n    delay: 1ms\n"
    )
    sc = loads(text)
    promote = next(s for s in sc.schedule if s.action == "promote")
    assert promote.params == {"policy": "named", "candidates": [promote.target]}
    assert next(s for s in sc.schedule if s.action == "latency").target == "client->primary"


def test_most_up_to_date_cannot_be_chosen_at_random() -> None:
    text = steps("  - at: 1s\n    promote: {choose: [replica1, most_up_to_date]}\n")
    assert one(text).key == "schedule[0].promote.choose[1]"


def test_a_file_is_valid_or_not_whatever_its_seed() -> None:
    text = steps("  - at: {between: [1s, 9s]}\n    restart: {choose: [replica1, replica2]}\n")
    for seed in range(20):
        assert loads(f"seed: {seed}\n" + text).seed == seed


# -- time_scale ------------------------------------------------------------------------------


SCALED = """\
system: postgres
time_scale: 60
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
  settings:
    wal_sender_timeout: 10s
workload:
  rate: 10/s
  duration: 10m
  commit_timeout: 1s
  connect_timeout: 2s
schedule:
  - name: stall
    at: 1m
    latency: replica1->primary
    delay: 300ms
    jitter: 30ms
    for: {between: [5m, 6m]}
  - at: 30s
    bandwidth: client->primary
    rate: 64KB/s
    for: 1m
    every: 2m
    repeat: 2
  - after: stall.end
    crash: primary
    outage: true
  - after: stall.end
    at: 30s
    promote: most_up_to_date
    max_lag: 16MB
expect:
  rpo: 1m
  max_rto: 2m
  max_lost: 5
"""


def test_time_scale_compresses_the_timeline_and_only_the_timeline() -> None:
    sc = loads(SCALED)
    assert sc.time_scale == 60.0
    assert sc.workload == Workload(
        rate=600.0, duration=10.0, commit_timeout=1.0, connect_timeout=2.0
    )
    assert sc.expect == Expect(rpo=1.0, max_rto=2.0, max_lost=5)
    assert sc.topology.settings == {"wal_sender_timeout": "10s"}
    by_name = {s.name: s for s in sc.schedule}
    stall = by_name["stall"]
    assert stall.at == 1.0
    assert stall.duration is not None and 5.0 <= stall.duration <= 6.0
    assert stall.params == {"delay": 0.3, "jitter": 0.03}  # link properties: not scaled
    assert (by_name["step1#1"].at, by_name["step1#2"].at) == (0.5, 2.5)
    assert by_name["step1#1"].duration == 1.0
    assert by_name["step1#1"].params == {"rate_kbps": 64.0}
    crash = sc.outage_step
    assert crash.at == pytest.approx(stall.at + stall.duration)
    promote = next(s for s in sc.schedule if s.action == "promote")
    assert promote.at == pytest.approx(crash.at + 0.5)
    assert promote.params["max_lag_bytes"] == 16 * 1024 * 1024  # not scaled


def test_declared_keeps_the_files_own_values() -> None:
    d = loads(SCALED).declared
    assert d.time_scale == 60.0
    assert d.workload.rate == pytest.approx(10.0) and d.workload.duration == pytest.approx(600.0)
    assert d.workload.commit_timeout == 1.0
    assert d.expect.rpo == pytest.approx(60.0) and d.expect.max_rto == pytest.approx(120.0)
    plain = loads(dump(minimal()))
    assert plain.time_scale == 1.0
    assert plain.declared.workload == plain.workload and plain.declared.expect == plain.expect
    assert loads(SCALED).real(2.5) == 150.0


def test_time_scale_checks_start_times_on_the_scaled_values() -> None:
    text = SCALED.replace("  - at: 30s\n    bandwidth", "  - at: 10m\n    bandwidth")
    p = one(text)
    assert (p.key, p.line) == ("schedule[1].at", line(text, "at: 10m"))
    assert "workload.duration is 600s" in p.expected


@pytest.mark.parametrize("bad", [0.5, 0, -2, '"60"', "true", "60x", ".inf", ".nan"])
def test_time_scale_is_a_number_at_least_one(bad: object) -> None:
    text = SCALED.replace("time_scale: 60", f"time_scale: {bad}")
    p = one(text)
    assert (p.key, p.line) == ("time_scale", 2)
    assert ">= 1" in p.expected


def test_time_scale_may_be_fractional() -> None:
    sc = loads(SCALED.replace("time_scale: 60", "time_scale: 1.5"))
    assert sc.workload.duration == 400.0 and sc.workload.rate == 15.0


# -- promote policy --------------------------------------------------------------------------


def test_promote_a_named_replica() -> None:
    sc = loads(steps("  - at: 6s\n    promote: replica2\n    max_lag: 512kB\n"))
    s = next(s for s in sc.schedule if s.action == "promote")
    assert s.target == "replica2"
    assert s.params == {"policy": "named", "candidates": ["replica2"], "max_lag_bytes": 524288}


def test_promote_the_most_up_to_date_of_every_replica_by_default() -> None:
    sc = loads(steps("  - at: 6s\n    promote: most_up_to_date\n"))
    s = next(s for s in sc.schedule if s.action == "promote")
    assert s.target == "most_up_to_date"
    assert s.params == {"policy": "most_up_to_date", "candidates": ["replica1", "replica2"]}


def test_promote_the_most_up_to_date_of_some_candidates() -> None:
    text = steps(
        "  - at: 6s\n    promote: most_up_to_date\n    candidates: [replica2]\n    max_lag: 0B\n"
    )
    s = next(s for s in loads(text).schedule if s.action == "promote")
    assert s.params == {
        "policy": "most_up_to_date",
        "candidates": ["replica2"],
        "max_lag_bytes": 0,
    }


def test_candidates_only_go_with_most_up_to_date() -> None:
    text = steps("  - at: 6s\n    promote: replica1\n    candidates: [replica1]\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].candidates", line(text, "candidates"))
    assert "most_up_to_date" in p.expected


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("[replica1, replica1]", "schedule[0].candidates[1]"),
        ("[replica1, replica3]", "schedule[0].candidates[1]"),
        ("[primary]", "schedule[0].candidates[0]"),
        ("[]", "schedule[0].candidates"),
        ("replica1", "schedule[0].candidates"),
    ],
)
def test_candidates_are_distinct_replicas(value: str, key: str) -> None:
    text = steps(f"  - at: 6s\n    promote: most_up_to_date\n    candidates: {value}\n")
    p = one(text)
    assert (p.key, p.line) == (key, line(text, "candidates"))


@pytest.mark.parametrize("bad", ["16 MB", "16", "16mb", "-1MB", "0.5B", "1TB", 16])
def test_max_lag_is_a_size(bad: object) -> None:
    text = steps(f"  - at: 6s\n    promote: most_up_to_date\n    max_lag: {bad}\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].max_lag", line(text, "max_lag"))
    assert "16MB" in p.expected


def test_most_up_to_date_needs_replicas() -> None:
    data = minimal()
    data["topology"]["replicas"] = []
    data["schedule"] = [
        {"at": "1s", "crash": "primary", "outage": True, "for": "1s"},
        {"at": "2s", "promote": "most_up_to_date"},
    ]
    assert "no replicas" in only(data).expected


def test_most_up_to_date_is_a_reserved_replica_name() -> None:
    data = minimal()
    data["topology"]["replicas"].append({"name": "most_up_to_date", "mode": "async"})
    p = only(data)
    assert p.key == "topology.replicas[1].name" and "reserved" in p.expected


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0B", 0),
        ("100B", 100),
        ("1kB", 1024),
        ("1KB", 1024),
        ("16MB", 16 * 2**20),
        ("1.5GB", 3 * 2**29),
        ("0.5kB", 512),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "16", "16 MB", "16mb", "1TB", "0.3B", "-1B", "1e3B"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


# -- pause -----------------------------------------------------------------------------------


def test_pause_a_node_or_one_of_its_processes() -> None:
    text = steps(
        "  - at: 1s\n    pause: replica1\n    for: 2s\n"
        "  - at: 2s\n    pause: primary\n    process: walsender\n"
        "  - at: 3s\n    pause: replica2\n    process: background_writer\n    for: 1s\n"
    )
    got = [(s.target, s.params, s.duration) for s in loads(text).schedule if s.action == "pause"]
    assert got == [
        ("replica1", {}, 2.0),
        ("primary", {"process": "walsender"}, None),
        ("replica2", {"process": "background_writer"}, 1.0),
    ]


def test_pause_process_is_checked() -> None:
    text = steps("  - at: 1s\n    pause: replica1\n    process: postmaster\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].process", line(text, "process"))
    assert p.expected.startswith("one of walreceiver, walsender, startup, walwriter")


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ("pause: replica1->primary", "schedule[0].pause"),
        ("pause: replica1\n    mode: reset", "schedule[0].mode"),
        ("crash: replica1\n    process: walwriter", "schedule[0].process"),
    ],
)
def test_pause_targets_nodes_and_process_belongs_to_pause(step: str, key: str) -> None:
    assert one(steps(f"  - at: 1s\n    {step}\n")).key == key


DATA = Path(__file__).resolve().parent / "data"


def test_the_commented_format_example_is_a_valid_scenario() -> None:
    sc = loads((DATA / "format-example.yaml").read_text())
    assert {s.action for s in sc.schedule} == {
        "partition",
        "latency",
        "bandwidth",
        "pause",
        "crash",
        "promote",
        "archive_fail",
        "restore",
    }
    assert isinstance(sc.topology, Topology) and sc.topology.archive is not None


def test_after_a_duplicated_name_refers_to_the_first_step_with_it() -> None:
    text = steps(
        "  - name: x\n    at: 1s\n    crash: replica1\n    for: 1s\n"
        "  - name: x\n    at: 9s\n    crash: replica2\n    for: 5s\n"
        "  - after: x.end\n    at: 1s\n    restart: replica2\n"  # 3s after the first x: fine
    )
    assert [p.key for p in problems(text)] == ["schedule[1].name"]


# -- Kafka -----------------------------------------------------------------------------------

# line numbers matter below: keep this text as it is
KAFKA = """\
system: kafka
topology:
  brokers: 3
  replication_factor: 3
  min_insync_replicas: 2
  unclean_leader_election: false
  settings:
    replica.lag.time.max.ms: 10000
    log.flush.interval.ms: 1.5
    auto.leader.rebalance.enable: false
    compression.type: lz4
workload:
  rate: 200/s
  concurrency: 4
  duration: 16s
  acks: all
  enable_idempotence: true
  commit_timeout: 10s
schedule:
  - name: cut
    at: 3s
    partition: fetch-from:leader
    mode: blackhole
  - at: 6s
    crash: leader
    outage: true
  - at: 7s
    latency: broker2->broker1
    delay: 50ms
    for: 1s
  - at: 8s
    restart: broker2
expect:
  rpo: 1s
  max_lost: 0
"""


def kafka() -> dict[str, Any]:
    """KAFKA as data: tests change one thing and dump it."""
    data: dict[str, Any] = yaml.safe_load(KAFKA)
    return data


def kafka_steps(text: str, brokers: int = 3) -> str:
    """A valid Kafka scenario whose schedule is ``text`` (steps indented by two spaces) and
    then the outage step."""
    head = KAFKA.split("schedule:\n", 1)[0].replace("brokers: 3", f"brokers: {brokers}")
    head = head.replace("replication_factor: 3", "replication_factor: 1").replace(
        "min_insync_replicas: 2", "min_insync_replicas: 1"
    )
    outage = "  - at: 9s\n    crash: broker1\n    outage: true\n"
    return head + "schedule:\n" + text + outage + "expect:\n  rpo: 1s\n"


def test_kafka_scenario_loads_to_the_expected_model() -> None:
    sc = loads(KAFKA, "k.yaml")
    assert sc.system == "kafka"
    assert sc.topology == KafkaTopology(
        brokers=3,
        replication_factor=3,
        min_insync_replicas=2,
        unclean_leader_election=False,
        partitions=1,
        topic="rpochaos",
        settings={
            "replica.lag.time.max.ms": "10000",
            "log.flush.interval.ms": "1.5",
            "auto.leader.rebalance.enable": "false",  # a boolean, as Kafka writes it
            "compression.type": "lz4",
        },
    )
    assert sc.workload == Workload(
        rate=200.0,
        duration=16.0,
        concurrency=4,
        commit_timeout=10.0,
        acks="all",
        enable_idempotence=True,
    )
    assert sc.workload.producer_acks == "all"
    assert [(s.action, s.target, s.line) for s in sc.schedule] == [
        ("partition", "fetch-from:leader", 20),  # kept as written: the runner expands it
        ("crash", "leader", 24),
        ("latency", "broker2->broker1", 27),
        ("restart", "broker2", 31),
    ]
    assert sc.outage_step.target == "leader"
    assert sc.expect == Expect(rpo=1.0, max_lost=0)


def test_kafka_topology_nodes_and_links_are_the_cluster_modules() -> None:
    topo = loads(KAFKA).topology
    assert isinstance(topo, KafkaTopology)
    assert topo.nodes == ("broker1", "broker2", "broker3")
    assert topo.links == (
        "client->broker1",
        "client->broker2",
        "client->broker3",
        "broker2->broker1",
        "broker2->controller1",
        "broker3->broker1",
        "broker3->controller1",
        "broker1->broker2",
        "broker1->controller2",
        "broker3->broker2",
        "broker3->controller2",
        "broker1->broker3",
        "broker1->controller3",
        "broker2->broker3",
        "broker2->controller3",
    )
    assert kafka_link_names(1) == ("client->broker1",)
    cluster = pytest.importorskip("rpochaos.kafka.cluster")
    for n in range(1, MAX_BROKERS + 1):
        assert list(kafka_link_names(n)) == cluster.link_names(n)
        assert KafkaTopology(n, 1, 1, False).links == tuple(cluster.link_names(n))


def test_producer_acks_is_what_the_client_takes() -> None:
    assert [Workload(1.0, 1.0, acks=a).producer_acks for a in ("0", "1", "all")] == [0, 1, "all"]
    assert Workload(1.0, 1.0).producer_acks is None


@pytest.mark.parametrize(
    "key", ["brokers", "replication_factor", "min_insync_replicas", "unclean_leader_election"]
)
def test_kafka_topology_requires_every_durability_knob(key: str) -> None:
    data = kafka()
    del data["topology"][key]
    text = dump(data)
    p = only(data)
    assert (p.key, p.given, p.line) == (f"topology.{key}", "nothing", line(text, "topology:"))
    if key in ("min_insync_replicas", "unclean_leader_election"):
        assert "declare it, it is a durability knob" in p.expected


@pytest.mark.parametrize(
    ("key", "bad", "expected"),
    [
        ("brokers", 0, "from 1 to 9"),
        ("brokers", 10, "from 1 to 9"),
        ("brokers", "3", "from 1 to 9"),
        ("brokers", True, "from 1 to 9"),
        ("replication_factor", 0, "from 1 to topology.brokers (3)"),
        ("replication_factor", 4, "from 1 to topology.brokers (3)"),
        ("min_insync_replicas", 0, "from 1 to topology.replication_factor (3)"),
        ("min_insync_replicas", 4, "from 1 to topology.replication_factor (3)"),
        ("min_insync_replicas", 1.5, "from 1 to topology.replication_factor (3)"),
        ("unclean_leader_election", "false", "true or false"),
        ("unclean_leader_election", 0, "true or false"),
        ("partitions", 0, "an integer >= 1"),
        ("topic", "__consumer_offsets", "a Kafka topic name"),
        ("topic", "has space", "a Kafka topic name"),
        ("topic", "..", "a Kafka topic name"),
        ("topic", "x" * 250, "a Kafka topic name"),
        ("topic", 5, "a Kafka topic name"),
    ],
)
def test_kafka_topology_values_are_checked(key: str, bad: object, expected: str) -> None:
    data = kafka()
    data["topology"][key] = bad
    text = dump(data)
    p = only(data)
    assert (p.key, p.line) == (f"topology.{key}", line(text, f"  {key}:"))
    assert expected in p.expected


def test_kafka_bounds_follow_the_declared_sizes() -> None:
    data = kafka()
    data["topology"].update(brokers=5, replication_factor=5, min_insync_replicas=5)
    assert loads(dump(data)).topology == KafkaTopology(
        5, 5, 5, False, settings=loads(KAFKA).topology.settings
    )
    data["topology"]["replication_factor"] = 2  # now 5 in sync is more than there are
    p = only(data)
    assert p.key == "topology.min_insync_replicas" and "(2)" in p.expected


def test_kafka_partitions_and_topic_default_and_are_kept() -> None:
    topo = loads(KAFKA).topology
    assert isinstance(topo, KafkaTopology)
    assert (topo.partitions, topo.topic) == (1, "rpochaos")
    data = kafka()
    data["topology"].update(partitions=6, topic="orders.v2-eu_1")
    topo = loads(dump(data)).topology
    assert isinstance(topo, KafkaTopology)
    assert (topo.partitions, topo.topic) == (6, "orders.v2-eu_1")


@pytest.mark.parametrize(
    "managed",
    [
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "default.replication.factor",
        "node.id",
        "process.roles",
        "listeners",
        "advertised.listeners",
        "controller.quorum.voters",
        "controller.listener.names",
        "listener.security.protocol.map",
        "inter.broker.listener.name",
        "log.dirs",
        "num.partitions",
    ],
)
def test_kafka_settings_cannot_override_what_the_cluster_sets(managed: str) -> None:
    data = kafka()
    data["topology"]["settings"][managed] = "1"
    text = dump(data)
    p = only(data)
    assert (p.key, p.line) == (f"topology.settings.{managed}", line(text, f"    {managed}:"))
    assert "does not set itself" in p.expected


def test_every_property_the_cluster_sets_for_the_scenario_is_refused() -> None:
    """The wiring and the knobs cluster.py writes into server.properties are refused; its
    footprint defaults (heap-related sizes, thread counts) may be overridden."""
    cluster = pytest.importorskip("rpochaos.kafka.cluster")
    written = {
        "process.roles",
        "node.id",
        "controller.quorum.voters",
        "controller.listener.names",
        "listeners",
        "advertised.listeners",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
        "log.dirs",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "default.replication.factor",
        "num.partitions",
    }
    source = Path(cluster.__file__).read_text()
    assert all(f'"{k}":' in source for k in written)
    assert written <= set(scenario_module._KAFKA_MANAGED_SETTINGS)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("Bad Key", "1", "a Kafka broker property"),
        ("log.retention.ms", [1], "a string, a number, true or false"),
        ("log.retention.ms", {"a": 1}, "a string, a number, true or false"),
        ("log.retention.ms", None, "a string, a number, true or false"),
    ],
)
def test_kafka_settings_are_properties_with_plain_values(
    key: str, value: object, expected: str
) -> None:
    data = kafka()
    data["topology"]["settings"][key] = value
    p = only(data)
    assert p.key == f"topology.settings.{key}" and expected in p.expected


def test_kafka_settings_must_be_a_mapping() -> None:
    data = kafka()
    data["topology"]["settings"] = ["a=1"]
    p = only(data)
    assert p.key == "topology.settings" and "Kafka broker properties" in p.expected


def test_each_systems_topology_keys_are_unknown_to_the_other_with_a_hint() -> None:
    data = kafka()
    data["topology"]["replicas"] = []
    text = dump(data)
    p = only(data)
    assert (p.key, p.line) == ("topology.replicas", line(text, "  replicas:"))
    assert "replicas belongs to system: postgres" in p.expected
    data = minimal()
    data["topology"]["brokers"] = 3
    text = dump(data)
    p = only(data)
    assert (p.key, p.line) == ("topology.brokers", line(text, "  brokers:"))
    assert "brokers belongs to system: kafka" in p.expected


# -- Kafka: the producer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "acks"), [("all", "all"), ('"1"', "1"), ("1", "1"), ("0", "0"), ("'0'", "0")]
)
def test_acks_accepts_yaml_integers_as_text(written: str, acks: str) -> None:
    text = KAFKA.replace("acks: all", f"acks: {written}").replace(
        "enable_idempotence: true", "enable_idempotence: false"
    )
    assert loads(text).workload.acks == acks


@pytest.mark.parametrize("bad", ["2", "-1", "ALL", "true", "none", "[all]"])
def test_acks_rejects_other_values(bad: str) -> None:
    text = KAFKA.replace("acks: all", f"acks: {bad}")
    p = one(text)
    assert (p.key, p.line) == ("workload.acks", line(text, "acks:"))
    assert p.expected.startswith("one of 0, 1, all")


@pytest.mark.parametrize("key", ["acks", "enable_idempotence"])
def test_kafka_producer_knobs_are_required(key: str) -> None:
    data = kafka()
    del data["workload"][key]
    text = dump(data)
    p = only(data)
    assert (p.key, p.given, p.line) == (f"workload.{key}", "nothing", line(text, "workload:"))
    assert "declare it: the client's defaults changed between versions" in p.expected


@pytest.mark.parametrize("acks", ['"0"', '"1"'])
def test_idempotence_needs_acks_all(acks: str) -> None:
    text = KAFKA.replace("acks: all", f"acks: {acks}")
    p = one(text)
    assert (p.key, p.given, p.line) == (
        "workload.enable_idempotence",
        "true",
        line(text, "enable_idempotence:"),
    )
    assert "an idempotent producer needs acks: all" in p.expected
    ok = loads(text.replace("enable_idempotence: true", "enable_idempotence: false"))
    assert ok.workload.enable_idempotence is False


def test_enable_idempotence_is_a_boolean() -> None:
    text = KAFKA.replace("enable_idempotence: true", "enable_idempotence: yes please")
    p = one(text)
    assert (p.key, p.expected) == ("workload.enable_idempotence", "true or false")


@pytest.mark.parametrize("key", ["acks", "enable_idempotence"])
def test_producer_knobs_are_unknown_keys_for_postgres(key: str) -> None:
    data = minimal()
    data["workload"][key] = "all" if key == "acks" else True
    text = dump(data)
    p = only(data)
    assert (p.key, p.line) == (f"workload.{key}", line(text, f"  {key}:"))
    assert p.expected.startswith("a known key: rate, concurrency, duration")
    assert f"{key} belongs to system: kafka" in p.expected


def test_kafka_commit_timeout_is_the_delivery_timeout_not_below_the_request_timeout() -> None:
    text = KAFKA.replace("commit_timeout: 10s", "commit_timeout: 4999ms")
    p = one(text)
    assert (p.key, p.line) == ("workload.commit_timeout", line(text, "commit_timeout:"))
    assert "delivery timeout" in p.expected and ">= 5s" in p.expected
    assert loads(KAFKA.replace("10s", "5s")).workload.commit_timeout == 5.0
    no_timeout = loads(KAFKA.replace("  commit_timeout: 10s\n", ""))
    assert no_timeout.workload.commit_timeout is None
    # PostgreSQL's cancel-after is not bounded that way
    data = minimal()
    data["workload"]["commit_timeout"] = "100ms"
    assert loads(dump(data)).workload.commit_timeout == 0.1


# -- Kafka: the system -----------------------------------------------------------------------


def test_a_wrong_system_is_one_problem_when_the_file_looks_like_kafka() -> None:
    text = KAFKA.replace("system: kafka", "system: kafak")
    p = one(text)
    assert (p.key, p.line, p.given) == ("system", 1, "'kafak'")
    assert "'postgres' or 'kafka'" in p.expected and "checked as kafka" in p.expected
    data = kafka()
    del data["system"]
    assert [(p.key, p.given) for p in problems(dump(data))] == [("system", "nothing")]
    # a workload with acks also looks like Kafka
    data = kafka()
    data["system"] = 3
    del data["topology"]
    assert sorted(p.key for p in problems(dump(data))) == ["system", "topology"]


def test_a_postgres_system_with_a_kafka_file_reports_the_postgres_rules() -> None:
    text = KAFKA.replace("system: kafka", "system: postgres")
    found = {p.key for p in problems(text)}
    assert {
        "topology.brokers",
        "topology.synchronous_commit",
        "topology.replicas",
        "workload.acks",
    } <= found


# -- Kafka: targets --------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["crash", "restart", "pause", "io_stall", "clock_skew"])
@pytest.mark.parametrize("target", ["broker1", "broker3", "leader"])
def test_kafka_node_actions_take_a_broker_or_leader(action: str, target: str) -> None:
    extra = "    offset: 1s\n" if action == "clock_skew" else ""
    sc = loads(kafka_steps(f"  - at: 1s\n    {action}: {target}\n{extra}"))
    assert next(s.target for s in sc.schedule if s.action == action) == target


@pytest.mark.parametrize("target", ["primary", "broker4", "broker0", "leader1", "client"])
def test_kafka_node_targets_must_exist(target: str) -> None:
    text = kafka_steps(f"  - at: 1s\n    restart: {target}\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].restart", line(text, "restart:"))
    assert "these exist: broker1, broker2, broker3, leader" in p.expected


def test_kafka_has_no_promote() -> None:
    text = kafka_steps("  - at: 1s\n    promote: broker2\n")
    p = one(text)
    assert (p.key, p.given, p.line) == ("schedule[0].promote", "'broker2'", line(text, "promote"))
    assert "Kafka elects leaders itself" in p.expected


def test_kafka_pause_takes_no_process() -> None:
    text = kafka_steps("  - at: 1s\n    pause: leader\n    process: walsender\n    for: 1s\n")
    p = one(text)
    assert (p.key, p.line) == ("schedule[0].process", line(text, "process:"))
    assert "no process on a Kafka pause" in p.expected
    sc = loads(kafka_steps("  - at: 1s\n    pause: leader\n    for: 1s\n"))
    assert sc.schedule[0].params == {} and sc.schedule[0].duration == 1.0


@pytest.mark.parametrize("action", ["partition", "latency", "bandwidth"])
def test_kafka_link_actions_take_every_link_and_every_group(action: str) -> None:
    params = {
        "partition": "    mode: reset\n",
        "latency": "    delay: 10ms\n",
        "bandwidth": "    rate: 64KB/s\n",
    }[action]
    links = list(KafkaTopology(3, 1, 1, False).links)
    groups = [f"{g}:{n}" for g in LINK_GROUPS for n in ("broker1", "broker2", "broker3", "leader")]
    text = "".join(
        f"  - at: 1s\n    {action}: {target}\n{params}    for: 1s\n" for target in links + groups
    )
    sc = loads(kafka_steps(text))
    assert [s.target for s in sc.schedule if s.action == action] == links + groups


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("broker1->brokr2", "did you mean 'broker1->broker2'?"),
        ("broker1->broker1", "these links exist: client->broker1"),
        ("replica1->primary", "these links exist"),
        ("broker2->controller4", "these links exist"),
        ("fetch-form:leader", "did you mean 'fetch-from'?"),
        (
            "fetch-from:broker4",
            "fetch-from:NODE with NODE one of broker1, broker2, broker3, leader",
        ),
        ("all-of:", "all-of:NODE with NODE one of"),
        ("quorum-of:primary", "quorum-of:NODE with NODE one of"),
        ("fetch-from:leader:x", "fetch-from:NODE with NODE one of"),
    ],
)
def test_kafka_link_targets_are_checked(target: str, expected: str) -> None:
    text = kafka_steps(f"  - at: 1s\n    partition: '{target}'\n    mode: reset\n")
    p = one(text)
    assert (p.key, p.given, p.line) == ("schedule[0].partition", repr(target), 21)
    assert expected in p.expected


def test_kafka_link_groups_that_need_two_brokers() -> None:
    for group in ("fetch-from", "quorum-of"):
        text = kafka_steps(f"  - at: 1s\n    partition: {group}:leader\n    mode: reset\n", 1)
        p = one(text)
        assert (p.key, p.line) == ("schedule[0].partition", line(text, "partition:"))
        assert "a 1-broker cluster has no replication or quorum links" in p.expected
    sc = loads(kafka_steps("  - at: 1s\n    partition: all-of:leader\n    mode: reset\n", 1))
    assert sc.schedule[0].target == "all-of:leader"


def test_kafka_targets_can_be_chosen_at_random() -> None:
    text = kafka_steps(
        "  - at: 1s\n    partition: {choose: [fetch-from:leader, all-of:broker2, broker3->broker1]}"
        "\n    mode: blackhole\n    for: 1s\n"
        "  - at: 2s\n    pause: {choose: [leader, broker2]}\n    for: 1s\n"
    )
    sc = loads(text)
    assert sc.specs[0].target == Choose(("fetch-from:leader", "all-of:broker2", "broker3->broker1"))
    assert sc.specs[1].target == Choose(("leader", "broker2"))
    bad = text.replace("all-of:broker2", "all-of:broker7")
    p = one(bad)
    assert p.key == "schedule[0].partition.choose[1]"


def test_postgres_has_no_link_groups_and_no_leader() -> None:
    p = one(steps("  - at: 1s\n    partition: all-of:primary\n    mode: reset\n"))
    assert p.key == "schedule[0].partition" and "replica1->primary" in p.expected
    p = one(steps("  - at: 1s\n    restart: leader\n"))
    assert p.key == "schedule[0].restart" and "'primary' or a replica's" in p.expected


# -- Kafka: the run record, the files --------------------------------------------------------


def test_round_trip_of_a_kafka_scenario_through_json() -> None:
    sc = loads(KAFKA.replace("partitions", "x"), "k.yaml")
    data = json.loads(json.dumps(to_dict(sc)))
    assert from_dict(data) == sc
    assert data["topology"] == {
        "brokers": 3,
        "replication_factor": 3,
        "min_insync_replicas": 2,
        "unclean_leader_election": False,
        "partitions": 1,
        "topic": "rpochaos",
        "settings": {
            "replica.lag.time.max.ms": "10000",
            "log.flush.interval.ms": "1.5",
            "auto.leader.rebalance.enable": "false",
            "compression.type": "lz4",
        },
    }
    assert data["workload"]["acks"] == "all" and data["workload"]["enable_idempotence"] is True
    assert data["declared"]["workload"]["acks"] == "all"


def test_a_postgres_record_keeps_its_shape_and_old_records_load_as_postgres() -> None:
    sc = loads(FULL)
    data = json.loads(json.dumps(to_dict(sc)))
    assert "acks" not in data["workload"] and "enable_idempotence" not in data["workload"]
    del data["system"]  # older than the system key ever was: PostgreSQL
    assert from_dict(data) == sc


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("workload", "acks", "-1"),
        ("workload", "acks", 1),
        ("workload", "enable_idempotence", "yes"),
        ("topology", "brokers", "3"),
        ("topology", "unclean_leader_election", None),
        ("", "system", "mysql"),
    ],
)
def test_from_dict_rejects_malformed_kafka_data(where: str, key: str, value: object) -> None:
    data = json.loads(json.dumps(to_dict(loads(KAFKA))))
    (data[where] if where else data)[key] = value
    with pytest.raises(ValueError):
        from_dict(data)


def test_from_dict_of_kafka_needs_a_kafka_topology() -> None:
    data = json.loads(json.dumps(to_dict(loads(FULL))))
    data["system"] = "kafka"
    with pytest.raises(ValueError, match=r"topology\.brokers"):
        from_dict(data)


@st.composite
def kafka_scenarios(draw: st.DrawFn) -> Scenario:
    brokers = draw(st.integers(1, MAX_BROKERS))
    rf = draw(st.integers(1, brokers))
    topology = KafkaTopology(
        brokers=brokers,
        replication_factor=rf,
        min_insync_replicas=draw(st.integers(1, rf)),
        unclean_leader_election=draw(st.booleans()),
        partitions=draw(st.integers(1, 100)),
        topic=draw(st.from_regex(r"[a-z][a-z0-9._-]{0,10}", fullmatch=True)),
        settings=draw(st.dictionaries(_names, st.text(max_size=5), max_size=2)),
    )
    nodes = (*topology.nodes, "leader")
    links = (*topology.links, *(f"{g}:{n}" for g in LINK_GROUPS for n in nodes))
    steps = tuple(
        Step(
            index=i,
            at=draw(_seconds),
            action=draw(st.sampled_from(["partition", "crash", "pause", "clock_skew"])),
            target=draw(st.sampled_from(links + nodes)),
            duration=draw(st.none() | _seconds),
            outage=i == 0,
            line=draw(st.none() | st.integers(1, 1000)),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    acks = draw(st.sampled_from(["0", "1", "all"]))
    return Scenario(
        name="k",
        system="kafka",
        topology=topology,
        workload=Workload(
            rate=draw(st.floats(0.001, 1e6)),
            duration=draw(_seconds),
            concurrency=draw(st.integers(1, 64)),
            commit_timeout=draw(st.none() | _seconds),
            acks=acks,
            enable_idempotence=draw(st.booleans()) if acks == "all" else False,
        ),
        schedule=steps,
        expect=Expect(rpo=draw(_seconds)),
        seed=draw(st.integers(0, 100)),
        specs=tuple(draw(step_specs(i, links + nodes)) for i in range(draw(st.integers(0, 2)))),
    )


@given(kafka_scenarios())
def test_kafka_to_dict_from_dict_round_trip(sc: Scenario) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(sc)))) == sc


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    ("name", "acks", "idempotent", "min_isr", "unclean", "lag_ms", "cut_at", "kill_at", "expect"),
    [
        (
            "kafka-acks1-leader-cut-then-killed",
            "1",
            False,
            1,
            False,
            "10000",
            3.0,
            6.0,
            Expect(rpo=1.0, min_lost=1),
        ),
        ("kafka-acks-all-min-isr-2", "all", True, 2, False, "10000", 3.0, 6.0, Expect(1.0, 0)),
        (
            "kafka-unclean-election",
            "1",
            False,
            1,
            True,
            "3000",
            2.0,
            9.0,
            Expect(rpo=1.0, min_lost=1),
        ),
    ],
)
def test_the_kafka_scenarios_load_as_documented(
    name: str,
    acks: str,
    idempotent: bool,
    min_isr: int,
    unclean: bool,
    lag_ms: str,
    cut_at: float,
    kill_at: float,
    expect: Expect,
) -> None:
    path = SCENARIOS / f"{name}.yaml"
    text = path.read_text()
    assert text.startswith(f"# {name} ")  # the comment: what it shows, what to expect
    assert ("PASSES (exit 0)" if expect.max_lost == 0 else "FAILS (exit 1)") in text
    sc = load(path)
    t, w = sc.topology, sc.workload
    assert sc.system == "kafka" and sc.name == name
    assert isinstance(t, KafkaTopology)
    assert (t.brokers, t.replication_factor, t.min_insync_replicas) == (3, 3, min_isr)
    assert t.unclean_leader_election is unclean
    assert t.settings == {"replica.lag.time.max.ms": lag_ms, "broker.session.timeout.ms": "3000"}
    assert (w.acks, w.enable_idempotence, w.rate) == (acks, idempotent, 200.0)
    assert w.duration <= 25.0
    cut, kill = sc.schedule
    assert (cut.action, cut.target, cut.at, cut.params["mode"]) == (
        "partition",
        "fetch-from:leader",
        cut_at,
        "blackhole",
    )
    assert (kill.action, kill.target, kill.at, kill.outage) == ("crash", "leader", kill_at, True)
    assert sc.expect == expect
    lag = float(lag_ms) / 1000
    if unclean:  # killed once the ISR has shrunk (measured: 1.57 x the lag limit after the cut)
        assert kill.at - cut.at > 2 * lag
    else:  # killed while the cut followers are still in the ISR
        assert kill.at - cut.at < lag


def test_the_commented_kafka_format_example_is_a_valid_scenario() -> None:
    sc = loads((DATA / "kafka-format-example.yaml").read_text())
    assert sc.system == "kafka" and isinstance(sc.topology, KafkaTopology)
    assert [s.target for s in sc.schedule] == ["fetch-from:leader", "leader"]


# -- WAL archive: topology.archive, archive_fail, restore ------------------------------------

ARCHIVE = """\
system: postgres
time_scale: 30
topology:
  synchronous_commit: "on"
  replicas: []
  archive:
    timeout: 60s
workload:
  rate: 5/s
  duration: 10m
schedule:
  - name: broken
    at: 1m
    archive_fail: primary
    for: 2m
  - name: dies
    at: 8m
    crash: primary
    outage: true
  - after: dies
    at: 30s
    restore: primary
expect:
  rpo: 5m
"""


def test_archive_topology_and_its_actions_load_scaled() -> None:
    sc = loads(ARCHIVE)
    assert isinstance(sc.topology, Topology)
    assert sc.topology.archive == scenario_module.Archive(timeout=2.0)  # 60 s / 30
    fail, crash, restore = sc.schedule
    assert (crash.action, crash.at, crash.outage) == ("crash", 16.0, True)
    assert (fail.action, fail.target, fail.at, fail.duration) == ("archive_fail", "primary", 2, 4)
    assert (restore.action, restore.target, restore.at, restore.params) == (
        "restore",
        "primary",
        17.0,
        {},
    )
    back = from_dict(json.loads(json.dumps(to_dict(sc))))
    assert back.topology == sc.topology and back.schedule == sc.schedule


def test_a_topology_without_archive_has_none_and_round_trips() -> None:
    sc = loads(dump(minimal()))
    assert isinstance(sc.topology, Topology) and sc.topology.archive is None
    assert from_dict(to_dict(sc)).topology.archive is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("archive", "given", "expected"),
    [
        ("{}", "nothing", "archive_timeout (declare it"),
        ("{timeout: 0s}", "'0s'", "a duration > 0"),
        ("{timeout: soon}", "'soon'", "a duration > 0"),
        ("{timeout: 45s}", "'45s' / time_scale 30 = 1.5s", "a whole number of seconds >= 1"),
        ("{timeout: 15s}", "'15s' / time_scale 30 = 0.5s", "a whole number of seconds >= 1"),
        ("a string", "'a string'", "a mapping with keys timeout"),
    ],
)
def test_archive_timeout_is_required_and_whole_seconds_once_scaled(
    archive: str, given: str, expected: str
) -> None:
    text = ARCHIVE.replace("  archive:\n    timeout: 60s\n", f"  archive: {archive}\n")
    p = one(text)
    assert p.key in ("topology.archive.timeout", "topology.archive"), p
    assert (p.given, p.line) == (given, line(text, "archive:")), p
    assert expected in p.expected, p.expected


def test_archive_timeout_unknown_key_is_named() -> None:
    text = ARCHIVE.replace("    timeout: 60s\n", "    timeout: 60s\n    timout: 1s\n")
    p = one(text)
    assert (p.key, p.line) == ("topology.archive.timout", line(text, "timout"))
    assert "did you mean 'timeout'" in p.expected


@pytest.mark.parametrize(
    "setting", ["archive_mode", "archive_command", "archive_timeout", "restore_command"]
)
def test_archive_settings_belong_to_topology_archive(setting: str) -> None:
    text = ARCHIVE.replace("  replicas: []\n", f"  replicas: []\n  settings:\n    {setting}: x\n")
    p = one(text)
    assert (p.key, p.line) == (f"topology.settings.{setting}", line(text, f"{setting}: x"))
    assert "topology.archive" in p.expected


@pytest.mark.parametrize("action", ["archive_fail", "restore"])
def test_archive_actions_need_a_declared_archive(action: str) -> None:
    text = dump(
        {
            **minimal(),
            "schedule": [
                {"at": "5s", "crash": "primary", "outage": True},
                {"at": "6s", action: "primary"},
            ],
        }
    )
    p = one(text)
    assert (p.key, p.given, p.line) == (f"schedule[1].{action}", "'primary'", line(text, action))
    assert "topology.archive: {timeout: DURATION}" in p.expected


@pytest.mark.parametrize("action", ["archive_fail", "restore"])
def test_archive_actions_target_the_primary_only(action: str) -> None:
    text = ARCHIVE.replace("  replicas: []\n", "  replicas:\n    - {name: replica1, mode: async}\n")
    text = text.replace(f"{action}: primary", f"{action}: replica1")
    p = one(text)
    assert (p.key, p.given, p.line) == (
        f"schedule[{0 if action == 'archive_fail' else 2}].{action}",
        "'replica1'",
        line(text, f"{action}:"),
    )
    assert p.expected.startswith("primary (the node that archives")


def test_restore_is_instant_once_and_not_repeated() -> None:
    text = ARCHIVE.replace(
        "    restore: primary\n",
        "    restore: primary\n    for: 1m\n  - at: 9m\n    restore: primary\n"
        "    every: 10s\n    repeat: 2\n",
    )
    found = problems(text)
    assert [(p.key, p.line) for p in found] == [
        ("schedule[2].for", line(text, "for: 1m")),
        ("schedule[3].restore", line(text, "restore:", 2)),
        ("schedule[3].repeat", line(text, "repeat: 2")),
    ], found
    assert "restore is instantaneous" in found[0].expected
    assert "at most one restore step (schedule[2]" in found[1].expected
    assert "no repeat on a restore" in found[2].expected


@pytest.mark.parametrize("action", ["archive_fail", "restore"])
def test_kafka_has_no_archive_actions(action: str) -> None:
    text = kafka_steps(f"  - at: 1s\n    {action}: broker1\n")
    p = one(text)
    assert (p.key, p.line) == (f"schedule[0].{action}", line(text, f"{action}:"))
    assert "PostgreSQL WAL archive" in p.expected


def test_archive_is_not_a_kafka_topology_key() -> None:
    text = kafka_steps("").replace("topology:\n", "topology:\n  archive: {timeout: 60s}\n")
    p = one(text)
    assert (p.key, p.line) == ("topology.archive", line(text, "archive:"))


def test_the_archive_incidents_load_as_documented() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios" / "incidents"
    ok = load(root / "archive-recovery-within-rpo.yaml")
    fails = load(root / "archive-command-fails.yaml")
    for sc in (ok, fails):
        assert isinstance(sc.topology, Topology) and sc.topology.archive is not None
        assert sc.topology.replicas == ()
        # the compressed archive_timeout is well under the compressed RPO
        assert sc.topology.archive.timeout * sc.time_scale == 60.0
        assert sc.expect.rpo * sc.time_scale == 300.0
        crash = sc.outage_step
        restore = next(s for s in sc.schedule if s.action == "restore")
        assert crash.action == "crash" and crash.duration is None and restore.at > crash.at
    fail = next(s for s in fails.schedule if s.action == "archive_fail")
    # still failing when the primary dies, and long enough to break the RPO
    assert fail.duration is None
    assert fails.outage_step.at - fail.at > fails.expect.rpo
