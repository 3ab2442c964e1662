"""The WAL side of the witness: where the timelines split, and what the old primary committed
after that, read with PostgreSQL's own tools (no SQL).

- The fork point: when a standby is promoted it starts a new timeline N and writes
  ``pg_wal/<N as 8 hex digits>.history``, one line per ancestor timeline: ``parent-TLI
  <tab> switchpoint-LSN <tab> reason``. The line of the old primary's timeline gives the LSN
  where the promoted node stopped following it: everything the old primary wrote from there on
  is on its disk only.
- The commits past the fork: ``pg_waldump -t TLI -s FORK`` over the old primary's pg_wal lists
  every record from the fork on. A transaction *wrote the workload's table* when one of its
  Heap/Heap2 records references the table's relation (``blkref #k: rel SPC/DB/RELFILENODE``);
  its ``Transaction`` record ``COMMIT <timestamp>`` (the commit time, whatever
  track_commit_timestamp says) counts it. pg_waldump ends with an error at the end of the WAL
  ("error in WAL record at ..."; "could not find a valid record after ..." when nothing
  follows the fork): that is the normal end, not a failure.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: a WAL segment file name: timeline, then the segment number (8 + 16 hex digits)
_SEGMENT_RE = re.compile(r"([0-9A-F]{8})[0-9A-F]{16}")
_HISTORY_RE = re.compile(r"([0-9A-F]{8})\.history")
_LSN_RE = re.compile(r"[0-9A-F]+/[0-9A-F]+")
_RECORD_RE = re.compile(
    r"^rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):[^,]*, tx:\s*(?P<xid>\d+), "
    r"lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev [0-9A-F]+/[0-9A-F]+, desc: (?P<desc>.*)$"
)
_BLKREF_RE = re.compile(r"blkref #\d+: rel (\d+/\d+/\d+)")
_COMMIT_RE = re.compile(r"^COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z+\-0-9:]+)?)")
_SUBXACTS_RE = re.compile(r"subxacts: ((?:\d+ ?)+)")
#: how pg_waldump says it reached the end of the WAL
_END_OF_WAL = ("error in WAL record at", "could not find a valid record after")


class WalError(Exception):
    """The WAL could not be read: the message says what and where."""


@dataclass(frozen=True)
class Fork:
    """Where the promoted node's timeline left the old primary's."""

    lsn: str
    old_timeline: int
    new_timeline: int


def lsn_value(lsn: str) -> int:
    """'0/30040F8' -> its byte position."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def parse_history(text: str) -> list[tuple[int, str]]:
    """The (parent timeline, switchpoint LSN) pairs of a timeline history file, in order;
    comments and blank lines skipped. WalError on a line that is neither."""
    out: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = body.split()
        if len(parts) < 2 or not parts[0].isdigit() or not _LSN_RE.fullmatch(parts[1]):
            raise WalError(f"timeline history line {n}: expected 'TLI LSN reason', got {line!r}")
        out.append((int(parts[0]), parts[1]))
    return out


def fork_from_history(text: str, new_timeline: int, old_timeline: int) -> Fork:
    """The fork between ``old_timeline`` (the old primary's) and ``new_timeline`` (the promoted
    node's), from the new timeline's history file ``text``. WalError when the new timeline does
    not descend from the old one."""
    for tli, lsn in parse_history(text):
        if tli == old_timeline:
            return Fork(lsn=lsn, old_timeline=old_timeline, new_timeline=new_timeline)
    raise WalError(
        f"timeline {new_timeline}'s history does not contain the old primary's timeline "
        f"{old_timeline}: the promoted node did not fork from it"
    )


def newest_timeline(pg_wal: Path) -> int:
    """The highest timeline among the WAL segments (and history files) in ``pg_wal``: the
    timeline a server last wrote on. WalError when there is none."""
    tlis: list[int] = []
    try:
        names = [p.name for p in pg_wal.iterdir()]
    except OSError as e:
        raise WalError(f"cannot list {pg_wal}: {e.strerror}") from None
    for name in names:
        m = _SEGMENT_RE.fullmatch(name) or _HISTORY_RE.fullmatch(name)
        if m:
            tlis.append(int(m.group(1), 16))
    if not tlis:
        raise WalError(f"{pg_wal} holds no WAL segment")
    return max(tlis)


def fork_from_datadir(promoted: Path, old_timeline: int) -> Fork:
    """The fork, read from the promoted node's data directory (its newest history file)."""
    pg_wal = Path(promoted) / "pg_wal"
    new = newest_timeline(pg_wal)
    if new <= old_timeline:
        raise WalError(
            f"the promoted node is on timeline {new}, not after the old primary's "
            f"{old_timeline}: it was never promoted past it"
        )
    path = pg_wal / f"{new:08X}.history"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise WalError(f"cannot read {path}: {e.strerror}") from None
    return fork_from_history(text, new, old_timeline)


@dataclass
class WalScan:
    """What pg_waldump listed from the fork on: for each transaction, the relations its
    Heap/Heap2 records touched; for each committed one, its commit time; how it ended."""

    records: int = 0
    rels_by_xid: dict[int, set[str]] = field(default_factory=dict)
    commits: dict[int, str] = field(default_factory=dict)  # xid -> commit time as printed
    subxacts: dict[int, list[int]] = field(default_factory=dict)  # top xid -> its subxacts
    end: str = ""  # pg_waldump's last message

    def commits_touching(self, rel: str) -> dict[int, str]:
        """Committed transactions (xid -> commit time) one of whose records (or one of whose
        subtransactions' records) touched relation ``rel`` ('SPC/DB/RELFILENODE')."""
        out: dict[int, str] = {}
        for xid, when in self.commits.items():
            xids = [xid, *self.subxacts.get(xid, [])]
            if any(rel in self.rels_by_xid.get(x, ()) for x in xids):
                out[xid] = when
        return out


def parse_waldump(lines: Iterable[str]) -> WalScan:
    """Parse pg_waldump's record lines (others are ignored)."""
    scan = WalScan()
    for line in lines:
        m = _RECORD_RE.match(line)
        if m is None:
            continue
        scan.records += 1
        xid, rmgr, desc = int(m["xid"]), m["rmgr"], m["desc"]
        if rmgr in ("Heap", "Heap2") and xid != 0:
            rels = _BLKREF_RE.findall(desc)
            if rels:
                scan.rels_by_xid.setdefault(xid, set()).update(rels)
        elif rmgr == "Transaction":
            c = _COMMIT_RE.match(desc)
            if c is not None:
                scan.commits[xid] = c.group(1)
                if s := _SUBXACTS_RE.search(desc):
                    scan.subxacts[xid] = [int(x) for x in s.group(1).split()]
    return scan


def run_waldump(pg_waldump: Path, pg_wal: Path, fork: Fork, *, timeout_s: float = 60.0) -> WalScan:
    """pg_waldump over ``pg_wal`` on the old timeline from the fork LSN to the end of the WAL.
    WalError when it fails other than by reaching the end of the WAL."""
    argv = [str(pg_waldump), "-p", str(pg_wal), "-t", str(fork.old_timeline), "-s", fork.lsn]
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, cwd="/"
        )
    except subprocess.TimeoutExpired:
        raise WalError(f"pg_waldump did not finish within {timeout_s:g} s") from None
    except OSError as e:
        raise WalError(f"cannot run {pg_waldump}: {e.strerror}") from None
    err = out.stderr.strip()
    if out.returncode != 0 and not any(marker in err for marker in _END_OF_WAL):
        raise WalError(f"pg_waldump failed (exit {out.returncode}): {err[-500:]}")
    scan = parse_waldump(out.stdout.splitlines())
    scan.end = err.splitlines()[-1] if err else ""
    return scan


def segment_position(lsn: str, segment_bytes: int) -> str:
    """The last 16 hex digits of the name of the WAL segment holding ``lsn`` (the segment's
    position, without the timeline), for segments of ``segment_bytes``."""
    per_id = 0x1_0000_0000 // segment_bytes
    segno = lsn_value(lsn) // segment_bytes
    return f"{segno // per_id:08X}{segno % per_id:08X}"


def needed_wal(names: Iterable[str], first_position: str) -> list[str]:
    """Of the file names in a pg_wal directory, those a copy needs: every segment (of any
    timeline) at or after ``first_position`` (see ``segment_position``) and every other file
    (history, .partial, .backup); not ``archive_status``, nor segments before it."""
    out = []
    for name in names:
        if name == "archive_status":
            continue
        if _SEGMENT_RE.fullmatch(name) and name[8:] < first_position:
            continue
        out.append(name)
    return sorted(out)
