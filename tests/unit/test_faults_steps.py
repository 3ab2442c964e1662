"""The order the runner acts in (rpochaos.faults.steps.timeline): pure; and what a Patroni
process step asks of its cluster (fakes)."""

from __future__ import annotations

from pathlib import Path

from rpochaos.faults.steps import Steps, timeline
from rpochaos.roles import Powers
from rpochaos.scenario import loads
from rpochaos.store import EventLog, read_events
from tests.helpers import PATRONI_TOPOLOGY

SCENARIO = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 10/s, duration: 10s}
schedule:
  - {at: 1s, partition: replica1->primary, mode: blackhole, for: 2s}
  - {at: 3s, latency: client->primary, delay: 10ms, for: 1s}
  - {at: 5s, pause: replica1, for: 8s}
  - {at: 6s, crash: primary, outage: true}
  - {at: 7s, restart: replica1}
expect: {rpo: 10s}
"""


def test_ends_come_before_starts_at_one_instant_and_late_ends_are_left_to_the_stop() -> None:
    got = [(t, kind, s.action) for t, kind, s in timeline(loads(SCENARIO))]
    assert got == [
        (1.0, "start", "partition"),
        (3.0, "end", "partition"),  # the end at 3 s comes before the start at 3 s
        (3.0, "start", "latency"),
        (4.0, "end", "latency"),
        (5.0, "start", "pause"),
        (6.0, "start", "crash"),  # without 'for': no end
        (7.0, "start", "restart"),
        # the pause would end at 13 s, after the workload: healed when the workload stops
    ]


PATRONI = (
    PATRONI_TOPOLOGY
    + """\
workload: {rate: 10/s, duration: 40s}
schedule:
  - {at: 2s, pause: primary, process: patroni, for: 28s}
  - {at: 35s, crash: primary, process: postmaster, outage: true}
expect: {rpo: 1s}
"""
)


class PatroniCluster:
    """A fake Patroni cluster: records what the steps asked of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.nodes = {"primary": object(), "replica1": object()}

    def crash(self, name: str, cut_links: bool = True, on_down: object = None) -> None:
        self.calls.append(f"host crash {name}")

    def crash_postmaster(self, name: str) -> None:
        self.calls.append(f"crash_postmaster {name}")

    def pause_patroni(self, name: str) -> None:
        self.calls.append(f"pause_patroni {name}")

    def resume_patroni(self, name: str) -> None:
        self.calls.append(f"resume_patroni {name}")


class Nodes:
    def node(self, cluster: object, target: str) -> str:
        return target


class Dog:
    def __init__(self) -> None:
        self.said: list[str] = []

    def expect_down(self, what: str) -> None:
        self.said.append(f"down {what}")

    def expect_up(self, what: str) -> None:
        self.said.append(f"up {what}")


def test_patroni_process_steps_signal_patroni_or_the_postmaster_alone(tmp_path: Path) -> None:
    sc = loads(PATRONI)
    cluster = PatroniCluster()
    powers = Powers(None, None, None, None, None, patroni=cluster)
    events = EventLog(tmp_path / "events.jsonl")
    steps = Steps(Nodes(), cluster, powers, None, None, events,  # type: ignore[arg-type]
                  lambda: 1.0, lambda _: None, lambda: None)  # fmt: skip
    steps.watch = dog = Dog()
    pause, crash = sc.schedule
    steps.start(pause)
    assert cluster.calls == ["pause_patroni primary"]
    assert steps.describe_active() == ["pause primary:patroni"]
    steps.end(pause)
    steps.start(crash)
    assert cluster.calls[1:] == ["resume_patroni primary", "crash_postmaster primary"]
    assert steps.active == {}  # instantaneous: nothing to heal
    assert dog.said == []  # Patroni, which the watchdog watches, never went down
    events.close()
    written = [e for e in read_events(tmp_path / "events.jsonl") if e["index"] == 1]
    assert [e["type"] for e in written] == ["step_start", "outage", "step_effective"]
    assert written[0]["instant"] is True and written[0]["params"] == {"process": "postmaster"}
