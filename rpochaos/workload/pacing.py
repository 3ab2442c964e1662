"""Pacing shared by every writer: evenly spaced start times at a target rate."""

from __future__ import annotations

import threading

from rpochaos.clock import Clock


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
