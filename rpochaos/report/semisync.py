"""The semi-sync lines of the reports (MariaDB): when the primary switched semi-sync off and
on again, how many acknowledged commits it made alone meanwhile and how many of those were
lost, and whether the old primary could follow the new one. Empty for other systems."""

from __future__ import annotations

from rpochaos.result import Result


def _t(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f} s"


def semi_sync_lines(r: Result) -> list[str]:
    """One line per semi-sync OFF period, then one per demoted primary pointed at the new
    one; [] when the run has no semi-sync record."""
    ss = r.semi_sync
    if ss is None:
        return []
    out: list[str] = []
    if not ss.off:
        out.append("semi-sync: never switched off during the run")
    for p in ss.off:
        back = f"back ON at {_t(p.on_s)}" if p.on_s is not None else "never back ON"
        out.append(
            f"semi-sync switched OFF at {_t(p.off_s)} on {p.node or '?'} (last seen ON "
            f"{_t(p.last_on_s)}), {back}: {p.acked} commits acknowledged by the primary "
            f"alone meanwhile, {p.acked_lost} of them lost (no client was told)"
        )
    if ss.read_but_lost:
        shown = ", ".join(str(x) for x in ss.read_but_lost_seqs[:10])
        more = " ..." if len(ss.read_but_lost_seqs) > 10 else ""
        out.append(
            f"read but lost: {ss.read_but_lost} rows another session read on the primary are "
            f"missing after recovery (seq {shown}{more})"
        )
    out += [f"old primary: {line}" for line in ss.rejoin_lines()]
    return out
