"""Enough free disk for a run, checked before anything of the run is created.

A run writes its nodes' data directories (PostgreSQL: a fresh cluster plus the WAL segments it
keeps, ~80 MB measured; MariaDB, Kafka and etcd the same order), its journal (two lines per
write) and the servers' logs under its run directory. A disk that fills half-way through a
run stops the servers at an arbitrary point and measures the disk, not the system, so the
run refuses to start when the filesystem that will hold the run directory has less free
space than ``needed_bytes`` estimates, generously: what refuses costs a message, what fills
costs a run.
"""

from __future__ import annotations

import os
from pathlib import Path

from rpochaos.errors import NotEnoughSpace
from rpochaos.scenario import Scenario
from rpochaos.watchdog import Check

#: a node's data directory with its WAL and logs (PostgreSQL measured at 79 MB), rounded up
PER_NODE_BYTES = 100 * 2**20
#: the journal's two lines of one write plus what the servers log and keep for it, rounded up
PER_WRITE_BYTES = 300


def needed_bytes(sc: Scenario) -> int:
    """The free space a run of ``sc`` needs, estimated generously: ``PER_NODE_BYTES`` per node
    (plus an etcd member per Patroni member) and ``PER_WRITE_BYTES`` per declared write."""
    nodes = len(sc.topology.nodes)
    if getattr(sc.topology, "manager", None) == "patroni":
        nodes *= 2  # each member has its etcd member beside it
    writes = int(sc.workload.rate * sc.workload.duration)
    return nodes * PER_NODE_BYTES + writes * PER_WRITE_BYTES


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where the run directory would go)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_space(run_dir: Path, sc: Scenario) -> None:
    """Raise NotEnoughSpace (saying where, how much is free, how much is needed and what
    to do) when the filesystem of ``run_dir`` has less free space than ``sc`` needs."""
    where = _existing(run_dir)
    free = free_bytes(where)
    need = needed_bytes(sc)
    if free >= need:
        return
    writes = int(sc.workload.rate * sc.workload.duration)
    raise NotEnoughSpace(
        f"not enough free disk for this run: {where} has {_mb(free)} free, the run needs "
        f"about {_mb(need)} ({len(sc.topology.nodes)} nodes' data directories and "
        f"{writes:,} writes' journal and WAL). Free some space, or put the run on a larger "
        "disk: --out DIR (or --runs-root DIR)"
    )


#: free space below which a running run stops (heals, keeps its journal, answers UNKNOWN):
#: room left for the journal's last lines, the result and the servers' shutdown
FLOOR_BYTES = 32 * 2**20


def free_bytes(path: Path) -> int:
    """The free space (for unprivileged writers) of the filesystem holding ``path``."""
    st = os.statvfs(_existing(path))
    return st.f_bavail * st.f_frsize


def disk_check(run_dir: Path, floor: int = FLOOR_BYTES) -> Check:
    """A watchdog check (``rpochaos.watchdog``) named ``disk``: alive while the filesystem
    holding ``run_dir`` has at least ``floor`` bytes free. A disk another process fills
    during a run thus stops the run within one watchdog pass, before a server or the
    journal meets ENOSPC: the run heals, keeps a whole journal and answers UNKNOWN."""
    return Check(
        "disk",
        lambda: free_bytes(run_dir) >= floor,
        lambda: f"{run_dir.parent} has {_mb(free_bytes(run_dir))} free, under {_mb(floor)}",
    )
