"""The witness of a Patroni run: which node's disk to read, and a copy of it taken before
Patroni may rewind it.

When a crashed old leader comes back, its Patroni finds it on a diverged timeline and runs
pg_rewind (``use_pg_rewind``), which erases whatever it alone held past the fork: the very
writes the witness must find. So the topology calls ``Snapshots.before_rejoin(name)`` in its
``recover``, after the node is down and before its Patroni starts again; that copies the
node's data directory (``cp -a --reflink=auto``, as the database user, like every
PostgreSQL program of ``rpochaos.backends.local``; on docker a one-shot container of the
node copies it out of its volume to a host scratch directory) when the node is a rewind
candidate (``wants``): it
led a term that another node's term followed, since its last copy. The rejoin waits for the
copy (``Snapshot.took_s``). A copy that failed is remembered (``failed``): the witness then
says why it cannot read that node, rather than read the rewound disk.

``leaders(records)`` lists the leader terms of leadership.jsonl (``rpochaos.patroni.watch``)
and ``old_leader(records, final_node)`` names the node whose disk the witness reads: the
last leader before the final read's node (the initial leader, ``primary``, when the run has
no leadership record).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: the initial leader of a Patroni topology (``rpochaos.patroni.topology.PRIMARY``)
FIRST_LEADER = "primary"
#: the local snapshot's place beside the node's data directory: ``<home>/pgdata.witness``
SNAPSHOT_NAME = "witness"
Copier = Callable[[str], tuple[str, int | None]]
Log = Callable[[str], None]


def leaders(records: Sequence[Mapping[str, object]]) -> list[str]:
    """The leaders of the run's terms in order (``leader_change`` records' ``to``; nobody
    leading is no term; a repeated leader is one term)."""
    out: list[str] = []
    for rec in records:
        if rec.get("type") != "leader_change" or rec.get("to") is None:
            continue
        to = str(rec["to"])
        if not out or out[-1] != to:
            out.append(to)
    return out


def old_leader(
    records: Sequence[Mapping[str, object]], final_node: str, first: str = FIRST_LEADER
) -> str | None:
    """The node whose disk the witness reads: the last leader other than ``final_node``
    (``first`` when the records name none); None when that is ``final_node`` itself."""
    others = [n for n in leaders(records) if n != final_node]
    old = others[-1] if others else first
    return None if old == final_node else old


@dataclass(frozen=True)
class Snapshot:
    """A copy of a node's data directory taken before its Patroni started again."""

    node: str
    #: where the copy is on the host
    path: str
    #: on the harness's monotonic clock
    at: float
    #: how long the copy took: what it delayed the node's rejoin by
    took_s: float
    #: its size in bytes (None: not measured)
    bytes: int | None = None


@dataclass
class Snapshots:
    """The copies of a run's old leaders (module doc). ``copy(node)`` makes one and returns
    (its path, its size or None); ``records()`` reads leadership.jsonl so far."""

    copy: Copier
    records: Callable[[], list[dict[str, object]]]
    log: Log
    first: str = FIRST_LEADER
    taken: dict[str, Snapshot] = field(default_factory=dict)
    #: the node -> why its copy failed
    failed: dict[str, str] = field(default_factory=dict)
    #: the node -> how many leader terms the records held at its copy
    _terms_at: dict[str, int] = field(default_factory=dict)

    def wants(self, node: str, terms: Sequence[str]) -> bool:
        """Whether ``node`` may be rewound when it rejoins: it led a term after its last copy
        and some other node led after it; with no leadership record at all (no observer), the
        first leader, once."""
        if not terms:
            return node == self.first and node not in self.taken and node not in self.failed
        mine = [i for i, n in enumerate(terms) if n == node]
        if not mine or terms[-1] == node:
            return False
        return mine[-1] >= self._terms_at.get(node, 0)

    def before_rejoin(self, node: str) -> None:
        """Copy ``node``'s disk if it ``wants`` one (the topology's ``recover`` calls this
        while the node is down, before its Patroni starts). Never raises."""
        try:
            terms = leaders(self.records())
            if not self.wants(node, terms):
                return
            t0 = time.monotonic()
            path, size = self.copy(node)
        except Exception as e:  # a failed copy must not stop the node's rejoin
            lines = str(e).strip().splitlines() or [type(e).__name__]
            self.failed[node] = " ".join(dict.fromkeys([lines[0], lines[-1]]))
            self.taken.pop(node, None)
            self.log(f"witness: could not copy {node}'s disk before it rejoined: {e}")
            return
        took = time.monotonic() - t0
        self.taken[node] = Snapshot(node, path, t0, round(took, 6), size)
        self.failed.pop(node, None)
        self._terms_at[node] = len(terms)
        mb = "" if size is None else f", {size / 1e6:.0f} MB"
        self.log(f"witness: copied {node}'s disk before it rejoins ({took:.2f} s{mb})")


def snapshot_path(data_dir: Path) -> Path:
    """Where the local copy of ``data_dir`` goes: beside it, ``pgdata.witness``."""
    return data_dir.with_name(f"{data_dir.name}.{SNAPSHOT_NAME}")
