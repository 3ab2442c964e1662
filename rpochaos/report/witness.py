"""The witness's lines in the reports (``rpochaos.result.witness``): where the lost writes
went, the red line when a write acknowledged with durable settings is on no node, and
(Patroni) what each pg_rewind of the old leader erased: the lost writes the witness found on
the copy of its disk taken before it rejoined."""

from __future__ import annotations

from rpochaos.result import Result

#: how the red line starts, in every report
RED = "DURABILITY BUG"


def witness_lines(r: Result) -> list[str]:
    """The witness's line, then its red line; [] when the run had no witness."""
    if r.witness is None:
        return []
    red = red_line(r)
    return [r.witness.line(), *([red] if red else [])]


def red_line(r: Result) -> str:
    """'DURABILITY BUG: 6 acknowledged writes ... seq 120-124, 150 ...' when a durable-ack
    write is gone, else ''."""
    w = r.witness
    if w is None or w.fail_reason is None:
        return ""
    return f"{RED}: {w.fail_reason}"


def rewind_lines(r: Result) -> list[str]:
    """'pg_rewind on primary at 31.812 s erased 400 acknowledged writes that were on its
    disk' for each successful pg_rewind (result.json ``patroni_log.rewinds``) of the node
    whose disk the witness read before it rejoined; [] without such a witness."""
    w, log = r.witness, r.patroni_log
    if w is None or log is None or w.status == "unavailable" or w.read_from != "before_rejoin":
        return []
    return [
        f"pg_rewind on {rw.node} at {rw.t_s:.3f} s erased {w.on_old_primary} acknowledged "
        "writes that were on its disk (the witness read a copy taken before it rejoined"
        + (f", {w.snapshot_s:.2f} s" if w.snapshot_s is not None else "")
        + ")"
        for rw in log.rewinds
        if rw.node == w.node and rw.exit_code == 0
    ]
