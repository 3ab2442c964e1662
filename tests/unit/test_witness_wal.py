"""The WAL side of the witness on literal text: timeline history files, pg_waldump lines
(as PostgreSQL 15 prints them), and the copy's configuration stripped of recovery settings."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rpochaos.witness.postgres import running_postmaster, strip_conf
from rpochaos.witness.wal import (
    WalError,
    fork_from_datadir,
    fork_from_history,
    lsn_value,
    needed_wal,
    newest_timeline,
    parse_history,
    parse_waldump,
    segment_position,
)

HISTORY_3 = """1\t0/30040F8\tno recovery target specified

2\t0/5000000\tno recovery target specified
"""

TABLE_REL = "1663/5/16384"
#: pg_waldump -s FORK as PostgreSQL 15 prints it (one line per record)
WALDUMP = (Path(__file__).parent / "data" / "waldump-pg15.txt").read_text()


def test_history_lines_and_the_fork_of_the_old_timeline() -> None:
    assert parse_history(HISTORY_3) == [(1, "0/30040F8"), (2, "0/5000000")]
    f = fork_from_history(HISTORY_3, 3, 2)
    assert (f.lsn, f.old_timeline, f.new_timeline) == ("0/5000000", 2, 3)
    assert fork_from_history(HISTORY_3, 3, 1).lsn == "0/30040F8"
    with pytest.raises(WalError, match="does not contain the old primary's timeline 4"):
        fork_from_history(HISTORY_3, 3, 4)
    with pytest.raises(WalError, match="line 2: expected 'TLI LSN reason'"):
        parse_history("1\t0/1\tok\nnonsense here\n")
    assert lsn_value("0/30040F8") == 0x30040F8 and lsn_value("1/0") == 1 << 32


def test_waldump_counts_commits_of_transactions_that_wrote_the_table() -> None:
    scan = parse_waldump(WALDUMP.splitlines())
    assert scan.records == 11
    got = scan.commits_touching(TABLE_REL)
    # 775 committed; 776 aborted; 777 wrote another table; 778 committed its subxact 779's
    # insert; 780 never committed (its commit record is past the end of the WAL)
    assert got == {775: "2026-12-01 21:51:38.721809 UTC", 778: "2026-12-01 21:51:38.730502 UTC"}
    assert scan.commits_touching("1663/5/99999") == {777: "2026-12-01 21:51:38.728855 UTC"}


def test_timelines_from_a_pg_wal_directory(tmp_path: Path) -> None:
    old, new = tmp_path / "old" / "pg_wal", tmp_path / "new" / "pg_wal"
    for d, names in (
        (old, ["000000010000000000000002", "000000010000000000000003", "archive_status"]),
        (new, ["000000010000000000000003", "00000002.history", "000000020000000000000004"]),
    ):
        d.mkdir(parents=True)
        for n in names:
            (d / n).write_text("")
    (new / "00000002.history").write_text("1\t0/30040F8\tno recovery target specified\n")
    assert newest_timeline(old) == 1 and newest_timeline(new) == 2
    f = fork_from_datadir(tmp_path / "new", 1)
    assert (f.lsn, f.old_timeline, f.new_timeline) == ("0/30040F8", 1, 2)
    with pytest.raises(WalError, match="not after the old primary's 1"):
        fork_from_datadir(tmp_path / "old", 1)
    with pytest.raises(WalError, match="cannot list"):
        newest_timeline(tmp_path / "missing")


def test_recovery_and_replication_settings_are_stripped() -> None:
    conf = (
        "# written by pg_basebackup -R\n"
        "primary_conninfo = 'host=127.0.0.1 port=5433 user=rpochaos'\n"
        "  restore_command='cp /a/%f %p'\n"
        "archive_mode = on\n"
        "ARCHIVE_COMMAND = 'cp %p /a/%f'\n"
        "synchronous_standby_names = 'FIRST 1 (replica1)'\n"
        "port = 5432\n"
        "shared_buffers = 128MB\n"
        "# primary_conninfo = 'commented out: harmless'\n"
        "wal_level = replica\n"
    )
    assert strip_conf(conf) == (
        "# written by pg_basebackup -R\n"
        "shared_buffers = 128MB\n"
        "# primary_conninfo = 'commented out: harmless'\n"
        "wal_level = replica\n"
    )


def test_a_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")
    assert running_postmaster(tmp_path) is None  # this pid is alive, but it is not postgres
    (tmp_path / "postmaster.pid").write_text("not a pid\n")
    assert running_postmaster(tmp_path) is None


def test_a_process_working_in_the_data_directory_is_a_running_server(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    proc = subprocess.Popen(["sleep", "30"], cwd=tmp_path / "real")
    try:
        (tmp_path / "real" / "postmaster.pid").write_text(f"{proc.pid}\n")
        assert running_postmaster(tmp_path / "real") == proc.pid
        assert running_postmaster(tmp_path / "link") == proc.pid  # reached through a link
    finally:
        proc.kill()
        proc.wait()
    assert running_postmaster(tmp_path / "real") is None


def test_the_copy_needs_the_segments_from_the_older_of_redo_and_fork() -> None:
    mb16 = 16 * 1024 * 1024
    assert segment_position("0/30040F8", mb16) == "0000000000000003"
    assert segment_position("1/A0000000", mb16) == "00000001000000A0"
    assert segment_position("0/30040F8", 64 * 1024 * 1024) == "0000000000000000"
    names = [
        "000000010000000000000001",
        "000000010000000000000002",
        "000000010000000000000003",
        "000000020000000000000003",
        "00000002.history",
        "000000010000000000000002.00000028.backup",
        "archive_status",
    ]
    assert needed_wal(names, "0000000000000003") == [
        "000000010000000000000002.00000028.backup",
        "000000010000000000000003",
        "00000002.history",
        "000000020000000000000003",
    ]
    assert len(needed_wal(names, "")) == 6  # no position known: every file
