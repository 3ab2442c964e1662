"""The audit journal: audit.jsonl in the run directory, append-only, one fsynced JSON line per
record, written *before* each action (write-ahead) so a killed harness leaves its undo behind.

Records (``kind``): ``start`` (who, host, inventory, plan, run id), ``intent`` (``id``, action,
target, ``undo``: what ``heal`` must do), ``outcome`` (``id``, ok/error), ``undone`` (``id``,
by whom: step end, deadline, stop, exit, heal), ``stop`` (why), ``end`` (exit path). An undo is
``{"toxic": {"proxy": P, "name": N}}`` or ``{"unpause": CONTAINER}``; ``pending_undos`` reads
back every intent not yet undone.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rpochaos.jsonl import parse_objects

AUDIT = "audit.jsonl"

Undo = dict[str, object]


class Audit:
    """Thread-safe writer of audit.jsonl; each record is flushed and fsynced when written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._f = path.open("a", encoding="utf-8")
        self._next = 0

    def write(self, kind: str, **fields: object) -> None:
        rec = {"kind": kind, "wall": round(time.time(), 6), **fields}
        with self._lock:
            if self._f.closed:
                return
            self._f.write(json.dumps(rec, sort_keys=False, default=str) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())

    def start(self, **fields: object) -> None:
        self.write(
            "start", user=getpass.getuser(), host=socket.gethostname(), pid=os.getpid(), **fields
        )

    def intent(self, action: str, target: str, undo: list[Undo]) -> int:
        """Record an action about to happen and how to undo it; returns its id."""
        with self._lock:
            self._next += 1
            i = self._next
        self.write("intent", id=i, action=action, target=target, undo=undo)
        return i

    def close(self) -> None:
        with self._lock:
            self._f.close()


def records(path: Path) -> Iterator[dict[str, object]]:
    """Every whole record of an audit journal (a cut last line is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    yield from parse_objects(text)


def pending_undos(path: Path) -> list[tuple[int, Undo]]:
    """(intent id, undo) for every intent of the journal not recorded as undone."""
    intents: dict[int, list[Undo]] = {}
    done: set[int] = set()
    for rec in records(path):
        i = rec.get("id")
        if not isinstance(i, int):
            continue
        undo = rec.get("undo")
        if rec.get("kind") == "intent" and isinstance(undo, list):
            intents[i] = [u for u in undo if isinstance(u, dict)]
        elif rec.get("kind") == "undone":
            done.add(i)
    return [(i, u) for i, undos in intents.items() if i not in done for u in undos]


def ended(path: Path) -> bool:
    return any(r.get("kind") == "end" for r in records(path))


def run_id_of(path: Path) -> str | None:
    for r in records(path):
        if r.get("kind") == "start":
            v = r.get("run_id")
            return str(v) if v is not None else None
    return None
