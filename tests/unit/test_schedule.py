"""The schedule language resolved: seeds, after-chains, repetitions, time_scale, the plan."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rpochaos.scenario import Between, Choose, Scenario, Step, StepSpec, load, loads
from rpochaos.schedule import (
    format_plan,
    format_size,
    format_summary,
    real_time,
    resolve,
    start_bounds,
)

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

#: every random feature at once, with chains and repetitions
RANDOM = (
    HEAD
    + """\
schedule:
  - after: cut.end
    at: {between: [0s, 2s]}
    crash: primary
    outage: true
  - name: cut
    at: {between: [1s, 5s]}
    partition: {choose: [replica1->primary, replica2->primary]}
    mode: blackhole
    for: {between: [2s, 10s]}
  - name: flap
    at: {between: [0s, 3s]}
    latency: {choose: [client->primary, client->replica1, client->replica2]}
    delay: 100ms
    for: {between: [500ms, 2s]}
    every: 4s
    repeat: 5
  - after: cut
    at: 1s
    pause: {choose: [replica1, replica2]}
    for: {between: [1s, 2s]}
  - after: cut.end
    at: {between: [3s, 4s]}
    promote: {choose: [replica1, replica2]}
"""
)


def instance(step: Step) -> int:
    """0-based repetition number of a resolved step."""
    if step.name is None or "#" not in step.name:
        return 0
    return int(step.name.rsplit("#", 1)[1]) - 1


def check_within_bounds(sc: Scenario) -> None:
    """Every resolved step is where its spec says it can be, whatever the seed."""
    n = sc.time_scale
    specs = {s.source_index: s for s in sc.specs}
    bounds = start_bounds(sc.specs, n)
    by_name = {s.name: s for s in sc.schedule if s.name is not None}
    for step in sc.schedule:
        spec = specs[step.source_index]
        k = instance(step)
        every = 0.0 if spec.every is None else spec.every / n
        lo, hi = bounds[spec.source_index]
        assert lo + k * every <= step.at <= hi + k * every
        assert 0 <= step.at < sc.workload.duration
        if isinstance(spec.duration, Between):
            assert step.duration is not None
            assert spec.duration.low / n <= step.duration <= spec.duration.high / n
            if spec.every is not None:
                assert step.duration <= every  # heals before it recurs
        if isinstance(spec.target, Choose):
            assert step.target in spec.target.options
        else:
            assert step.target == spec.target
        if spec.after is not None:  # exactly where its reference says
            ref = by_name[spec.after]
            base = ref.at + ((ref.duration or 0.0) if spec.after_end else 0.0)
            offset = step.at - base
            if isinstance(spec.at, Between):
                assert spec.at.low / n - 1e-9 <= offset <= spec.at.high / n + 1e-9
            else:
                assert offset == pytest.approx(spec.at / n, abs=1e-9)


# -- seeds -----------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_timeline() -> None:
    a, b = loads("seed: 11\n" + RANDOM), loads("seed: 11\n" + RANDOM)
    assert a.schedule == b.schedule
    assert format_plan(a) == format_plan(b)
    assert a.with_seed(3) == b.with_seed(3)
    assert a.with_seed(3).with_seed(11) == a


def test_different_seeds_give_different_timelines() -> None:
    sc = loads(RANDOM)
    plans = {tuple(format_plan(sc.with_seed(seed))) for seed in range(10)}
    assert len(plans) == 10


def test_with_seed_is_the_file_with_that_seed() -> None:
    """`rpochaos run FILE --seed N` runs exactly what FILE with `seed: N` would."""
    base = loads(RANDOM)
    for seed in (-5, 0, 1, 2**40):
        assert base.with_seed(seed) == loads(RANDOM + f"seed: {seed}\n")  # same lines


#: parsed once: the properties below re-resolve them with each seed (no YAML per example)
SCALED = {n: loads(f"time_scale: {n}\n" + RANDOM) for n in (1.0, 1.5, 7.0, 60.0)}


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**63), 2**63))
def test_every_resolved_step_is_within_its_bounds_for_any_seed(seed: int) -> None:
    sc = SCALED[1.0].with_seed(seed)
    assert len(sc.schedule) == 9
    check_within_bounds(sc)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(sorted(SCALED)))
def test_every_resolved_step_is_within_its_bounds_at_any_scale(seed: int, scale: float) -> None:
    sc = SCALED[scale].with_seed(seed)
    assert sc.time_scale == scale
    check_within_bounds(sc)


def test_draws_are_made_in_file_order() -> None:
    """A random step added at the end changes nothing before it; the after-chains do not
    change the draw order (the first step, after a later one, draws first)."""
    more = RANDOM + "  - at: {between: [0s, 50s]}\n    restart: {choose: [replica1, primary]}\n"
    a, b = loads(RANDOM), loads(more)
    assert a.schedule == tuple(s for s in b.schedule if s.source_index < 5)
    import random

    rng = random.Random(0)
    first_at = min(max(round(rng.uniform(0.0, 2.0), 3), 0.0), 2.0)
    cut_at = min(max(round(rng.uniform(1.0, 5.0), 3), 1.0), 5.0)
    by_source = {s.source_index: s for s in a.schedule}
    assert by_source[1].at == cut_at
    cut = by_source[1]
    assert cut.duration is not None
    assert by_source[0].at == pytest.approx(cut_at + cut.duration + first_at)


def test_random_durations_are_whole_milliseconds_of_declared_time() -> None:
    for seed in range(20):
        sc = SCALED[60.0].with_seed(seed)
        for s in sc.schedule:
            declared = s.at * 60
            assert declared == pytest.approx(round(declared, 3), abs=1e-6)


# -- resolve ---------------------------------------------------------------------------------


def test_resolve_is_what_load_uses() -> None:
    sc = loads("seed: 4\n" + RANDOM)
    assert resolve(sc, 4) == sc.schedule
    assert resolve(list(sc.specs), 4) == sc.schedule
    assert resolve(sc, 5) == sc.with_seed(5).schedule


def test_resolve_scales_every_declared_time() -> None:
    specs = [
        StepSpec(0, "crash", "primary", at=60.0, duration=120.0, name="c"),
        StepSpec(1, "restart", "replica1", at=30.0, after="c", after_end=True),
        StepSpec(2, "restart", "replica1", at=Between(6.0, 6.0), every=12.0, repeat=2),
    ]
    steps = {(s.source_index, s.name): s for s in resolve(specs, 0, time_scale=6)}
    assert steps[(0, "c")].at == 10.0 and steps[(0, "c")].duration == 20.0
    assert steps[(1, None)].at == 35.0
    assert steps[(2, "step2#1")].at == 1.0 and steps[(2, "step2#2")].at == 3.0


def test_resolve_keeps_a_scenario_without_specs_as_it_is() -> None:
    sc = loads(HEAD + "schedule:\n  - at: 1s\n    crash: primary\n    outage: true\n")
    bare = Scenario(**{**sc.__dict__, "specs": ()})
    assert resolve(bare, 123) == sc.schedule
    assert bare.with_seed(123).schedule == sc.schedule


@pytest.mark.parametrize(
    "specs",
    [
        [StepSpec(0, "restart", "primary", after="nope")],
        [
            StepSpec(0, "restart", "primary", after="b", name="a"),
            StepSpec(1, "restart", "primary", after="a", name="b"),
        ],
        [
            StepSpec(0, "restart", "primary", name="a"),
            StepSpec(1, "restart", "primary", after="a", after_end=True),
        ],
    ],
)
def test_resolve_rejects_what_load_reports(specs: list[StepSpec]) -> None:
    with pytest.raises(ValueError):
        resolve(specs, 0)


def test_resolve_rejects_a_time_scale_below_one() -> None:
    with pytest.raises(ValueError):
        resolve([StepSpec(0, "restart", "primary")], 0, time_scale=0.5)


def test_indices_are_unique_and_in_file_order_then_repetition_order() -> None:
    sc = loads(RANDOM)
    assert sorted(s.index for s in sc.schedule) == list(range(len(sc.schedule)))
    by_index = sorted(sc.schedule, key=lambda s: s.index)
    assert [(s.source_index, instance(s)) for s in by_index] == [
        (0, 0),
        (1, 0),
        *((2, k) for k in range(5)),
        (3, 0),
        (4, 0),
    ]
    assert [s.at for s in sc.schedule] == sorted(s.at for s in sc.schedule)


def test_start_bounds() -> None:
    specs = [
        StepSpec(0, "crash", "primary", at=Between(1.0, 2.0), duration=Between(3.0, 4.0), name="a"),
        StepSpec(1, "restart", "primary", at=Between(0.5, 1.0), after="a", after_end=True),
    ]
    assert start_bounds(specs) == {0: (1.0, 2.0), 1: (4.5, 7.0)}
    assert start_bounds(specs, 2.0) == {0: (0.5, 1.0), 1: (2.25, 3.5)}


# -- the plan --------------------------------------------------------------------------------

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
