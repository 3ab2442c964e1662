"""The schedule language resolved: seeds, after-chains, repetitions, time_scale."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpochaos.report.plan import format_plan
from rpochaos.scenario import Between, Choose, Scenario, Step, StepSpec, loads
from rpochaos.schedule import resolve, start_bounds

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
