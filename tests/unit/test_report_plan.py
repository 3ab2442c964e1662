"""The plan as text (rpochaos.report.plan): the timeline, the summary line, units; and the
user documentation's scenarios and plans, which must match what the code prints."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from rpochaos.report.plan import format_plan, format_size, format_summary, real_time
from rpochaos.scenario import Scenario, load, loads
from tests.helpers import PATRONI_TOPOLOGY

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
  duration: 60s
expect:
  rpo: 1s
"""


PLAN = (
    HEAD.replace("duration: 60s", "duration: 10s")
    + """\
schedule:
  - name: cut
    at: 3s
    partition: replica1->primary
    mode: blackhole
    for: 5s
  - after: cut.end
    crash: primary
    outage: true
  - after: cut.end
    at: 500ms
    promote: most_up_to_date
    max_lag: 16MB
  - at: 1s
    latency: client->primary
    delay: 200ms
    jitter: 10ms
  - at: 2s
    pause: replica2
    process: walreceiver
    for: 1s
    every: 2s
    repeat: 2
  - at: 9s
    bandwidth: client->replica1
    rate: 64KB/s
    for: 5s
"""
)


def test_format_plan() -> None:
    assert format_plan(loads(PLAN)) == [
        "t=  1.000s  latency client->primary (200ms delay, 10ms jitter) until the end",
        "t=  2.000s  pause replica2 (walreceiver) until 3.000s  [step4#1]",
        "t=  3.000s  resume replica2  [step4#1]",
        "t=  3.000s  partition replica1->primary (blackhole, both) until 8.000s  [cut]",
        "t=  4.000s  pause replica2 (walreceiver) until 5.000s  [step4#2]",
        "t=  5.000s  resume replica2  [step4#2]",
        "t=  8.000s  heal partition replica1->primary  [cut]",
        "t=  8.000s  crash primary (links cut; stays down)  [outage]",
        "t=  8.500s  promote most_up_to_date (of replica1, replica2; refused beyond 16MB of lag)",
        "t=  9.000s  bandwidth client->replica1 (64KB/s) until 14.000s",
        "t= 10.000s  workload stops; heal all; final read",
    ]


def test_format_plan_shows_real_time_when_compressed() -> None:
    text = HEAD.replace("duration: 60s", "duration: 20m") + (
        "time_scale: 60\n"
        "schedule:\n"
        "  - name: stall\n    at: 3m\n    pause: primary\n    for: 10m\n"
        "  - after: stall.end\n    crash: primary\n    links: keep\n    for: 90s\n"
        "    outage: true\n"
        "  - at: 1m\n    promote: replica1\n"
    )
    assert format_plan(loads(text)) == [
        "t=  1.000s (real 1m00s)  promote replica1",
        "t=  3.000s (real 3m00s)  pause primary (every process) until 13.000s (real 13m00s)"
        "  [stall]",
        "t= 13.000s (real 13m00s)  resume primary  [stall]",
        "t= 13.000s (real 13m00s)  crash primary (links keep) until 14.500s (real 14m30s)"
        "  [outage]",
        "t= 14.500s (real 14m30s)  recover primary (crash ends)",
        "t= 20.000s (real 20m00s)  workload stops; heal all; final read",
    ]
    assert format_summary(loads(text)) == (
        "scenario: workload 6000/s x 1 for 20 s; RPO 0.0166667 s; seed 0; time_scale 60: "
        "20m00s of incident time replayed in 20s (RPO 1s real)"
    )


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

KAFKA_HEAD = """\
system: kafka
topology:
  brokers: 3
  replication_factor: 3
  min_insync_replicas: 2
  unclean_leader_election: false
workload:
  rate: 200/s
  concurrency: 4
  duration: 20m
  acks: all
  enable_idempotence: true
expect:
  rpo: 1s
"""


def test_format_summary_of_kafka_gives_the_durability_knobs() -> None:
    text = KAFKA_HEAD + "schedule:\n  - at: 1s\n    crash: leader\n    outage: true\n"
    assert format_summary(loads(text)) == (
        "scenario: kafka 3 brokers, RF 3, min.insync 2, unclean election off; acks=all "
        "idempotent; workload 200/s x 4 for 1200 s; RPO 1 s; seed 0"
    )
    other = (
        text.replace("brokers: 3", "brokers: 1")
        .replace("replication_factor: 3", "replication_factor: 1")
        .replace("min_insync_replicas: 2", "min_insync_replicas: 1\n  partitions: 4")
        .replace("unclean_leader_election: false", "unclean_leader_election: true")
        .replace("acks: all", "acks: 0")
        .replace("enable_idempotence: true", "enable_idempotence: false")
        .replace("  acks:", "  commit_timeout: 12s\n  acks:")
    )
    assert format_summary(loads(other)) == (
        "scenario: kafka 1 broker, RF 1, min.insync 1, unclean election on, 4 partitions; "
        "acks=0 not idempotent, delivery timeout 12 s; workload 200/s x 4 for 1200 s; RPO 1 s; "
        "seed 0"
    )


def test_format_plan_says_what_kafka_targets_stand_for() -> None:
    text = KAFKA_HEAD + (
        "schedule:\n"
        "  - at: 1s\n    partition: fetch-from:leader\n    mode: reset\n    for: 2s\n"
        "  - at: 2s\n    latency: quorum-of:broker2\n    delay: 10ms\n"
        "  - at: 3s\n    bandwidth: all-of:broker3\n    rate: 1MB/s\n    for: 1s\n"
        "  - at: 4s\n    partition: broker2->broker1\n    mode: blackhole\n"
        "  - at: 5s\n    pause: leader\n    for: 1s\n"
        "  - at: 7s\n    crash: leader\n    for: 2s\n    outage: true\n"
        "  - at: 10s\n    restart: broker2\n"
    )
    now = "partition 0's leader at that moment"
    assert format_plan(loads(text)) == [
        f"t=  1.000s  partition fetch-from:leader (followers' fetches from {now}; reset, both)"
        " until 3.000s",
        "t=  2.000s  latency quorum-of:broker2 (quorum links of broker2; 10ms delay) until the end",
        "t=  3.000s  heal partition fetch-from:leader",
        "t=  3.000s  bandwidth all-of:broker3 (every link of broker3; 1000KB/s) until 4.000s",
        "t=  4.000s  heal bandwidth all-of:broker3",
        "t=  4.000s  partition broker2->broker1 (blackhole, both) until the end",
        f"t=  5.000s  pause leader ({now}; every process) until 6.000s",
        "t=  6.000s  resume leader",
        f"t=  7.000s  crash leader ({now}; links cut) until 9.000s  [outage]",
        "t=  9.000s  recover leader (crash ends)",
        "t= 10.000s  restart broker2",
        "t=1200.000s  workload stops; heal all; final read",
    ]


def test_a_postgres_replica_named_leader_is_not_glossed() -> None:
    text = HEAD.replace("replica1", "leader").replace("duration: 60s", "duration: 10s") + (
        "schedule:\n  - at: 1s\n    crash: leader\n    outage: true\n"
    )
    assert (
        format_plan(loads(text))[0] == "t=  1.000s  crash leader (links cut; stays down)  [outage]"
    )


def test_format_summary_without_scale() -> None:
    assert format_summary(loads(PLAN)) == "scenario: workload 100/s x 1 for 10 s; RPO 1 s; seed 0"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "0.25s"),
        (0.0, "0s"),
        (45.0, "45s"),
        (60.0, "1m00s"),
        (180.0, "3m00s"),
        (600.5, "10m00.5s"),
        (3725.0, "1h02m05s"),
        (76.0391, "1m16.039s"),
    ],
)
def test_real_time(seconds: float, text: str) -> None:
    assert real_time(seconds) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0B"), (1000, "1000B"), (1024, "1kB"), (16 * 2**20, "16MB"), (2**31, "2GB")],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


def test_every_shipped_scenario_has_a_plan() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    files = sorted(root.rglob("*.yaml"))
    assert files
    for f in files:
        sc = load(f)
        plan = format_plan(sc)
        assert plan[-1].endswith("workload stops; heal all; final read")
        starts = [ln for ln in plan if not ln.split("  ", 2)[-1].startswith(("heal", "resume"))]
        assert len(starts) >= len(sc.schedule)
        assert sc.with_seed(sc.seed) == sc


# -- the user documentation ------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_documented_scenarios_load_and_plan_as_the_docs_show() -> None:
    text = DOCS.read_text()
    complete = {
        loads(block).name: loads(block)
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S)
        if re.search(r"^system: (postgres|kafka)$", block, re.M)
    }
    assert {
        "pg-async-partition-crash",
        "flapping-link",
        "wal-stall-then-crash",
        "kafka-acks1-leader-cut-then-killed",
    } <= set(complete)
    shown = {
        m.group(1): m.group(2).splitlines()
        for m in re.finditer(r"\$ rpochaos plan ([\w-]+)\.yaml\n(.*?)```", text, re.S)
    }
    assert set(shown) == {
        "flapping-link",
        "wal-stall-then-crash",
        "kafka-acks1-leader-cut-then-killed",
    }
    for name, lines in shown.items():  # what `rpochaos plan` prints
        assert lines == [format_summary(complete[name]), *format_plan(complete[name])], name
    # the documented Kafka example is the shipped one, minus its longer comment
    shipped = load(SCENARIOS / "kafka-acks1-leader-cut-then-killed.yaml")
    documented = complete["kafka-acks1-leader-cut-then-killed"]
    assert unlined(documented) == unlined(replace(shipped, description="", path=None))


def unlined(sc: Scenario) -> Scenario:
    """``sc`` without the file lines of its steps."""
    return replace(
        sc,
        schedule=tuple(replace(s, line=None) for s in sc.schedule),
        specs=tuple(replace(s, line=None) for s in sc.specs),
    )


def _is_kafka(block: str) -> bool:
    return bool(re.search(r"\bbroker|\bleader\b|\backs:", block))


def test_the_documented_steps_are_valid() -> None:
    """Every yaml snippet of steps in the docs is valid inside a scenario that has its nodes
    (a Kafka one for snippets that name brokers or the leader)."""
    text = DOCS.read_text()
    head = HEAD.replace("duration: 60s", "duration: 20m") + "schedule:\n"
    kafka_head = KAFKA_HEAD + "schedule:\n"
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    snippets = [b for b in blocks if b.startswith("  - ")]
    assert len(snippets) >= 4
    assert sum(_is_kafka(b) for b in snippets) >= 1
    for block in snippets:
        body = block if "outage: true" in block else block + OUTAGE_STEP
        loads((kafka_head if _is_kafka(block) else head) + body)
    # whole sections: each replaces its section of a valid scenario
    sections = [b for b in blocks if b.startswith(("topology:", "workload:", "expect:", "sched"))]
    assert len([b for b in sections if not _is_kafka(b)]) == 5
    assert len([b for b in sections if _is_kafka(b)]) == 2
    base = yaml.safe_load(head + "  - at: 1s\n    crash: primary\n    outage: true\n")
    kafka_base = yaml.safe_load(kafka_head + "  - at: 1s\n    crash: leader\n    outage: true\n")
    for block in sections:
        section = yaml.safe_load(block)
        loads(yaml.safe_dump({**(kafka_base if _is_kafka(block) else base), **section}))


OUTAGE_STEP = "  - at: 19m\n    crash: primary\n    outage: true\n"


def test_format_plan_of_an_archive_recovery() -> None:
    text = (
        "system: postgres\ntime_scale: 30\n"
        "topology:\n  synchronous_commit: 'on'\n  replicas: []\n  archive: {timeout: 60s}\n"
        "workload:\n  rate: 5/s\n  duration: 10m\n"
        "schedule:\n"
        "  - {name: broken, at: 1m, archive_fail: primary, for: 2m}\n"
        "  - {name: dies, at: 8m, crash: primary, outage: true}\n"
        "  - {after: dies, at: 30s, restore: primary}\n"
        "expect:\n  rpo: 5m\n"
    )
    sc = loads(text)
    assert format_plan(sc) == [
        "t=  2.000s (real 1m00s)  archive_fail primary (archive_command fails) until 6.000s "
        "(real 3m00s)  [broken]",
        "t=  6.000s (real 3m00s)  archive_command works again on primary  [broken]",
        "t= 16.000s (real 8m00s)  crash primary (links cut; stays down)  [dies]  [outage]",
        "t= 17.000s (real 8m30s)  restore primary (a new primary from the base backup + WAL "
        "archive)",
        "t= 20.000s (real 10m00s)  workload stops; heal all; final read",
    ]
    assert "; WAL archive with archive_timeout 2 s (1m00s real); time_scale 30" in (
        format_summary(sc)
    )
    endless = loads(text.replace(", for: 2m}", "}"))
    assert format_plan(endless)[0].endswith("(archive_command fails) until the end  [broken]")


def test_a_plan_names_the_patroni_process_a_step_faults() -> None:
    text = (
        PATRONI_TOPOLOGY
        + """\
workload: {rate: 10/s, duration: 40s}
schedule:
  - {at: 2s, pause: primary, process: patroni, for: 28s}
  - {at: 35s, crash: primary, process: postmaster, outage: true}
expect: {rpo: 1s}
"""
    )
    got = format_plan(loads(text))
    assert got[:3] == [
        "t=  2.000s  pause primary (patroni) until 30.000s",
        "t= 30.000s  resume primary",
        "t= 35.000s  crash primary (postmaster alone; Patroni restarts it)  [outage]",
    ]
