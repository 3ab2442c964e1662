"""``topology.manager: patroni``: the settings block, its rules, and what a Patroni
scenario refuses, each problem at its file line; the leadership record read into the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rpochaos.errors import ScenarioError
from rpochaos.result.leadership import read_leadership
from rpochaos.scenario import from_dict, loads, to_dict
from rpochaos.systems import PatroniSystem, PostgresSystem, for_scenario

BASE = """\
system: postgres
topology:
  manager: patroni
  synchronous_commit: "on"
  patroni:
    ttl: 20s
    loop_wait: 1s
    retry_timeout: 5s
    maximum_lag_on_failover: 1MB
    synchronous_mode: "off"
    synchronous_node_count: 1
    failsafe_mode: false
    use_pg_rewind: true
  replicas:
    - name: replica1
workload: {rate: 100/s, duration: 10s}
schedule:
  - at: 1s
    partition: replica1->primary
    mode: blackhole
  - at: 3s
    crash: primary
    outage: true
expect: {rpo: 1s}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        loads(text, "p.yaml")
    return [f"{p.line}: {p.key}: {p.given} -> {p.expected}" for p in e.value.problems]


def test_a_patroni_topology_loads_with_every_setting_and_round_trips() -> None:
    sc = loads(BASE, "p.yaml")
    t = sc.topology
    assert t.manager == "patroni"  # type: ignore[union-attr]
    p = t.patroni  # type: ignore[union-attr]
    assert p is not None
    assert (p.ttl, p.loop_wait, p.retry_timeout) == (20, 1, 5)
    assert p.maximum_lag_on_failover == 1024 * 1024
    assert p.synchronous_mode == "off" and p.use_pg_rewind and not p.failsafe_mode
    assert [r.mode for r in t.replicas] == ["async"]  # left out: Patroni's
    assert from_dict(json.loads(json.dumps(to_dict(sc)))) == sc
    assert isinstance(for_scenario(sc), PatroniSystem)


def test_without_manager_the_topology_is_todays() -> None:
    text = BASE.replace("  manager: patroni\n", "")
    assert "a patroni block without topology.manager" in "\n".join(_problems(text))
    plain = loads(
        "system: postgres\ntopology: {synchronous_commit: 'on', replicas: [{name: r1, "
        "mode: async}]}\nworkload: {rate: 10/s, duration: 5s}\nschedule: [{at: 1s, crash: "
        "primary, outage: true}]\nexpect: {rpo: 1s}\n"
    )
    assert isinstance(for_scenario(plain), PostgresSystem)
    assert "manager" not in to_dict(plain)["topology"]  # type: ignore[operator]


def test_every_setting_is_required() -> None:
    text = BASE.replace("    ttl: 20s\n", "").replace("    use_pg_rewind: true\n", "")
    found = "\n".join(_problems(text))
    assert "5: topology.patroni.ttl: nothing -> a whole number of seconds >= 20" in found
    assert "topology.patroni.use_pg_rewind: nothing -> true or false" in found


def test_values_patroni_would_change_are_refused_at_their_line() -> None:
    found = _problems(BASE.replace("ttl: 20s", "ttl: 10s"))
    assert found[0].startswith("6: topology.patroni.ttl: '10s' -> a whole number of seconds >= 20")
    found = _problems(BASE.replace("retry_timeout: 5s", "retry_timeout: 10s"))
    assert found[0].startswith("7: topology.patroni.loop_wait: loop_wait 1 + 2 * retry_timeout")
    found = _problems(BASE.replace('synchronous_mode: "off"', "synchronous_mode: sometimes"))
    assert found[0].startswith("10: topology.patroni.synchronous_mode: 'sometimes' -> off, on")


def test_the_dcs_is_one_etcd_member_unless_three_are_declared() -> None:
    assert loads(BASE, "p.yaml").topology.patroni.etcd_members == 1  # type: ignore[union-attr]
    three = BASE.replace(
        "    use_pg_rewind: true\n", "    use_pg_rewind: true\n    etcd_members: 3\n"
    )
    sc = loads(three, "p.yaml")
    assert sc.topology.patroni.etcd_members == 3  # type: ignore[union-attr]
    assert from_dict(json.loads(json.dumps(to_dict(sc)))) == sc
    for bad, given in (("2", "2"), ("true", "true"), ("'3'", "'3'")):
        text = three.replace("etcd_members: 3", f"etcd_members: {bad}")
        assert _problems(text) == [
            f"14: topology.patroni.etcd_members: {given} -> 1 or 3 (etcd members: "
            "one, or a quorum of three)"
        ], bad


def test_a_missing_patroni_block_is_named() -> None:
    start = BASE.index("  patroni:")
    end = BASE.index("  replicas:")
    found = _problems(BASE[:start] + BASE[end:])
    assert found[0].startswith("3: topology.patroni: (missing) -> a mapping of Patroni's settings")


def test_replica_modes_must_agree_with_synchronous_mode() -> None:
    text = BASE.replace("    - name: replica1\n", "    - name: replica1\n      mode: sync\n")
    assert _problems(text)[0].startswith("16: topology.replicas[0].mode: 'sync' -> async")
    strict = text.replace('synchronous_mode: "off"', "synchronous_mode: strict")
    assert [r.mode for r in loads(strict).topology.replicas] == ["sync"]


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ("  - {at: 4s, promote: replica1}\n", "schedule[2].promote"),
        ("  - {at: 4s, pause: replica1, process: walreceiver, for: 1s}\n", "schedule[2].process"),
    ],
)
def test_steps_patroni_owns_are_refused(step: str, key: str) -> None:
    text = BASE.replace("expect:", step + "expect:")
    found = "\n".join(_problems(text))
    assert f"24: {key}:" in found, found


def test_per_link_replication_faults_need_one_replica() -> None:
    text = BASE.replace("    - name: replica1\n", "    - name: replica1\n    - name: replica2\n")
    found = "\n".join(_problems(text))
    assert "schedule[0].partition: replica1->primary -> a client-><node> link" in found


def test_time_scale_and_num_sync_are_refused() -> None:
    found = "\n".join(_problems("time_scale: 2\n" + BASE.replace(
        "  synchronous_commit", "  num_sync: 1\n  synchronous_commit")))  # fmt: skip
    assert "time_scale: 2 -> time_scale 1" in found
    assert "topology.num_sync: num_sync -> topology.patroni.synchronous_node_count" in found


def test_leadership_record_becomes_changes_promoted_and_refusals(tmp_path: Path) -> None:
    lines = [
        {"type": "leader_change", "t": 0.01, "from": None, "to": "primary", "timeline": 1},
        {"type": "leader_change", "t": 24.5, "from": "primary", "to": None, "timeline": None},
        {"type": "leader_change", "t": 24.6, "from": None, "to": "replica1", "timeline": 1},
        {"type": "leader_timeline", "t": 25.6, "leader": "replica1", "timeline": 2},
        {"type": "failover_refused", "t": 30.0, "node": "r2", "reason": "lag"},
    ]
    (tmp_path / "leadership.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    lead = read_leadership(tmp_path)
    assert [(c.t_s, c.from_node, c.to_node, c.timeline) for c in lead.changes] == [
        (24.5, "primary", None, None),
        (24.6, None, "replica1", 2),
    ]
    assert lead.promoted == "replica1"
    assert lead.refusals == ["r2: lag"]
    assert read_leadership(tmp_path / "none").changes == []


@pytest.mark.parametrize("value", ["9" * 400, ".inf", "1e400"])
def test_a_ttl_past_a_float_is_a_problem_at_its_line_not_a_crash(value: str) -> None:
    text = BASE.replace("ttl: 20s", f"ttl: {value}")
    assert text != BASE
    with pytest.raises(ScenarioError) as info:
        loads(text, "p.yaml")
    (p,) = info.value.problems
    assert p.key == "topology.patroni.ttl" and "whole number of seconds" in p.expected
