"""The fault contract.

A fault is injected by ``__enter__`` and healed by ``__exit__``, always, whatever ended the
block. ``heal`` is idempotent: healing twice, or healing what was never injected, is a no-op.
An inject that failed with an error left nothing in force (each fault cleans up after
itself); one cut short by KeyboardInterrupt counts as injected, so that heal undoes it.
A fault knows its ``kind`` (partition, latency, ...) and its ``target`` (a link or node name)
so the run record can say what was wrong and where.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Fault(ABC):
    kind: str = "fault"

    def __init__(self, target: str) -> None:
        self.target = target
        self.active = False

    @abstractmethod
    def _inject(self) -> None:
        """Make the fault happen. Called at most once per activation."""

    @abstractmethod
    def _heal(self) -> None:
        """Undo the fault. Called only while active."""

    def inject(self) -> None:
        if not self.active:
            try:
                self._inject()
            except BaseException as e:
                # cut short (Ctrl-C mid-call): part of it may be in force, so heal undoes it
                self.active = not isinstance(e, Exception)
                raise
            self.active = True

    def heal(self) -> None:
        if self.active:
            self.active = False
            self._heal()

    def __enter__(self) -> Self:
        self.inject()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.heal()

    def describe(self) -> str:
        return f"{self.kind} {self.target}"
