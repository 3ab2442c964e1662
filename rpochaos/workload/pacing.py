"""Pacing shared by every writer: evenly spaced start times at a target rate, and the base
of the sequenced writers (worker threads, sequence numbers, the invoke journaled per write)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from rpochaos.clock import Clock
from rpochaos.history import Journal


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
    ``clock``. ``_stop`` set means no new writes; ``acknowledged`` counts writes that
    returned ok (a subclass increments it). Subclasses supply ``_worker(wid)``."""

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

    def _start_workers(self, prefix: str) -> None:
        """Start one daemon thread ``<prefix>-<wid>`` running ``_worker(wid)`` per worker."""
        for wid in range(self.workload.concurrency):
            t = threading.Thread(
                target=self._worker, args=(wid,), name=f"{prefix}-{wid}", daemon=True
            )
            t.start()
            self._threads.append(t)

    @abstractmethod
    def _worker(self, wid: int) -> None:
        """Issue writes until ``self._pacer.wait(self._stop)`` says stop."""
