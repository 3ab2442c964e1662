"""Node-level faults: what Toxiproxy cannot do.

``Crash`` kills every process of a node at once (SIGKILL: no shutdown, no flush). Whether the
node's links die with it is the topology's business (``links: cut`` in a scenario). Healing
a crash recovers the node: links back, server restarted (crash recovery). A crash that the
scenario never heals is not a Fault but a one-way action.
"""

from __future__ import annotations

from collections.abc import Callable

from rpochaos.faults.base import Fault


class Reversible(Fault):
    """A fault that is a pair of callables on ``target``: ``do`` injects it, ``undo`` heals
    it (``Fault`` calls each at most once per injection). Subclasses name the ``kind``."""

    def __init__(self, target: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        super().__init__(target)
        self._do = do
        self._undo = undo

    def _inject(self) -> None:
        self._do()

    def _heal(self) -> None:
        self._undo()


class Crash(Reversible):
    """``do`` crashes the node, ``undo`` recovers it (module docstring)."""

    kind = "crash"


class Pause(Reversible):
    """SIGSTOP a node (every process of it) or one named server process; heal is SIGCONT.

    The processes keep their sockets and state; peers see silence, then their own timeouts
    (wal_sender_timeout, wal_receiver_timeout). Pausing one process shows which part of
    replication each commit level depends on (see docs/faults.md)."""

    kind = "pause"


class FaultGroup(Fault):
    """Several faults that act as one (e.g. a partition of every link of a group): injected
    in order, healed in reverse; a failed injection heals what was already injected."""

    def __init__(self, target: str, faults: list[Fault]) -> None:
        super().__init__(target)
        self.faults = faults
        self.kind = faults[0].kind if faults else "group"

    def _inject(self) -> None:
        done: list[Fault] = []
        try:
            for f in self.faults:
                f.inject()
                done.append(f)
        except BaseException:
            for f in reversed(done):
                f.heal()
            raise

    def _heal(self) -> None:
        errors: list[BaseException] = []
        for f in reversed(self.faults):
            try:
                f.heal()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]
