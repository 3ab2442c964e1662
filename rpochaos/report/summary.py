"""The console summary: readable in five seconds.

Verdict first, then lost/acknowledged, the window (with its resolution) against the RPO, RTO,
the durability settings in force, why, where the run lives and the one command that reproduces
it. Where a fault or the outage took more than 1 ms from being requested to being in effect,
the gap is shown beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.text import Text

from rpochaos.report.semisync import semi_sync_lines
from rpochaos.report.witness import RED, rewind_lines, witness_lines
from rpochaos.result import GAP_SHOWN_S, Fault, Result, as_result
from rpochaos.seqs import first_seqs

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "UNKNOWN": "bold yellow"}


def _s(x: float | None, unit: str = " s") -> str:
    return "n/a" if x is None else f"{x:.3f}{unit}"


def ms(x: float) -> str:
    """A short duration in milliseconds: 0.0026 -> '2.6 ms'."""
    return f"{x * 1000:.1f} ms"


def window_text(r: Result) -> str:
    """The window with its resolution where known: '3.008 s ± 2.6 ms'."""
    if r.data_loss_window_s is None:
        return "n/a"
    res = r.window_resolution_s
    return _s(r.data_loss_window_s) + ("" if res is None else f" ± {ms(res)}")


def shown(gap: float | None) -> bool:
    """A requested-to-effective gap worth showing: known and wider than 1 ms (to the
    microsecond, so float noise on a gap of exactly 1 ms does not count)."""
    return gap is not None and round(gap, 6) > GAP_SHOWN_S


def fault_text(f: Fault) -> str:
    """'partition replica1->primary @2.00s-6.00s (took effect +4.2 ms, healed +10.0 ms)';
    a step on one process of its node names it after the node: 'crash primary:postmaster',
    'pause primary:patroni', 'pause replica1:walreceiver'."""
    process = f.params.get("process")
    target = f"{f.target}:{process}" if isinstance(process, str) and process else f.target
    s = f"{f.kind} {target} @{f.start_s:.2f}s"
    if f.end_s is not None and f.end_s != f.start_s:
        s += f"-{f.end_s:.2f}s"
    gaps = [
        f"{what} +{ms(g)}"
        for what, g in (("took effect", f.start_gap_s), ("healed", f.end_gap_s))
        if g is not None and shown(g)
    ]
    return s + (f" ({', '.join(gaps)})" if gaps else "")


def outage_text(r: Result) -> str:
    """'5.078 s (requested 5.000 s, +77.6 ms)'; the gap only where wider than 1 ms."""
    s = _s(r.outage_at_s)
    gap = r.outage_gap_s
    if gap is not None and shown(gap):
        s += f" (requested {_s(r.outage_requested_at_s)}, +{ms(gap)})"
    return s


def lines(result: Result | Mapping[str, object]) -> list[str]:
    """The summary as plain lines (after the verdict line)."""
    r = as_result(result)
    w = r.writes
    out = [
        f"lost {w.lost} of {w.acknowledged} acknowledged writes "
        f"(attempted {w.attempted}; recovered {w.recovered}, "
        f"phantom {w.phantom}, unexpected {w.unexpected}, "
        f"holes {w.holes})",
        f"data-loss window {window_text(r)} vs RPO "
        f"{_s(r.rpo_declared_s)}   (recovery point "
        f"{_s(r.recovery_point_s)}, outage at {outage_text(r)})",
    ]
    scale = r.time_scale or 1.0
    if scale != 1.0:
        rt = r.real_time
        out.append(
            f"time scale {scale:g}: in incident time the window is "
            f"{_s(rt.data_loss_window_s)} vs RPO {_s(rt.rpo_declared_s)}, "
            f"RTO {_s(rt.rto_s)}"
        )
    fo = r.failover
    out.append(
        f"RTO {_s(r.rto_s)}   (promoted: {fo.promoted or 'none'}; "
        f"final read on: {fo.final_read_node or 'none'})"
    )
    if fo.reason:
        out.append(f"failover: {fo.reason}")
    if r.leader_changes:
        out.append("leadership (Patroni): " + leadership_line(r))
    out += patroni_log_lines(r)
    settings = r.settings_in_force()
    dur = " ".join(f"{k}={v!r}" if v == "" else f"{k}={v}" for k, v in settings.items())
    rep = ", ".join(f"{k}={v}" for k, v in r.replica_modes().items()) or "none"
    out.append(f"durability: {dur or 'not read (no topology came up)'}; replicas: {rep}")
    naive = {
        n: o.naive_lag_s_at_outage
        for n, o in r.observed.replicas.items()
        if o.naive_lag_s_at_outage is not None
    }
    if naive:
        shown = ", ".join(f"{n} {v:.3f} s" for n, v in naive.items())
        out.append(
            "lag as `now() - pg_last_xact_replay_timestamp()` reported it just before the "
            f"outage: {shown}   (measured data-loss window: "
            f"{_s(r.data_loss_window_s)})"
        )
    cancelled = w.lost_after_cancelled_sync_wait
    if cancelled:
        first = first_seqs(w.seq_ranges.lost_after_cancelled_sync_wait, 10)
        shown = ", ".join(str(s) for s in first) + (" ..." if cancelled > 10 else "")
        out.append(
            f"{cancelled} lost writes had been acknowledged after a cancelled wait for "
            f"synchronous replication: seq {shown}"
        )
    out += semi_sync_lines(r)
    out += witness_lines(r)
    out += rewind_lines(r)
    if r.faults:
        out.append("schedule: " + "; ".join(fault_text(f) for f in r.faults))
    for reason in r.reasons:
        out.append(f"why: {reason}")
    out.append(f"run dir: {r.run_dir}")
    out.append(f"reproduce: {r.reproduce}")
    return out


def render(result: Result | Mapping[str, object], console: Console | None = None) -> None:
    """Print the verdict line and ``lines(result)`` to ``console`` (stdout by default)."""
    r = as_result(result)
    console = console or Console(highlight=False)
    verdict = r.verdict.value
    head = Text(verdict, style=_STYLE.get(verdict, "bold"))
    head.append(f"  {r.scenario}  (seed {r.seed}, backend {r.backend})", style="bold")
    console.print(head)
    for line in lines(r):
        style = "bold white on red" if line.startswith(RED) else None
        console.print("  " + line, markup=False, style=style)


def patroni_log_lines(r: Result) -> list[str]:
    """What Patroni's logs said beyond leadership: the writes its leader acknowledged after it
    emptied the synchronous list, and each pg_rewind (which erases what the rewound node alone
    held, so the writes lost at the failover are gone from every disk)."""
    log = r.patroni_log
    if log is None:
        return []
    out = []
    emptied = [c for c in log.sync_standbys if not c.to]
    if emptied and log.acked_without_sync_standby is not None:
        first = emptied[0]
        since = log.acked_without_sync_standby_from_s
        out.append(
            f"synchronous standbys emptied by Patroni: {first.node} at {first.t_s:.3f} s; "
            f"{log.acked_without_sync_standby} writes acknowledged with no synchronous "
            "standby" + (f" (from {since:.3f} s): one disk held each" if since is not None else "")
        )
    for rw in log.rewinds:
        ok = "exit 0" if rw.exit_code == 0 else f"exit {rw.exit_code}, failed"
        lost = r.writes.lost
        out.append(
            f"pg_rewind: {rw.node} at {rw.t_s:.3f} s ({ok}): what it alone held past the fork "
            "is erased"
            + (
                f"; the {lost} lost writes were lost at the failover"
                if lost and ok == "exit 0"
                else ""
            )
        )
    return out


def leadership_line(r: Result) -> str:
    """Each change of Patroni's leader: '24.488 s primary -> none; 24.632 s none -> replica1
    (timeline 2)'."""
    parts = []
    for c in r.leader_changes:
        tl = f" (timeline {c.timeline})" if c.to_node is not None and c.timeline else ""
        parts.append(f"{c.t_s:.3f} s {c.from_node or 'none'} -> {c.to_node or 'none'}{tl}")
    return "; ".join(parts)
