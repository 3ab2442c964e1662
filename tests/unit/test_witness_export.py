"""The lost rows exported as CSV and SQL from literal witness reports; witness.json round trip;
what export says when a run has no witness."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from rpochaos.witness.classify import ranges
from rpochaos.witness.export import ExportError, export_lost, quote_literal, to_csv, to_sql
from rpochaos.witness.model import OldRow, WitnessReport, load, save


def _report() -> WitnessReport:
    rows = [
        OldRow(
            seq=11,
            values={"seq": "11", "written_at": "2026-12-01 21:51:38.72+00", "note": "it's"},
            xid=775,
            commit_time="2026-12-01 21:51:38.721809 UTC",
            commit_time_source="wal",
        ),
        OldRow(
            seq=12,
            values={"seq": "12", "written_at": "2026-12-01 21:51:38.73+00", "note": None},
            xid=776,
        ),
        OldRow(seq=13, values={"seq": "13", "written_at": "x", "note": "in flight"}, xid=777),
    ]
    return WitnessReport(
        node="primary",
        status="ok",
        table="rpochaos_writes",
        fork_lsn="0/30040F8",
        old_timeline=1,
        new_timeline=2,
        old_seq_ranges=ranges(range(1, 14)),
        past_fork_ranges=ranges(range(11, 14)),
        waldump_commits=3,
        columns=["seq", "written_at", "note"],
        rows=rows,
    )


def test_csv_lists_exactly_the_lost_seqs_with_where_they_are() -> None:
    text = to_csv(_report(), [12, 11, 14])  # 14 was lost and is on no node; 13 was never acked
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "seq",
        "where",
        "written_at",
        "note",
        "xid",
        "commit_time",
        "commit_time_source",
    ]
    assert [r[0] for r in rows[1:]] == ["11", "12", "14"]
    assert rows[1] == ["11", "on_old_primary", "2026-12-01 21:51:38.72+00", "it's", "775",
                       "2026-12-01 21:51:38.721809 UTC", "wal"]  # fmt: skip
    assert rows[2][1] == "on_old_primary" and rows[2][5] == "unknown" and rows[2][3] == ""
    assert rows[3] == ["14", "gone", "", "", "", "unknown", ""]


def test_sql_inserts_the_rows_as_literals() -> None:
    text = to_sql(_report(), [11, 12, 14])
    lines = text.splitlines()
    assert lines[1] == "BEGIN;" and lines[-1] == "COMMIT;"
    inserts = [ln for ln in lines if ln.startswith("INSERT")]
    assert inserts == [
        "INSERT INTO rpochaos_writes (seq, written_at, note) VALUES "
        "('11', '2026-12-01 21:51:38.72+00', 'it''s') ON CONFLICT DO NOTHING;",
        "INSERT INTO rpochaos_writes (seq, written_at, note) VALUES "
        "('12', '2026-12-01 21:51:38.73+00', NULL) ON CONFLICT DO NOTHING;",
    ]
    assert "-- seq 11: committed 2026-12-01 21:51:38.721809 UTC (from wal), xid 775" in lines
    assert "-- seq 12: committed unknown, xid 776" in lines
    assert "-- seq 14: gone (on no node, not even primary's disk)" in lines
    assert quote_literal("a\\b") == "'a\\b'"  # standard_conforming_strings: backslash as is


def test_witness_json_round_trips_and_export_reads_the_run_dir(tmp_path: Path) -> None:
    report = _report()
    save(report, tmp_path)
    back = load(tmp_path)
    assert back == report and back.old_seqs == set(range(1, 14)) and back.past_fork == {11, 12, 13}
    with pytest.raises(ExportError, match=r"no readable result.json"):
        export_lost(tmp_path, "csv")
    (tmp_path / "result.json").write_text(json.dumps({"writes": {"lost_seqs": [11, 12]}}))
    assert [r[0] for r in csv.reader(io.StringIO(export_lost(tmp_path, "csv")))] == [
        "seq",
        "11",
        "12",
    ]
    assert export_lost(tmp_path, "sql").count("INSERT INTO") == 2
    with pytest.raises(ExportError, match="--format: got 'xml', expected one of csv, sql"):
        export_lost(tmp_path, "xml")  # type: ignore[arg-type]


def test_export_without_a_usable_witness_says_why(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"writes": {"lost_seqs": [1]}}))
    with pytest.raises(ExportError, match=r"no witness.json: the old primary's disk was not read"):
        export_lost(tmp_path, "csv")
    save(WitnessReport.unavailable("primary", "the old primary still runs (pid 7)"), tmp_path)
    with pytest.raises(ExportError, match=r"witness unavailable \(the old primary still runs"):
        export_lost(tmp_path, "sql")
    (tmp_path / "witness.json").write_text('{"status": "maybe"}')
    with pytest.raises(ValueError, match=r"witness.json: status: Input should be"):
        load(tmp_path)
