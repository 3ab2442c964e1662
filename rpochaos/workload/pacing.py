"""Pacing shared by every writer: evenly spaced start times at a target rate, and the base
of the sequenced writers (worker threads, sequence numbers, the invoke journaled per write)."""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from rpochaos.clock import Clock
from rpochaos.history import Journal, Outcome


class Pacer:
    """Hands out evenly spaced start times; never bursts to catch up after a stall (a
    writer blocked by a fault resumes at the declared rate, not with a backlog)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.next = clock.now()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Sleep until this caller's slot; False when ``stop`` was set meanwhile."""
        with self.lock:
            t = max(self.next, self.clock.now())
            self.next = t + self.interval
        return self.clock.sleep_until(t, stop) and not stop.is_set()


_F = TypeVar("_F")


class WritesInFlight(Generic[_F]):
    """What each worker's write in flight is waiting on (``_F``: its connection, say), so
    another thread (``join``, a commit-timeout watchdog) can abort it. Thread-safe; at most
    one entry per worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_worker: dict[int, _F] = {}

    @contextmanager
    def holding(self, wid: int, write: _F) -> Iterator[None]:
        """``write`` is worker ``wid``'s write in flight for the ``with`` block, however the
        block ends."""
        with self._lock:
            self._by_worker[wid] = write
        try:
            yield
        finally:
            with self._lock:
                self._by_worker.pop(wid, None)

    def now(self) -> list[_F]:
        """The writes in flight at this moment (a copy)."""
        with self._lock:
            return list(self._by_worker.values())


class Paced(Protocol):
    """What a paced writer needs from a workload (rpochaos.scenario.Workload fits)."""

    @property
    def rate(self) -> float: ...  # writes per second, over all workers

    @property
    def concurrency(self) -> int: ...  # worker threads


W = TypeVar("W", bound=Paced)


class PacedWriter(ABC, Generic[W]):
    """What every sequenced writer shares: ``workload.concurrency`` worker threads drawing
    start times from one ``Pacer`` at ``workload.rate``, each write numbered by ``_next_seq``
    (1, 2, 3, ... across all workers, each number handed out once) and journaled on
    ``clock``. ``_stop`` set (``stop_issuing``) means no new writes; ``acknowledged`` counts
    writes that returned ok (``_complete`` counts them). Subclasses supply ``_worker(wid)``;
    ``_join_or_abort`` or ``_wait_workers`` serve their ``join``."""

    def __init__(self, workload: W, journal: Journal, clock: Clock) -> None:
        self.workload = workload
        self.journal = journal
        self.clock = clock
        self._stop = threading.Event()
        self._pacer = Pacer(workload.rate, clock)
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.acknowledged = 0

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _writes(self, wid: int) -> Iterator[int]:
        """Worker ``wid``'s writes: at each start time the pacer gives, the next sequence
        number, its invoke already journaled (at ``clock.now()``); ends once ``_stop`` is
        set. Journaling after the journal closed raises ValueError."""
        while self._pacer.wait(self._stop):
            seq = self._next_seq()
            self.journal.invoke(seq, self.clock.now(), wid)
            yield seq

    def _complete(self, seq: int, outcome: Outcome, node: str | None, note: str | None) -> None:
        """Journal how write ``seq`` ended, at ``clock.now()``; an ``ok`` also counts in
        ``acknowledged``. ValueError once the journal is closed."""
        self.journal.complete(seq, self.clock.now(), outcome, node, note)
        if outcome is Outcome.OK:
            with self._seq_lock:
                self.acknowledged += 1

    def _start_workers(self, prefix: str) -> None:
        """Start one daemon thread ``<prefix>-<wid>`` running ``_worker(wid)`` per worker; a
        ValueError out of ``_worker`` (the journal closed under a stuck worker: the run is
        over) ends its thread quietly."""
        for wid in range(self.workload.concurrency):
            t = threading.Thread(
                target=self._run_worker, args=(wid,), name=f"{prefix}-{wid}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _run_worker(self, wid: int) -> None:
        with contextlib.suppress(ValueError):
            self._worker(wid)

    def stop_issuing(self) -> None:
        """No new writes from now on; writes in flight finish on their own."""
        self._stop.set()

    def _wait_workers(self, timeout_s: float) -> bool:
        """Stop issuing, then wait up to ``timeout_s`` (on ``clock``, for all of them
        together) for every thread started here to end; True when all have."""
        self._stop.set()
        deadline = self.clock.now() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - self.clock.now()))
        return not any(t.is_alive() for t in self._threads)

    def _join_or_abort(self, timeout_s: float, abort: Callable[[], None]) -> bool:
        """``_wait_workers(timeout_s)``; when a thread is still alive after it, call ``abort``
        (which makes the writes in flight fail at once) and give each thread 5 s more. True
        when every thread has ended."""
        if self._wait_workers(timeout_s):
            return True
        abort()
        for t in self._threads:
            t.join(5.0)
        return not any(t.is_alive() for t in self._threads)

    @abstractmethod
    def _worker(self, wid: int) -> None:
        """Issue writes until ``self._pacer.wait(self._stop)`` says stop."""
