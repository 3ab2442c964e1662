"""The order the runner acts in (rpochaos.faults.steps.timeline): pure."""

from __future__ import annotations

from rpochaos.faults.steps import timeline
from rpochaos.scenario import loads

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
