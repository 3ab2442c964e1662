"""``process:`` against the topology's manager (rpochaos.scenario.rules.process_steps and
the step checks): ``pause`` with ``process: patroni`` and ``crash`` with ``process:
postmaster`` only under ``manager: patroni``, a postmaster crash with neither ``for`` nor
``links``, and, under Patroni, no pause of one PostgreSQL server process; each problem at
its line, with its wording."""

from __future__ import annotations

import pytest

from rpochaos.errors import ScenarioError
from rpochaos.scenario import PATRONI_PROCESSES, PAUSE_PROCESSES, loads

PATRONI = """\
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
  - {at: 1s, crash: replica1, outage: true}
"""
PLAIN = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 100/s, duration: 10s}
schedule:
  - {at: 1s, crash: replica1, outage: true}
"""
KAFKA = """\
system: kafka
topology:
  brokers: 3
  replication_factor: 3
  min_insync_replicas: 2
  unclean_leader_election: false
workload: {rate: 10/s, duration: 10s, acks: all, enable_idempotence: true}
schedule:
  - {at: 1s, crash: broker2, outage: true}
"""
EXPECT = "expect: {rpo: 1s}\n"


def _with(base: str, step: str) -> str:
    return base + f"  - {step}\n" + EXPECT


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        loads(text, "p.yaml")
    return [f"{p.line}: {p.key}: {p.given} -> {p.expected}" for p in e.value.problems]


def test_the_values_live_in_one_place() -> None:
    assert PATRONI_PROCESSES == {"pause": ("patroni",), "crash": ("postmaster",)}
    assert not set(PAUSE_PROCESSES) & {p for ps in PATRONI_PROCESSES.values() for p in ps}


def test_patroni_takes_a_pause_of_patroni_and_a_crash_of_the_postmaster() -> None:
    text = _with(
        PATRONI,
        "{at: 2s, pause: primary, process: patroni, for: 5s}\n"
        "  - {at: 8s, crash: primary, process: postmaster}",
    )
    got = [(s.action, s.target, s.params, s.duration) for s in loads(text).schedule]
    assert got == [
        ("crash", "replica1", {"links": "cut"}, None),
        ("pause", "primary", {"process": "patroni"}, 5.0),
        # the postmaster alone: no links (the node's links stay up), instantaneous
        ("crash", "primary", {"process": "postmaster"}, None),
    ]


def test_a_postmaster_crash_repeats_without_a_for() -> None:
    text = _with(PATRONI, "{at: 2s, crash: primary, process: postmaster, every: 3s, repeat: 2}")
    got = [(s.at, s.params) for s in loads(text).schedule if s.target == "primary"]
    assert got == [(2.0, {"process": "postmaster"}), (5.0, {"process": "postmaster"})]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{at: 2s, crash: primary, process: postmaster, for: 3s}",
            "19: schedule[1].for: '3s' -> no 'for' on a crash with process: postmaster (only "
            "the postmaster tree is killed and Patroni restarts it in place: there is nothing "
            "to heal; for a host crash that lasts, drop process)",
        ),
        (
            "{at: 2s, crash: primary, process: postmaster, links: keep}",
            "19: schedule[1].links: 'keep' -> no links on a crash with process: postmaster "
            "(links: cut | keep is for a host crash; the node's links stay up while Patroni "
            "restarts the postmaster)",
        ),
        (
            "{at: 2s, pause: replica1, process: walreceiver, for: 1s}",
            "19: schedule[1].process: walreceiver -> process: patroni (Patroni alone; "
            "PostgreSQL keeps serving), or no process (Patroni and PostgreSQL frozen "
            "together): under manager: patroni one PostgreSQL server process is not paused "
            "on its own",
        ),
        (
            "{at: 2s, crash: primary, process: patroni}",
            "19: schedule[1].process: 'patroni' -> postmaster (manager: patroni: the "
            "postmaster tree alone, Patroni restarts it), or no process (the whole node)",
        ),
        (
            "{at: 2s, pause: primary, process: postmaster, for: 1s}",
            "19: schedule[1].process: 'postmaster' -> one of walreceiver, walsender, startup, "
            "walwriter, checkpointer, background_writer (a PostgreSQL server process), or "
            "patroni (manager: patroni: Patroni alone)",
        ),
    ],
)
def test_patroni_refuses(step: str, expected: str) -> None:
    assert _problems(_with(PATRONI, step)) == [expected]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "{at: 2s, pause: primary, process: patroni, for: 1s}",
            "8: schedule[1].process: patroni -> one of walreceiver, walsender, startup, "
            "walwriter, checkpointer, background_writer (process: patroni needs "
            "topology.manager: patroni)",
        ),
        (
            "{at: 2s, crash: primary, process: postmaster}",
            "8: schedule[1].process: postmaster -> no process on a crash without "
            "topology.manager: patroni (process: postmaster kills the postmaster alone while "
            "Patroni restarts it; without Patroni, crash with links: keep kills the server on "
            "a live host)",
        ),
    ],
)
def test_plain_postgresql_refuses(step: str, expected: str) -> None:
    assert _problems(_with(PLAIN, step)) == [expected]


def test_plain_postgresql_still_pauses_one_server_process() -> None:
    text = _with(PLAIN, "{at: 2s, pause: replica1, process: walreceiver, for: 1s}")
    assert loads(text).schedule[1].params == {"process": "walreceiver"}


def test_kafka_takes_no_process_on_a_crash_or_a_pause() -> None:
    found = _problems(
        _with(
            KAFKA,
            "{at: 2s, crash: broker1, process: postmaster}\n"
            "  - {at: 3s, pause: broker3, process: patroni, for: 1s}",
        )
    )
    assert found == [
        "10: schedule[1].process: 'postmaster' -> no process on a Kafka crash (process: "
        "postmaster names PostgreSQL's postmaster under manager: patroni; a crash kills the "
        "whole node)",
        "11: schedule[2].process: 'patroni' -> no process on a Kafka pause (process names a "
        "PostgreSQL server process; a broker is one JVM, paused whole)",
    ]
