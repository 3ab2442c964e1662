"""``archive_fail``: the primary's archive_command fails while the fault is in force.

The archive_command a topology with ``archive`` runs (``rpochaos.topology.postgres``) first
checks a flag file and exits non-zero while it exists, without copying anything; injecting
this fault creates the flag, healing removes it. What it emulates: an archive destination
that stops accepting segments (expired credentials for the bucket, a full or unmounted
archive volume, a network path to the backup host that is down) while the primary runs on
and keeps acknowledging commits. PostgreSQL keeps every segment it could not archive in
pg_wal (as ``.ready``) and retries, so once healed the backlog is archived; only a primary
that dies while the fault is in force loses what was never archived.
"""

from __future__ import annotations

import os
from pathlib import Path

from rpochaos.faults.base import Fault


class ArchiveFail(Fault):
    """While active, the flag file ``flag`` exists and the node's archive_command fails."""

    kind = "archive_fail"

    def __init__(self, target: str, flag: Path) -> None:
        super().__init__(target)
        self.flag = flag

    def _inject(self) -> None:
        self.flag.touch()
        os.chmod(self.flag, 0o644)

    def _heal(self) -> None:
        self.flag.unlink(missing_ok=True)
