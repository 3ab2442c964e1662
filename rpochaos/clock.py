"""The harness clock: one monotonic clock, mapped once to wall time.

Every time rpochaos records (operation invoke/complete, fault start/end, the outage) is
seconds since ``t0`` on this clock. Node clocks are never used, so clock faults on nodes
cannot distort a measurement.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self.wall_t0 = time.time()

    def now(self) -> float:
        """Seconds since t0."""
        return time.monotonic() - self._t0

    def sleep_until(self, t: float, interrupted: threading.Event | None = None) -> bool:
        """Sleep until harness time ``t``. With ``interrupted`` (an Event), return early and
        False when it is set; True when the time was reached."""
        while True:
            left = t - self.now()
            if left <= 0:
                return True
            if interrupted is not None:
                if interrupted.wait(min(left, 0.5)):
                    return False
            else:
                time.sleep(min(left, 0.5))
