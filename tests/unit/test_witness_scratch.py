"""``rpochaos gc``'s part for the witness: scratch directories (copies of a docker node's
disk) whose owner process is gone are deleted, those of a live process are kept. Real
directories and real processes; no witness runs here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rpochaos.witness.role import OWNER, SCRATCH_PREFIX, gc, own


def _dead_owner(d: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (d / OWNER).write_text(json.dumps({"pid": child.pid, "start": "1"}))


def test_gc_deletes_the_scratch_of_a_dead_run_and_keeps_a_live_ones(tmp_path: Path) -> None:
    dead = tmp_path / f"{SCRATCH_PREFIX}old-abc"
    (dead / "data" / "base").mkdir(parents=True)
    (dead / "data" / "base" / "1").write_bytes(b"x" * 100)
    _dead_owner(dead)
    live = tmp_path / f"{SCRATCH_PREFIX}new-def"
    live.mkdir()
    own(live)
    reused = tmp_path / f"{SCRATCH_PREFIX}old-ghi"  # our pid, another start time: pid reused
    reused.mkdir()
    (reused / OWNER).write_text(json.dumps({"pid": os.getpid(), "start": "0"}))
    young = tmp_path / f"{SCRATCH_PREFIX}new-jkl"  # no owner yet: being made right now
    young.mkdir()
    old_unowned = tmp_path / f"{SCRATCH_PREFIX}new-mno"
    old_unowned.mkdir()
    os.utime(old_unowned, (time.time() - 3600, time.time() - 3600))
    other = tmp_path / "rpochaos-something-else"
    other.mkdir()

    removed = gc(tmp_path)

    assert not dead.exists() and not reused.exists() and not old_unowned.exists()
    assert live.exists() and young.exists() and other.exists()
    assert sorted(removed) == sorted(
        f"witness scratch directory {d}" for d in (dead, reused, old_unowned)
    )
    assert gc(tmp_path) == []
