"""Node-level faults: what Toxiproxy cannot do.

``Crash`` SIGKILLs every process of a node at once (no shutdown, no flush; the OS page cache
survives, so this is a process crash, not a power loss). Healing a crash restarts the node
(crash recovery). A crash that the scenario never heals is not a Fault but a one-way action.
"""

from __future__ import annotations

from typing import Protocol

from rpochaos.faults.base import Fault


class Crashable(Protocol):
    name: str

    def crash(self) -> None: ...
    def restart(self) -> None: ...


class Crash(Fault):
    kind = "crash"

    def __init__(self, node: Crashable) -> None:
        super().__init__(node.name)
        self.node = node

    def _inject(self) -> None:
        self.node.crash()

    def _heal(self) -> None:
        self.node.restart()
