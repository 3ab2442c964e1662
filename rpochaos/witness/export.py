"""The lost rows as the old primary's disk held them, as CSV or SQL: what a team hands to the
people who notify customers, or replays into the new primary by hand.

Input: a run directory with result.json (``writes.seq_ranges``; every range in
``seqs.json.gz``) and witness.json (the rows the witness read from the old primary's copy).
Each lost seq appears exactly once, in seq order:

- CSV: ``seq, where, <every column of the table but seq>, xid, commit_time, commit_time_source``;
  ``where`` is ``on_old_primary`` or ``gone`` (no row on any node: the other columns are
  empty); ``commit_time`` is ``unknown`` when neither track_commit_timestamp nor the WAL gave
  it.
- SQL: one ``INSERT ... ON CONFLICT DO NOTHING`` per row on the old primary (values as
  PostgreSQL printed them, quoted as literals, so they cast back to the column types), each
  under a comment with its commit time; a comment for each gone seq; one transaction.

``rpochaos lost DIR --format csv|sql`` prints ``export_lost(DIR, fmt)``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from rpochaos.result.model import Result, ResultFormatError
from rpochaos.witness.model import OldRow, WitnessReport, load

Format = Literal["csv", "sql"]
FORMATS: tuple[Format, ...] = ("csv", "sql")
UNKNOWN = "unknown"
_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


class ExportError(ValueError):
    """The run directory cannot be exported: the message names the file and what is missing."""


def _placed(report: WitnessReport, lost: Iterable[int]) -> list[tuple[int, OldRow | None]]:
    seqs = frozenset(lost)
    by_seq = {r.seq: r for r in report.rows_for(seqs)}
    return [(s, by_seq.get(s)) for s in sorted(seqs)]


def _value_columns(report: WitnessReport, seq_column: str) -> list[str]:
    return [c for c in report.columns if c != seq_column]


def to_csv(report: WitnessReport, lost: Iterable[int], seq_column: str = "seq") -> str:
    """The lost seqs as CSV (module doc)."""
    cols = _value_columns(report, seq_column)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([seq_column, "where", *cols, "xid", "commit_time", "commit_time_source"])
    for seq, row in _placed(report, lost):
        if row is None:
            w.writerow([seq, "gone", *("" for _ in cols), "", UNKNOWN, ""])
            continue
        w.writerow(
            [
                seq,
                "on_old_primary",
                *(row.values.get(c) or "" for c in cols),
                row.xid if row.xid is not None else "",
                row.commit_time or UNKNOWN,
                row.commit_time_source or "",
            ]
        )
    return buf.getvalue()


def quote_ident(name: str) -> str:
    """A SQL identifier: as is when plain lowercase, else double-quoted."""
    return name if _PLAIN_IDENT.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | None) -> str:
    """A SQL literal (standard_conforming_strings): NULL, or the text in single quotes."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def to_sql(report: WitnessReport, lost: Iterable[int]) -> str:
    """The lost seqs as SQL (module doc)."""
    table = ".".join(quote_ident(p) for p in (report.table or "?").split("."))
    cols = ", ".join(quote_ident(c) for c in report.columns)
    lines = [
        f"-- lost writes as read from {report.node}'s disk after the run (fork at "
        f"{report.fork_lsn}, timeline {report.old_timeline} -> {report.new_timeline})",
        "BEGIN;",
    ]
    for seq, row in _placed(report, lost):
        if row is None:
            lines.append(f"-- seq {seq}: gone (on no node, not even {report.node}'s disk)")
            continue
        source = f" (from {row.commit_time_source})" if row.commit_time_source else ""
        lines.append(f"-- seq {seq}: committed {row.commit_time or UNKNOWN}{source}, xid {row.xid}")
        values = ", ".join(quote_literal(row.values.get(c)) for c in report.columns)
        lines.append(f"INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT DO NOTHING;")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def export_lost(run_dir: Path, fmt: Format) -> str:
    """The lost writes of the run in ``run_dir`` as ``fmt``. ExportError when the run has no
    result, no witness report, or a witness that could not read the old primary."""
    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise ExportError(f"--format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    try:
        result = Result.load(run_dir)
    except OSError as e:
        raise ExportError(f"{run_dir}: no readable result.json ({e.strerror})") from None
    except ResultFormatError as e:
        raise ExportError(str(e)) from None
    report = load(run_dir)
    if report is None:
        raise ExportError(
            f"{run_dir}: no witness.json: the old primary's disk was not read in this run "
            "(its host was destroyed, or the run predates the witness)"
        )
    if report.status == "unavailable":
        raise ExportError(f"{run_dir / 'witness.json'}: witness unavailable ({report.why})")
    if fmt == "sql" and report.system != "postgres":
        raise ExportError(f"--format sql: the run's system is {report.system}; use --format csv")
    try:
        lost = list(result.seqs("lost", run_dir))
    except ValueError as e:
        raise ExportError(f"{run_dir}: {e}") from None
    return to_csv(report, lost) if fmt == "csv" else to_sql(report, lost)
