"""What validates runs: every limit a run or the OS imposes is a problem at validation, with
the file's line, the key, what was given and what was expected (rpochaos.scenario.limits)."""

from __future__ import annotations

import pytest

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario import loads

BASE = """\
name: limits
system: postgres
seed: 1
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
workload:
  rate: 100/s
  concurrency: 2
  duration: 10s
schedule:
  - at: 1s
    latency: client->primary
    delay: 10ms
  - at: 2s
    crash: primary
    outage: true
expect:
  rpo: 1s
"""

KAFKA = """\
system: kafka
topology:
  brokers: 3
  replication_factor: 3
  min_insync_replicas: 2
  unclean_leader_election: false
workload:
  rate: 100/s
  duration: 10s
  acks: all
  enable_idempotence: true
schedule:
  - at: 2s
    crash: leader
    outage: true
expect:
  rpo: 1s
"""


def only(text: str) -> Problem:
    with pytest.raises(ScenarioError) as info:
        loads(text, "t.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def test_the_base_files_are_valid() -> None:
    loads(BASE)
    loads(KAFKA)


LATENCY = "latency: client->primary\n    delay: 10ms"


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "expected"),
    [
        ("name: limits", "name: " + "a" * 201, "name", 1, "at most 200 characters"),
        ("seed: 1", "seed: " + "9" * 4301, "seed", 3, "ordinary size"),
        ("seed: 1", "seed: " + str(2**63), "seed", 3, "an integer from"),
        (
            "concurrency: 2",
            "concurrency: 100000000000000000000",
            "workload.concurrency",
            11,
            "an integer from 1 to 1000",
        ),
        ("duration: 10s", "duration: " + "9" * 300 + "s", "workload.duration", 12, "7 days"),
        ("duration: 10s", "duration: 10081m", "workload.duration", 12, "at most 7 days"),
        ("rpo: 1s", "rpo: 604801s", "expect.rpo", 21, "at most 7 days"),
        ("rate: 100/s", "rate: 1000001/s", "workload.rate", 10, "at most 1000000/s"),
        ("name: limits", "time_scale: 10001", "time_scale", 1, "at most 10000"),
        (
            "name: replica1",
            "name: r" + "1" * 63,
            "topology.replicas[0].name",
            7,
            "at most 63 characters",
        ),
        ("delay: 10ms", "delay: 10081m", "schedule[0].delay", 16, "at most 7 days"),
        (
            LATENCY,
            "bandwidth: client->primary\n    rate: 10001MB/s",
            "schedule[0].rate",
            16,
            "at most 10000MB/s",
        ),
        (
            LATENCY,
            "clock_skew: primary\n    offset: -10081m",
            "schedule[0].offset",
            16,
            "at most 7 days",
        ),
        (
            LATENCY,
            "clock_skew: primary\n    offset: 1s\n    drift_ppm: 1000001",
            "schedule[0].drift_ppm",
            17,
            "at most 1e+06",
        ),
        (
            "  - at: 1s\n",
            "  - name: " + "s" * 101 + "\n    at: 1s\n",
            "schedule[0].name",
            14,
            "at most 100 characters",
        ),
    ],
)
def test_a_limit_is_a_problem_at_its_line(
    old: str, new: str, key: str, line: int, expected: str
) -> None:
    assert old in BASE
    p = only(BASE.replace(old, new, 1))
    assert (p.key, p.line) == (key, line), p
    assert expected in p.expected, p


def test_a_scaled_rate_is_bounded_in_the_run() -> None:
    p = only(
        BASE.replace("rate: 100/s", "rate: 1000/s").replace("name: limits", "time_scale: 2000")
    )
    assert p.key == "workload.rate" and p.line == 10
    assert p.given == "'1000/s' x time_scale 2000 = 2e+06/s"


def test_too_many_replicas() -> None:
    many = "".join(f"    - name: r{i}\n      mode: async\n" for i in range(17))
    p = only(BASE.replace("    - name: replica1\n      mode: async\n", many))
    assert (p.key, p.line, p.given) == ("topology.replicas", 7, "a list of 17")


def test_too_many_steps_each_repetition_counted() -> None:
    step = (
        "  - at: 1s\n    latency: client->primary\n    delay: 1ms\n"
        "    for: 1ms\n    every: 1ms\n    repeat: 6000\n"
    )
    text = BASE.replace("schedule:\n", "schedule:\n" + step + step)
    p = only(text)
    assert (p.key, p.line) == ("schedule", 13)
    assert p.given == "12002 steps (each repetition counted)"


def test_kafka_partitions_are_bounded() -> None:
    p = only(
        KAFKA.replace(
            "  unclean_leader_election: false\n",
            "  unclean_leader_election: false\n  partitions: 1001\n",
        )
    )
    assert (p.key, p.line) == ("topology.partitions", 7)
    assert "an integer from 1 to 1000" in p.expected


def test_a_long_value_is_shown_shortened() -> None:
    p = only(BASE.replace("duration: 10s", "duration: " + "9" * 300 + "s"))
    assert len(p.given) < 120 and "more" in p.given


def test_a_huge_integer_key_is_a_problem() -> None:
    p = only(BASE + "? " + "9" * 5000 + "\n: 1\n")
    assert p.expected == "a text key" and p.line == 22
