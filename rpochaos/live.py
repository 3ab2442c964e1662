"""The live view of a running run: what it shows, how often, and how it is drawn.

The runner composes a ``LiveState`` (``state``) every 0.25 s while the schedule runs
(``Ticker``) and hands it to the caller's ``on_state``; the CLI's ``LiveView`` draws it: one
refreshing line on a terminal, a line every 2 s in plain mode (CI logs), nothing when quiet.
Nothing here changes a run: a failing ``on_state`` or observer is ignored.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypedDict

from rpochaos.closing import Closing

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from rpochaos.roles import LatestSample, Writer


class LiveState(TypedDict):
    """One moment of a run: its phase (starting, running, healing), harness seconds, the
    workload's duration, acknowledged writes, the largest replication lag the observer last
    saw (bytes; None when unknown), and the active faults, described."""

    phase: str
    t: float
    duration: float
    acknowledged: int
    lag_bytes: int | None
    faults: list[str]


def largest_lag(sampler: LatestSample | None) -> int | None:
    """The largest ``lag_bytes`` in the observer's newest sample (None: none known)."""
    if sampler is None:
        return None
    lag = None
    with contextlib.suppress(Exception):
        latest = sampler.latest() or {}
        replicas = latest.get("replicas") or []
        lags = [
            r.get("lag_bytes")
            for r in (replicas if isinstance(replicas, list) else [])
            if isinstance(r, Mapping)
        ]
        lag = max((x for x in lags if isinstance(x, int)), default=None)
    return lag


def state(
    phase: str,
    t: float,
    duration: float,
    writer: Writer | None,
    sampler: LatestSample | None,
    faults: Iterable[str],
) -> LiveState:
    """What the live view shows now."""
    return {
        "phase": phase,
        "t": round(t, 2),
        "duration": duration,
        "acknowledged": writer.acknowledged if writer is not None else 0,
        "lag_bytes": largest_lag(sampler),
        "faults": list(faults),
    }


class Ticker(Closing):
    """While entered, a daemon thread hands ``source()`` to ``on_state`` every ``period_s``
    (nothing when ``on_state`` is None); errors in either are ignored. ``close`` (leaving the
    block) stops it without waiting for the thread."""

    def __init__(
        self,
        source: Callable[[], LiveState],
        on_state: Callable[[LiveState], None] | None,
        period_s: float = 0.25,
    ) -> None:
        self.source = source
        self.on_state = on_state
        self.period_s = period_s
        self._stop = threading.Event()

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            if self.on_state is not None:
                with contextlib.suppress(Exception):
                    self.on_state(self.source())

    def __enter__(self) -> Ticker:
        threading.Thread(target=self._loop, name="live-ticker", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()


def state_line(st: LiveState) -> str:
    """One line of text for a live state."""
    lag = st.get("lag_bytes")
    faults = ", ".join(st.get("faults") or []) or "none"
    return (
        f"{st['phase']:8s} t={st['t']:6.1f}/{st['duration']:g}s  acked {st['acknowledged']:>7}"
        f"  lag {'n/a' if lag is None else f'{lag / 1024:,.0f} KiB':>9}  faults: {faults}"
    )


class LiveView:
    """The live progress of a run: one refreshing line on a terminal ('auto'), a line every
    2 s in 'plain' mode (CI logs), nothing in 'quiet' mode."""

    def __init__(self, con: Console, mode: str) -> None:
        self.con = con
        self.mode = "plain" if mode == "auto" and not con.is_terminal else mode
        self.live: Live | None = None
        self.last_plain = 0.0
        self.lock = threading.Lock()

    def print(self, msg: str) -> None:
        with self.lock:
            target = self.live.console if self.live is not None else self.con
            target.print(msg, style="dim", markup=False, highlight=False)

    def update(self, st: LiveState) -> None:
        from rich.live import Live
        from rich.text import Text

        if self.mode == "quiet":
            return
        line = state_line(st)
        with self.lock:
            if self.mode == "plain":
                if time.monotonic() - self.last_plain >= 2.0:
                    self.last_plain = time.monotonic()
                    self.con.print(line, markup=False, highlight=False)
                return
            if self.live is None:
                self.live = Live(Text(line), console=self.con, refresh_per_second=4, transient=True)
                self.live.start()
            else:
                self.live.update(Text(line))

    def stop(self) -> None:
        with self.lock:
            if self.live is not None:
                self.live.stop()
                self.live = None
