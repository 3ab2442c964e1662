"""Finding a server's own processes by their title (Linux /proc), for pausing one of them.

PostgreSQL names its processes ``postgres: <cluster_name>: <role> ...`` (e.g.
``postgres: replica1: walreceiver streaming 0/3000148``); with ``cluster_name`` set per node
that tells nodes apart on one machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path


def _children_by_parent() -> dict[int, list[int]]:
    """Every live process's PID under its parent's PID, from one pass over /proc (a process
    that exits during the pass is left out)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def children(parent_pid: int) -> list[int]:
    """Direct children of ``parent_pid``."""
    return _children_by_parent().get(parent_pid, [])


def trees(roots: Sequence[int]) -> list[int]:
    """Every process at or below ``roots``, each once, parents first, from one pass over
    /proc."""
    kids = _children_by_parent()
    out: list[int] = []
    todo = list(roots)
    while todo:
        p = todo.pop(0)
        if p not in out:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from one pass over /proc (parents first)."""
    return trees([pid])


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def postgres_process(postmaster_pid: int, node: str, role: str) -> list[int]:
    """PIDs of the postmaster's children whose title is ``postgres: <node>: <role>...``.
    ``role`` uses underscores for spaces (``background_writer``)."""
    prefix = f"postgres: {node}: {role.replace('_', ' ')}"
    return [p for p in children(postmaster_pid) if title(p).startswith(prefix)]


def state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (``R``, ``S``, ``T`` stopped, ``Z``...), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def wait_stopped(pids: list[int], timeout_s: float = 1.0) -> bool:
    """Wait (bounded) until every process of ``pids`` is stopped by a signal, or gone; True
    when they all were within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if all(state(p) in (None, "T", "t", "Z", "X") for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (present and not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def postmasters_where(wanted: Callable[[str], bool]) -> list[int]:
    """PIDs of live processes ``.../postgres -D DIR ...`` whose ``DIR`` is ``wanted``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            len(argv) >= 3
            and argv[0].endswith(b"/postgres")
            and argv[1] == b"-D"
            and wanted(argv[2].decode(errors="replace"))
            and alive(int(d.name))
        ):
            out.append(int(d.name))
    return out


def postmasters_under(root: Path) -> list[int]:
    """PIDs of live postmasters (``postgres -D DIR``) whose data directory is below ``root``:
    what a run killed with SIGKILL leaves behind (Patroni starts them detached)."""
    prefix = str(root).rstrip("/") + "/"
    return postmasters_where(lambda d: d.startswith(prefix))
