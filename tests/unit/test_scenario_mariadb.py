"""``system: mariadb`` scenarios: the topology's keys (every RPO setting required), their errors
at file:line, the links and targets, the actions refused, and the run record round trip."""

from __future__ import annotations

import pytest

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario import MariaDBReplica, MariaDBTopology, from_dict, loads, to_dict
from rpochaos.systems import MariaDBSystem, for_scenario

BASE = """\
system: mariadb
topology:
  replicas:
    - name: replica1
      semi_sync: true
    - name: replica2
      semi_sync: false
  rpl_semi_sync_master_timeout: 2000
  rpl_semi_sync_master_wait_point: AFTER_SYNC
  rpl_semi_sync_master_wait_no_slave: true
  sync_binlog: 1
  innodb_flush_log_at_trx_commit: 1
workload: {rate: 20/s, duration: 5s}
schedule:
  - at: 1s
    partition: replica1->primary
    mode: blackhole
  - at: 3s
    crash: primary
    outage: true
  - at: 3500ms
    promote: most_up_to_date
expect: {rpo: 1s, max_lost: 0}
"""


def problems(text: str) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        loads(text, "m.yaml")
    return info.value.problems


def one(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_mariadb_topology_loads_with_every_setting_and_round_trips() -> None:
    sc = loads(BASE, "m.yaml")
    t = sc.topology
    assert isinstance(t, MariaDBTopology)
    assert t.replicas == (MariaDBReplica("replica1", True), MariaDBReplica("replica2", False))
    assert (t.rpl_semi_sync_master_timeout, t.rpl_semi_sync_master_wait_point) == (
        2000,
        "AFTER_SYNC",
    )
    assert t.links == ("replica1->primary", "replica2->primary", "client->primary")
    assert sc.schedule[2].params["candidates"] == ["replica1", "replica2"]
    assert from_dict(to_dict(sc)) == sc
    assert isinstance(for_scenario(sc), MariaDBSystem)


@pytest.mark.parametrize(
    "key",
    [
        "rpl_semi_sync_master_timeout",
        "rpl_semi_sync_master_wait_point",
        "rpl_semi_sync_master_wait_no_slave",
        "sync_binlog",
        "innodb_flush_log_at_trx_commit",
    ],
)
def test_every_rpo_setting_is_required(key: str) -> None:
    text = "\n".join(line for line in BASE.splitlines() if not line.startswith(f"  {key}:"))
    p = one(text)
    assert (p.key, p.line, p.given) == (f"topology.{key}", 2, "nothing")


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("timeout: 2000", "timeout: 2s", 8, "an integer >= 0"),
        ("timeout: 2000", "timeout: -1", 8, "an integer >= 0"),
        ("wait_point: AFTER_SYNC", "wait_point: after_sync", 9, "AFTER_SYNC, AFTER_COMMIT"),
        ("wait_no_slave: true", "wait_no_slave: 1", 10, "true or false"),
        ("sync_binlog: 1", "sync_binlog: yes", 11, "an integer"),
        ("commit: 1", "commit: 4", 12, "from 0 to 3"),
        ("semi_sync: false", "semi_sync: maybe", 7, "true or false"),
        ("name: replica2", "name: replica1", 6, "a unique name"),
        ("name: replica2", "name: primary", 6, "reserved"),
    ],
)
def test_a_bad_value_is_named_at_its_line(old: str, new: str, line: int, expected: str) -> None:
    p = one(BASE.replace(old, new, 1))
    assert p.line == line and expected in p.expected, p


def test_a_replica_without_semi_sync_declared_is_a_problem_at_its_item() -> None:
    p = one(BASE.replace("      semi_sync: false\n", "", 1))
    assert (p.key, p.line, p.given) == ("topology.replicas[1].semi_sync", 6, "nothing")


def test_a_topology_without_replicas_is_refused() -> None:
    text = BASE.replace(
        "  replicas:\n    - name: replica1\n      semi_sync: true\n"
        "    - name: replica2\n      semi_sync: false\n",
        "  replicas: []\n",
    ).replace("promote: most_up_to_date", "restart: primary")
    p = problems(text)[0]
    assert p.key == "topology.replicas" and "non-empty" in p.expected


@pytest.mark.parametrize("action", ["io_stall", "clock_skew"])
def test_shim_faults_validate(action: str) -> None:
    extra = "    offset: 1s\n" if action == "clock_skew" else ""
    text = BASE.replace(
        "  - at: 3500ms\n",
        f"  - at: 2s\n    {action}: replica1\n    for: 1s\n{extra}  - at: 3500ms\n",
    )
    sc = loads(text, "m.yaml")
    assert [s.action for s in sc.schedule if s.action == action] == [action]


def test_links_are_the_replication_links_and_the_writers() -> None:
    p = one(BASE.replace("partition: replica1->primary", "partition: client->replica1"))
    assert "replica1->primary, replica2->primary, client->primary" in p.expected


def test_max_lag_is_refused_on_a_mariadb_promote() -> None:
    p = one(BASE.replace("promote: most_up_to_date", "promote: most_up_to_date\n    max_lag: 1MB"))
    assert p.key.endswith(".max_lag") and "GTID" in p.expected


def test_time_scale_must_be_one() -> None:
    p = one("time_scale: 2\n" + BASE)
    assert p.key == "time_scale" and "milliseconds" in p.expected


def test_a_file_with_semi_sync_settings_is_checked_as_mariadb_when_system_is_wrong() -> None:
    p = one(BASE.replace("system: mariadb", "system: mysql"))
    assert p.key == "system" and "checked as mariadb" in p.expected


def test_a_pause_is_of_the_whole_server() -> None:
    text = BASE.replace(
        "  - at: 3500ms\n", "  - at: 2s\n    pause: replica1\n    for: 500ms\n  - at: 3500ms\n"
    )
    assert loads(text, "m.yaml").schedule[1].action == "pause"
    p = one(text.replace("    pause: replica1\n", "    pause: replica1\n    process: startup\n"))
    assert p.key.endswith(".process") and "mariadbd is one process" in p.expected
