"""The live view (rpochaos.live): what a state holds, its one line, the ticker and the views,
with fakes of the writer and the observer's newest sample."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from rpochaos.live import LiveState, LiveView, Ticker, largest_lag, state, state_line


class FakeWriter:
    acknowledged = 1234


class FakeSampler:
    def __init__(self, sample: object) -> None:
        self.sample = sample

    def latest(self) -> object:
        if isinstance(self.sample, Exception):
            raise self.sample
        return self.sample


def _state(**kw: object) -> LiveState:
    st: LiveState = {
        "phase": "running",
        "t": 3.25,
        "duration": 10.0,
        "acknowledged": 1234,
        "lag_bytes": 204800,
        "faults": ["partition replica1->primary (blackhole, both)"],
    }
    st.update(kw)  # type: ignore[typeddict-item]
    return st


def test_state_gathers_what_the_view_shows() -> None:
    sampler = FakeSampler({"replicas": [{"lag_bytes": 10}, {"lag_bytes": None}, {"lag_bytes": 30}]})
    st = state("running", 3.14159, 10.0, FakeWriter(), sampler, ["crash primary"])  # type: ignore[arg-type]
    assert st == {
        "phase": "running",
        "t": 3.14,
        "duration": 10.0,
        "acknowledged": 1234,
        "lag_bytes": 30,
        "faults": ["crash primary"],
    }


def test_before_the_writer_and_without_samples_nothing_is_known() -> None:
    st = state("starting", 0.0, 5.0, None, None, [])
    assert (st["acknowledged"], st["lag_bytes"], st["faults"]) == (0, None, [])


def test_the_largest_lag_ignores_what_it_cannot_read() -> None:
    assert largest_lag(FakeSampler(None)) is None  # type: ignore[arg-type]
    assert largest_lag(FakeSampler({"replicas": []})) is None  # type: ignore[arg-type]
    assert largest_lag(FakeSampler({"replicas": [{"lag_bytes": None}]})) is None  # type: ignore[arg-type]
    assert largest_lag(FakeSampler(RuntimeError("observer died"))) is None  # type: ignore[arg-type]
    assert largest_lag(FakeSampler({"replicas": [{"lag_bytes": 7}, "junk"]})) == 7  # type: ignore[arg-type]


def test_state_line() -> None:
    assert state_line(_state()) == (
        "running  t=   3.2/10s  acked    1234  lag   200 KiB  "
        "faults: partition replica1->primary (blackhole, both)"
    )
    assert state_line(_state(lag_bytes=None, faults=[])).endswith("lag       n/a  faults: none")


def test_the_ticker_hands_states_over_while_entered() -> None:
    got: list[LiveState] = []
    seen = threading.Event()

    def on_state(st: LiveState) -> None:
        got.append(st)
        seen.set()

    with Ticker(lambda: _state(), on_state, period_s=0.01):
        assert seen.wait(2.0)
    n = len(got)
    threading.Event().wait(0.05)
    assert len(got) in (n, n + 1)  # stopped (one may have been on its way)
    assert got[0] == _state()


def test_a_failing_source_or_callback_does_not_stop_the_ticker() -> None:
    calls = []

    def source() -> LiveState:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return _state()

    done = threading.Event()
    with Ticker(source, lambda st: done.set(), period_s=0.01):
        assert done.wait(2.0)


def test_plain_mode_prints_a_line_every_two_seconds() -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out, width=200), mode="auto")  # not a terminal: plain
    assert view.mode == "plain"
    view.update(_state())
    view.update(_state(t=3.5))  # within 2 s: not printed
    view.print("t=  1.00s  partition replica1->primary")
    lines = out.getvalue().splitlines()
    assert lines == [state_line(_state()), "t=  1.00s  partition replica1->primary"]


def test_quiet_mode_prints_no_state() -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out), mode="quiet")
    view.update(_state())
    view.stop()
    assert out.getvalue() == ""
