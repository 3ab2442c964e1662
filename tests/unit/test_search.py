"""The search's pure logic: the space read from a scenario, the strategy, the shrinking rules
and the bisection, against a fake score function (no runs), plus {range:} in plain loads."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rpochaos.errors import ScenarioError
from rpochaos.scenario import loads
from rpochaos.search.boundary import find_boundary
from rpochaos.search.database import ExampleDatabase, StoredFailure
from rpochaos.search.engine import Search
from rpochaos.search.outcome import Outcome, Probe, score_of
from rpochaos.search.output import markdown_table, write_outputs
from rpochaos.search.report import render
from rpochaos.search.space import Candidate, space_of
from rpochaos.search.strategy import first_pass, next_point

ROOT = Path(__file__).resolve().parents[2]
ASYNC = ROOT / "scenarios" / "search" / "async-partition-boundary.yaml"
SYNC = ROOT / "scenarios" / "search" / "sync-never-breaks.yaml"

BASE = """
name: s
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 100/s, duration: 10s}
schedule:
  - name: slow
    at: 1s
    latency: replica1->primary
    delay: {range: [10ms, 500ms]}
    for: 2s
  - name: cut
    at: {between: [1s, 3s]}
    partition: {choose: [replica1->primary, client->replica1]}
    mode: blackhole
    for: {range: [200ms, 6s]}
  - name: dies
    after: cut.end
    crash: primary
    outage: true
expect: {rpo: 1s}
search:
  optional: [slow]
  max_steps: 3
"""


def _space(tmp_path: Path, text: str = BASE) -> object:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return space_of(p)


def fake_score(boundary: float, dim: str = "cut.for", noise: float = 0.0, seed: int = 0):
    """A FAKE score function (pure logic, no run): window/RPO = the dimension / boundary,
    FAIL above 1; with ``noise``, each call's score is off by up to that much."""
    rng = random.Random(seed)
    calls: list[Candidate] = []

    def evaluate(c: Candidate, phase: str) -> Outcome:
        calls.append(c)
        value = c.values[dim]
        assert isinstance(value, float)
        score = value / boundary + rng.uniform(-noise, noise)
        return Outcome("FAIL" if score > 1 else "PASS", score, window=score, lost=0)

    return evaluate, calls


# -- the space ---------------------------------------------------------------------------


def test_every_between_choose_and_range_is_a_dimension(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert space.names == ("slow.delay", "cut.at", "cut.partition", "cut.for")
    d = space.dimension("cut.for")
    assert (d.kind, d.unit, d.low, d.high, d.line) == ("range", "duration", 0.2, 6.0, 18)
    assert space.dimension("cut.partition").options == ("replica1->primary", "client->replica1")
    assert space.optional == ("slow",) and space.max_steps == 3
    assert space.score == "window/rpo" and space.rpo == 1.0


def test_a_candidate_is_written_as_a_runnable_file_with_fixed_values(tmp_path: Path) -> None:
    space = _space(tmp_path)
    c = Candidate(
        {"slow.delay": 0.05, "cut.at": 1.5, "cut.partition": "client->replica1", "cut.for": 1.25},
        frozenset({"slow"}),
    )
    text = space.text(c, "# header\n")
    assert text.startswith("# header\n") and "search:" not in text and "range" not in text
    sc = loads(text, "c.yaml")
    assert [s.action for s in sc.schedule] == ["partition", "crash"]
    cut = sc.schedule[0]
    assert (cut.at, cut.duration, cut.target) == (1.5, 1.25, "client->replica1")


def test_the_space_must_be_finite_and_bounded_before_anything_runs(tmp_path: Path) -> None:
    fixed = BASE.replace("{range: [10ms, 500ms]}", "10ms").replace("{range: [200ms, 6s]}", "1s")
    fixed = fixed.replace("{between: [1s, 3s]}", "1s").replace(
        "{choose: [replica1->primary, client->replica1]}", "replica1->primary"
    )
    with pytest.raises(ScenarioError) as e:
        _space(tmp_path, fixed.replace("  optional: [slow]\n", ""))
    assert "a search space: at least one dimension or optional step" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        _space(tmp_path, BASE.replace("[200ms, 6s]", "[6s, 200ms]"))
    assert "s.yaml:18: schedule[1].for.range: got LOW 6s > HIGH 200ms" in str(e.value)


def test_range_draws_from_the_seed_on_a_plain_load_within_its_bounds() -> None:
    plain = BASE.split("search:")[0]
    a, b = loads(plain), loads(plain)
    assert a.schedule == b.schedule
    lat = next(s for s in a.schedule if s.action == "latency")
    assert 0.01 <= lat.float_param("delay") <= 0.5
    other = loads(plain.replace("name: s\n", "name: s\nseed: 7\n"))
    assert {s.duration for s in other.schedule} != {s.duration for s in a.schedule}


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ("{range: [1s]}", "schedule[1].for.range: got a list, expected [LOW, HIGH]"),
        ("{range: [1s, 2x]}", "schedule[1].for.range: got ['1s', '2x'], expected [LOW, HIGH]"),
    ],
)
def test_a_malformed_range_is_one_problem_at_its_line(range_: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as e:
        loads(BASE.replace("{range: [200ms, 6s]}", range_), "f.yaml")
    assert f"f.yaml:18: {expected}" in str(e.value)
    assert len(e.value.problems) == 1


def test_search_section_rules_are_checked_with_lines() -> None:
    text = BASE.replace("optional: [slow]", "optional: [slow, dies, nope]").replace(
        "max_steps: 3", "max_steps: 0"
    )
    with pytest.raises(ScenarioError) as e:
        loads(text, "f.yaml")
    shown = str(e.value)
    assert "search.optional[1]: got 'dies', expected a step that is not the outage step" in shown
    assert "search.optional[2]: got 'nope', expected a step's name" in shown
    assert "search.max_steps: got 0, expected an integer from 1 to 16" in shown


def test_the_shipped_search_scenarios_have_the_spaces_the_docs_describe() -> None:
    a = space_of(ASYNC)
    assert a.names == ("cut.for",) and a.rpo == 1.0
    assert (a.dimension("cut.for").low, a.dimension("cut.for").high) == (0.2, 6.0)
    assert space_of(SYNC).names == ("cut.at", "cut.for")


# -- the strategy ------------------------------------------------------------------------


@given(st.integers(1, 12), st.integers(0, 2**32))
@example(7, 15).via("a value drawn below a boundary that rounds into the next stratum")
@example(4, 4077).via("found by hypothesis in a helper's run")
@example(12, 1054).via("found by hypothesis in a helper's run")
@settings(max_examples=50, deadline=None)
def test_the_first_pass_puts_one_point_in_each_stratum(n: int, seed: int) -> None:
    space = space_of(ASYNC)
    d = space.dimension("cut.for")
    points = first_pass(space, n, random.Random(seed))
    strata = sorted(min(int(d.fraction(c.values["cut.for"]) * n), n - 1) for c in points)
    assert strata == list(range(n))


@given(
    st.floats(0, 10),
    st.floats(0.01, 10),
    st.floats(0, 3),
    st.floats(0, 3),
    st.floats(0.001, 1),
)
@settings(deadline=None)
def test_a_bisection_step_stays_strictly_inside_the_bracket(
    lo: float, width: float, s1: float, s2: float, margin: float
) -> None:
    hi = lo + width
    x = next_point(lo, hi, s1, s2, 1.0, margin)
    assert lo < x < hi or width == 0


def test_an_exact_secant_lands_on_the_boundary_then_just_across() -> None:
    x = next_point(0.2, 6.0, 0.2, 6.0, 1.0, 0.05)
    assert x == pytest.approx(1.0)
    # the bracket is now [0.2, 1.0]; the next point is kept a tenth of it inside (> margin)
    assert next_point(0.2, 1.0, 0.2, 1.0, 1.0, 0.05) == pytest.approx(0.92)
    assert next_point(0.2, 1.0, 0.2, 1.0, 1.0, 0.3) == pytest.approx(0.7)


# -- the loop, shrinking, boundary ---------------------------------------------------------


def test_search_finds_within_ten_and_shrinks_to_within_the_resolution_of_the_boundary() -> None:
    space = space_of(ASYNC)
    evaluate, calls = fake_score(1.0)
    r = Search(space, evaluate, budget=10, seed=3).run()
    assert r.status == "found" and r.searched <= 10
    final = r.final
    assert final is not None and isinstance(final.values["cut.for"], float)
    assert 1.0 < final.values["cut.for"] <= 1.0 + 0.025 * 5.8 + 0.001
    assert r.reproduction is not None and r.reproduction.rate == "3/3"
    assert len(calls) == len(r.examples) < 30


def test_a_smaller_candidate_is_kept_only_when_it_fails_in_m_of_k() -> None:
    outcomes = iter(["FAIL", "PASS", "PASS"])  # K=3, M=2: fails once, passes twice

    def evaluate(c: Candidate, phase: str) -> Outcome:
        return Outcome(next(outcomes), 1.0)

    v = Probe(evaluate, 3, 2)(Candidate({"cut.for": 1.0}), "shrink")
    assert v.rate == "1/3" and not Probe(evaluate, 3, 2).failing(v)
    early = iter(["FAIL", "FAIL", "PASS"])
    v = Probe(lambda c, p: Outcome(next(early), 1.0), 3, 2)(Candidate({"cut.for": 1.0}), "s")
    assert v.rate == "2/2"  # decided after two runs: the third is not run


def test_shrinking_drops_optional_steps_that_do_not_matter(tmp_path: Path) -> None:
    space = _space(tmp_path)
    evaluate, _ = fake_score(2.0)
    r = Search(space, evaluate, budget=10, seed=1).run()
    assert r.final is not None and "slow" in r.final.dropped
    assert r.final.values["slow.delay"] == 0.01 and r.final.values["cut.at"] == 1.0
    assert r.shrunk is not None and any("dropped slow" in s for s in r.shrunk.steps)


def test_nothing_breaks_then_the_budget_is_spent_and_says_none() -> None:
    evaluate, calls = fake_score(100.0)
    r = Search(space_of(SYNC), evaluate, budget=6).run()
    assert r.status == "none" and r.searched == 6 == len(calls) and r.found is None


def test_unknown_verdicts_make_the_search_unknown_not_none() -> None:
    r = Search(space_of(ASYNC), lambda c, p: Outcome("UNKNOWN"), budget=3).run()
    assert r.status == "unknown"


def test_the_shrink_wall_clock_cap_stops_shrinking() -> None:
    evaluate, _ = fake_score(1.0)
    ticks = iter(range(1000))
    r = Search(
        space_of(ASYNC), evaluate, budget=10, shrink_seconds=0, clock=lambda: next(ticks)
    ).run()
    assert r.shrunk is not None and r.shrunk.stopped == "the wall-clock cap"


@pytest.mark.parametrize("boundary", [0.5, 1.0, 2.5, 4.5])
def test_boundary_mode_brackets_to_fifteen_percent_in_twelve_runs(boundary: float) -> None:
    space = space_of(ASYNC)
    evaluate, calls = fake_score(boundary, noise=0.02, seed=int(boundary * 10))
    b = find_boundary(space.dimension("cut.for"), space.full(), Probe(evaluate, 1, 1), 12)
    assert b.passing is not None and b.failing is not None
    assert b.passing < b.failing and b.runs == len(calls) <= 12
    assert b.estimate is not None and abs(b.estimate - boundary) / boundary <= 0.1


def test_boundary_mode_says_when_the_verdict_never_flips() -> None:
    evaluate, _ = fake_score(100.0)
    space = space_of(ASYNC)
    b = find_boundary(space.dimension("cut.for"), space.full(), Probe(evaluate, 1, 1), 12)
    assert b.failing is None and "both ends pass" in b.note and b.runs == 2


def test_the_database_replays_the_stored_failure_first(tmp_path: Path) -> None:
    space = space_of(ASYNC)
    db = ExampleDatabase(tmp_path)
    stored = Candidate({"cut.for": 1.1})
    db.record(space.content_hash, space.name, [], StoredFailure(stored, True, "3/3", "x"))
    db.record("another", "other", [], StoredFailure(Candidate({"x": 1.0}), True, "1/1", ""))
    evaluate, calls = fake_score(1.0)
    r = Search(space, evaluate, budget=10, stored=db.failures(space.content_hash)).run()
    assert calls[0] == stored and r.replayed == 1 and r.examples[0].phase == "replay"
    assert r.final == stored  # a stored minimal failure is not shrunk again
    (tmp_path / "search-examples.json").write_text("{not json")
    assert ExampleDatabase(tmp_path).failures(space.content_hash) == []


def test_score_of_reads_counts_and_the_window_not_the_lists() -> None:
    result = {"writes": {"lost": 3}, "data_loss_window_s": 2.0, "rto_s": 4.0}
    assert score_of(result, "window/rpo", 0.5, None) == 4.0
    assert score_of(result, "lost", 1.0, None) == 3.0
    assert score_of(result, "rto", 1.0, 2.0) == 2.0
    assert score_of({"writes": {"lost": 0}}, "window/rpo", 1.0, None) == 0.0


def test_outputs_table_found_file_and_page(tmp_path: Path) -> None:
    space = space_of(ASYNC)
    evaluate, _ = fake_score(1.0)
    r = Search(space, evaluate, budget=10, seed=2).run()
    found = write_outputs(tmp_path, space, r)
    assert found is not None and found.name == "async-partition-boundary.found.yaml"
    text = found.read_text()
    assert "# Reproduce: rpochaos run " in text and "failed in 3/3" in text
    sc = loads(text, str(found))
    assert sc.schedule[0].duration == r.final.values["cut.for"]  # type: ignore[union-attr]
    table = markdown_table(space, r.examples)
    assert table.count("\n") == len(r.examples) + 2 and "| FAIL |" in table
    page = render(space, r, ["summary <line>"])
    assert "<svg" in page and "summary &lt;line&gt;" in page and "<script" not in page


# -- the command's bad input (nothing runs) ----------------------------------------------


def _cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rpochaos.search", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--budget", "0"], "--budget: got 0, expected an integer >= 1"),
        (["--boundary", "cut.at"], "--boundary: got cut.at, expected a numeric dimension: cut.for"),
        (["--repeats", "2", "--min-fails", "3"], "--min-fails: got 3, expected an integer from 1"),
    ],
)
def test_bad_arguments_exit_254_before_anything_runs(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    proc = _cmd(str(ASYNC), "--runs-root", str(tmp_path), *args)
    assert proc.returncode == 254, proc.stdout + proc.stderr
    assert expected in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir())  # no run, no directory


def test_a_bad_file_exits_254_with_its_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("[200ms, 6s]", "[6s, 200ms]"))
    proc = _cmd(str(bad), "--runs-root", str(tmp_path / "runs"))
    assert proc.returncode == 254 and f"{bad}:18: schedule[1].for.range" in proc.stdout
    proc = _cmd(str(tmp_path / "missing.yaml"))
    assert proc.returncode == 254 and "no such file" in proc.stdout
