"""The PostgreSQL witness: read the old primary's own disk after a run.

``witness(...)`` takes the old primary's data directory (crashed or isolated, but no longer
running) and the promoted node (its data directory, or a conninfo reaching it), and:

1. reads the fork point from the promoted node's newest timeline history file
   (``rpochaos.witness.wal``);
2. copies the old primary's data directory (``cp -a --reflink=auto``, as the database user,
   the way ``rpochaos.backends.local`` runs every PostgreSQL program), so the original is
   never written to;
3. runs pg_waldump over the copy's WAL from the fork on, *before* the copy starts;
4. strips every recovery and replication setting from the copy (standby.signal,
   recovery.signal, a stale postmaster.pid; primary_conninfo, restore_command, archive and
   sync-standby settings, and the paths Patroni writes, in postgresql.conf, Patroni's
   postgresql.base.conf and postgresql.auto.conf), gives it its own
   pg_hba.conf (trust, 127.0.0.1 only) and starts it as a standalone server on a private free
   loopback port with archiving and replication off; crash recovery replays its WAL;
5. reads every sequence number on it, and the full rows the new primary lacks (with their
   transaction id and, when track_commit_timestamp was on, commit time; otherwise the commit
   time pg_waldump printed);
6. kills the copy's server and deletes the copy.

It never raises for what can go wrong with the old primary's disk: the report's ``status`` is
then ``unavailable`` and ``why`` says why. The server is a child of the calling process (and
dies with it), registered in ``<work_dir>/pids.json`` so ``rpochaos gc`` finds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from rpochaos import deps
from rpochaos.backends.local import LocalBackend, LocalNode
from rpochaos.errors import MissingDependency, RpochaosError
from rpochaos.topology.postgres import DB_NAME, DB_USER, TABLE
from rpochaos.waiting import wait_until
from rpochaos.witness.classify import format_ranges, ranges
from rpochaos.witness.model import CommitTimeSource, OldRow, Status, Timings, WitnessReport
from rpochaos.witness.wal import (
    Fork,
    WalError,
    WalScan,
    fork_from_datadir,
    fork_from_history,
    needed_wal,
    newest_timeline,
    run_waldump,
    segment_position,
)

#: configuration keys removed from the copy's postgresql.conf and postgresql.auto.conf
STRIPPED_SETTINGS = frozenset(
    {
        "primary_conninfo",
        "primary_slot_name",
        "restore_command",
        "archive_command",
        "archive_library",
        "archive_mode",
        "archive_cleanup_command",
        "recovery_end_command",
        "promote_trigger_file",
        "synchronous_standby_names",
        "recovery_target",
        "recovery_target_lsn",
        "recovery_target_name",
        "recovery_target_time",
        "recovery_target_xid",
        "recovery_target_timeline",
        "recovery_target_action",
        "recovery_target_inclusive",
        "hba_file",
        # Patroni names its own files by absolute path: the copy's are its defaults
        "ident_file",
        "data_directory",
        "external_pid_file",
        "port",
        "listen_addresses",
        "unix_socket_directories",
    }
)
#: files removed from the copy: it must start as a primary, and a crashed server's pid file
#: may name a pid that some other process has by now
STRIPPED_FILES = ("standby.signal", "recovery.signal", "postmaster.pid")
_KEY_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?")
PlantHook = Callable[["psycopg.Connection[TupleRow]"], None]


class Unavailable(Exception):
    """The witness cannot read the old primary; the message says why."""


def strip_conf(text: str) -> str:
    """``text`` (a postgresql.conf) without the lines setting a key of ``STRIPPED_SETTINGS``."""
    kept = []
    for line in text.splitlines(keepends=True):
        m = _KEY_RE.match(line)
        if m is not None and m.group(1).lower() in STRIPPED_SETTINGS:
            continue
        kept.append(line)
    return "".join(kept)


def running_postmaster(datadir: Path) -> int | None:
    """The pid in ``datadir/postmaster.pid`` when that process is alive and is a server of
    this data directory (PostgreSQL works in its data directory: its cwd is ``datadir``,
    links resolved; or, when the cwd cannot be read, its command line names ``datadir``),
    else None."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if state == "Z":
        return None
    try:
        return pid if Path(os.readlink(f"/proc/{pid}/cwd")) == datadir.resolve() else None
    except OSError:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return None
        return pid if str(datadir) in cmd else None


def fork_from_conninfo(conninfo: str, old_timeline: int) -> Fork:
    """The fork, read over SQL from the promoted node (a superuser connection): its current
    timeline and that timeline's history file."""
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as c:
            row = c.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
            assert row is not None
            new = int(str(row[0])[:8], 16)
            if new <= old_timeline:
                raise WalError(
                    f"the promoted node is on timeline {new}, not after the old primary's "
                    f"{old_timeline}"
                )
            hist = c.execute("SELECT pg_read_file(%s)", (f"pg_wal/{new:08X}.history",)).fetchone()
    except psycopg.Error as e:
        raise WalError(f"cannot read the fork from the promoted node: {e}".strip()) from None
    assert hist is not None
    return fork_from_history(str(hist[0]), new, old_timeline)


def _controldata(bindir: Path, datadir: Path) -> dict[str, str]:
    """pg_controldata of ``datadir`` as a mapping (key -> value text); {} when it fails."""
    try:
        out = subprocess.run(
            [str(bindir / "pg_controldata"), "-D", str(datadir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    pairs = (line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _first_needed(control: dict[str, str], fork: Fork, datadir: Path) -> str | None:
    """The position of the oldest WAL segment the copy needs: the one holding the last
    checkpoint's redo point (crash recovery starts there) or the fork (pg_waldump starts
    there), whichever is older. None (copy every segment) when pg_controldata did not say, or
    a backup_label makes recovery start elsewhere."""
    redo = control.get("Latest checkpoint's REDO WAL file", "")
    size = control.get("Bytes per WAL segment", "")
    if len(redo) != 24 or not size.isdigit() or (datadir / "backup_label").exists():
        return None
    return min(redo[8:], segment_position(fork.lsn, int(size)))


def du(path: Path) -> int:
    """The bytes of every file under ``path`` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / f).lstat().st_size
    return total


class _Copy:
    """The old primary's disk, copied and started as a standalone server."""

    def __init__(
        self, backend: LocalBackend, node: str, source: Path, bindir: Path, timeout_s: float
    ) -> None:
        self.backend = backend
        self.bindir = bindir
        self.datadir = backend.data_root() / f"{node}-witness"
        self.handle: LocalNode = backend.node(f"{node}-witness", data_dir=self.datadir)
        self.source = source
        self.timeout_s = timeout_s
        self.skipped_segments = 0

    def copy(self, first_position: str | None) -> None:
        """Copy the data directory, as the database user, without the WAL segments before
        ``first_position`` (None: every segment). pg_wal becomes a real directory of the copy
        even when the original's is a link (the copy must never write into the original's).
        Unavailable when the cluster has tablespaces (links the copy would write through)."""
        src = self.source
        if any((src / "pg_tblspc").iterdir()):
            raise Unavailable("the old primary has tablespaces (pg_tblspc): not supported")
        self.handle.prepare()
        top = sorted(p.name for p in src.iterdir() if p.name != "pg_wal")
        wal_names = [p.name for p in (src / "pg_wal").iterdir()]
        wal = needed_wal(wal_names, first_position or "")
        self._run(["cp", "-a", "--reflink=auto", *(str(src / n) for n in top), str(self.datadir)])
        self._run(["mkdir", "-p", "-m", "0700", str(self.datadir / "pg_wal" / "archive_status")])
        if wal:
            self._run(
                [
                    "cp",
                    "-a",
                    "--reflink=auto",
                    *(str(src / "pg_wal" / n) for n in wal),
                    str(self.datadir / "pg_wal"),
                ]
            )
        os.chmod(self.datadir, 0o700)
        self.skipped_segments = len([n for n in wal_names if n != "archive_status"]) - len(wal)

    def _run(self, argv: list[str]) -> None:
        self.handle.run(argv, timeout_s=self.timeout_s, what="copy of the old primary's disk")

    def strip(self) -> None:
        """Make the copy a standalone primary that reaches nothing and nobody but us."""
        for name in STRIPPED_FILES:
            with contextlib.suppress(FileNotFoundError):
                (self.datadir / name).unlink()
        for name in ("postgresql.conf", "postgresql.base.conf", "postgresql.auto.conf"):
            path = self.datadir / name
            if path.exists():
                path.write_text(strip_conf(path.read_text(encoding="utf-8", errors="replace")))
        hba = self.datadir / "witness_hba.conf"
        hba.write_text("host all all 127.0.0.1/32 trust\n")
        st = self.datadir.stat()
        with contextlib.suppress(PermissionError):
            os.chown(hba, st.st_uid, st.st_gid)

    def argv(self, track_commit_timestamp: bool) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.handle.port),
            "unix_socket_directories": "",
            "hba_file": str(self.datadir / "witness_hba.conf"),
            "cluster_name": self.handle.name,
            "archive_mode": "off",
            "archive_command": "",
            "restore_command": "",
            "primary_conninfo": "",
            "primary_slot_name": "",
            "synchronous_standby_names": "",
            "max_wal_senders": "0",
            "hot_standby": "off",
            "autovacuum": "off",
            "fsync": "off",  # a disposable copy: no need to make its own writes durable
            "track_commit_timestamp": "on" if track_commit_timestamp else "off",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        return argv

    def conninfo(self, user: str) -> str:
        return (
            f"host=127.0.0.1 port={self.handle.port} dbname={DB_NAME} user={user} connect_timeout=2"
        )

    def start(self, track_commit_timestamp: bool, user: str, timeout_s: float) -> None:
        self.handle.start(self.argv(track_commit_timestamp))

        def ready() -> bool:
            if not self.handle.running():
                raise Unavailable(
                    "the copy of the old primary's disk did not start:\n" + self.handle.log_tail()
                )
            with psycopg.connect(self.conninfo(user), autocommit=True) as c:
                c.execute("SELECT 1")
            return True

        wait_until(
            "the copy of the old primary did not accept connections (crash recovery)",
            timeout_s,
            ready,
            self.handle.log_tail,
            psycopg.Error,
            interval_s=0.05,
        )


def _ident(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))


def _read(
    conn: psycopg.Connection[TupleRow],
    table: str,
    seq_column: str,
    new_seqs: frozenset[int],
    track_commit_timestamp: bool,
) -> tuple[
    str, frozenset[int], list[str], list[tuple[int, int | None, str | None, list[str | None]]]
]:
    """(relation 'SPC/DB/RELFILENODE', every seq, the columns, and for each seq the new
    primary lacks: (seq, xmin, commit time, the row's values as text))."""
    row = conn.execute(
        "SELECT coalesce(nullif(c.reltablespace, 0), d.dattablespace), d.oid,"
        " pg_relation_filenode(c.oid) FROM pg_class c, pg_database d"
        " WHERE c.oid = to_regclass(%s) AND d.datname = current_database()",
        (table,),
    ).fetchone()
    if row is None:
        raise Unavailable(f"the old primary has no table {table!r}")
    rel = f"{row[0]}/{row[1]}/{row[2]}"
    cols = [
        str(r[0])
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()
    ]
    seq_id = sql.Identifier(seq_column)
    seqs = frozenset(
        int(r[0])
        for r in conn.execute(sql.SQL("SELECT {} FROM {}").format(seq_id, _ident(table))).fetchall()
    )
    past = sorted(seqs - new_seqs)
    ts = sql.SQL("pg_xact_commit_timestamp(xmin)::text" if track_commit_timestamp else "NULL")
    values = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols)
    query = sql.SQL("SELECT {seq}, xmin::text, {ts}, {values} FROM {t} WHERE {seq} = ANY(%s)")
    rows = conn.execute(
        query.format(seq=seq_id, ts=ts, values=values, t=_ident(table)), (past,)
    ).fetchall()
    out = [(int(r[0]), int(r[1]) if r[1] is not None else None, r[2], [*r[3:]]) for r in rows]
    return rel, seqs, cols, sorted(out, key=lambda x: x[0])


def witness(
    old_datadir: Path,
    promoted: Path | str,
    new_seqs: frozenset[int],
    *,
    work_dir: Path,
    node: str = "primary",
    table: str = TABLE,
    seq_column: str = "seq",
    user: str = DB_USER,
    bindir: Path | None = None,
    timeout_s: float = 60.0,
    plant: PlantHook | None = None,
) -> WitnessReport:
    """Read the old primary ``node``'s disk at ``old_datadir`` (module doc).

    ``promoted``: the promoted node's data directory, or a conninfo string for it (superuser).
    ``new_seqs``: every seq in the new primary's final read. ``work_dir``: a directory of the
    run for the copy's log and pids.json (the copy itself is deleted before this returns).
    ``plant`` (tests only): called with a connection to the started copy before it is read,
    e.g. to delete rows and plant a durability bug. Never raises for a problem with the old
    primary's disk: the report is then ``unavailable`` with the reason."""
    t0 = time.monotonic()
    times: dict[str, float | int | None] = {}
    # resolved: the database user copies it, and may not traverse a link's directory
    old_datadir = Path(old_datadir).resolve()
    try:
        bindir = bindir or deps.pg_bindir()
        if not (old_datadir / "PG_VERSION").exists():
            raise Unavailable(f"{old_datadir} is not a PostgreSQL data directory (gone?)")
        if (pid := running_postmaster(old_datadir)) is not None:
            raise Unavailable(f"the old primary still runs (pid {pid}): stop it first")
        old_tli = newest_timeline(old_datadir / "pg_wal")
        fork = (
            fork_from_conninfo(promoted, old_tli)
            if isinstance(promoted, str)
            else fork_from_datadir(promoted, old_tli)
        )
        times["fork_s"] = time.monotonic() - t0
        job = _Job(old_datadir, fork, new_seqs, work_dir, node, table, seq_column, user, bindir)
        return _witness(job, timeout_s, plant, times, t0)
    except (Unavailable, WalError, MissingDependency, OSError) as e:
        return WitnessReport.gave_up(node, e, old_datadir, times, t0)


@dataclass(frozen=True)
class _Job:
    """What ``witness`` was asked to read, once the fork is known."""

    old_datadir: Path
    fork: Fork
    new_seqs: frozenset[int]
    work_dir: Path
    node: str
    table: str
    seq_column: str
    user: str
    bindir: Path


def _witness(
    job: _Job,
    timeout_s: float,
    plant: PlantHook | None,
    times: dict[str, float | int | None],
    t0: float,
) -> WitnessReport:
    job.work_dir.mkdir(parents=True, exist_ok=True)
    backend = LocalBackend(job.work_dir)
    copy = _Copy(backend, job.node, job.old_datadir, job.bindir, timeout_s)
    try:
        control = _controldata(job.bindir, job.old_datadir)
        track = control.get("track_commit_timestamp setting", "off") == "on"
        t = time.monotonic()
        try:
            copy.copy(_first_needed(control, job.fork, job.old_datadir))
        except RpochaosError as e:
            lines = str(e).strip().splitlines()
            raise Unavailable(" ".join(dict.fromkeys([lines[0], lines[-1]]))) from None
        times["copy_s"] = time.monotonic() - t
        times["copy_bytes"] = du(copy.datadir)
        times["copy_skipped_segments"] = copy.skipped_segments
        t = time.monotonic()
        scan: WalScan = run_waldump(
            job.bindir / "pg_waldump", copy.datadir / "pg_wal", job.fork, timeout_s=timeout_s
        )
        times["dump_s"] = time.monotonic() - t
        copy.strip()
        t = time.monotonic()
        try:
            copy.start(track, job.user, timeout_s)
        except RpochaosError as e:
            raise Unavailable(str(e)) from None
        times["recovery_s"] = time.monotonic() - t
        t = time.monotonic()
        try:
            with psycopg.connect(copy.conninfo(job.user), autocommit=True) as conn:
                if plant is not None:
                    plant(conn)
                rel, seqs, cols, rows = _read(conn, job.table, job.seq_column, job.new_seqs, track)
        except psycopg.Error as e:
            raise Unavailable(f"reading the copy of the old primary failed: {e}") from None
        times["read_s"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        copy.handle.kill()
        backend.close()
        backend.remove_data()
        shutil.rmtree(copy.datadir, ignore_errors=True)
        times["cleanup_s"] = time.monotonic() - t
    commits = scan.commits_touching(rel)
    old_rows = []
    for seq, xid, ts, vals in rows:
        when = ts
        source: CommitTimeSource | None = "track_commit_timestamp" if ts is not None else None
        if when is None and xid is not None and xid in commits:
            when, source = commits[xid], "wal"
        old_rows.append(
            OldRow(
                seq=seq,
                values=dict(zip(cols, vals, strict=True)),
                xid=xid,
                commit_time=when,
                commit_time_source=source,
            )
        )
    past = seqs - job.new_seqs
    status, why = _compare(past, old_rows, commits)
    times["total_s"] = time.monotonic() - t0
    return WitnessReport(
        node=job.node,
        status=status,
        why=why,
        table=job.table,
        fork_lsn=job.fork.lsn,
        old_timeline=job.fork.old_timeline,
        new_timeline=job.fork.new_timeline,
        old_seq_ranges=ranges(seqs),
        past_fork_ranges=ranges(past),
        waldump_commits=len(commits),
        columns=cols,
        rows=old_rows,
        track_commit_timestamp=track,
        timings=Timings.model_validate(times),
    )


def _compare(
    past: frozenset[int], rows: list[OldRow], commits: dict[int, str]
) -> tuple[Status, str | None]:
    """``ok`` when pg_waldump's commits past the fork and the rows the new primary lacks are
    the same transactions; else ``mismatch`` and how they differ."""
    no_commit = sorted(r.seq for r in rows if r.xid not in commits)
    row_xids = {r.xid for r in rows}
    no_row = [x for x in commits if x not in row_xids]
    if len(commits) == len(past) and not no_commit and not no_row:
        return "ok", None
    parts = [
        f"pg_waldump counts {len(commits)} commits of the workload past the fork, the old "
        f"primary's disk holds {len(past)} writes the new primary lacks"
    ]
    if no_commit:
        parts.append(f"seq {format_ranges(no_commit)} with no commit past the fork")
    if no_row:
        parts.append(f"{len(no_row)} commits past the fork whose row is not on the disk")
    return "mismatch", "; ".join(parts)
