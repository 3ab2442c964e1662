"""The console summary: readable in five seconds.

Verdict first, then lost/acknowledged, the window against the RPO, RTO, the durability
settings in force, why, where the run lives and the one command that reproduces it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "UNKNOWN": "bold yellow"}


def _s(x: Any, unit: str = " s") -> str:
    return "n/a" if x is None else f"{x:.3f}{unit}"


def lines(result: dict[str, Any]) -> list[str]:
    """The summary as plain lines (after the verdict line)."""
    w = result.get("writes", {})
    out = [
        f"lost {w.get('lost', 0)} of {w.get('acknowledged', 0)} acknowledged writes "
        f"(attempted {w.get('attempted', 0)}; recovered {w.get('recovered', 0)}, "
        f"phantom {w.get('phantom', 0)}, unexpected {w.get('unexpected', 0)}, "
        f"holes {w.get('holes', 0)})",
        f"data-loss window {_s(result.get('data_loss_window_s'))} vs RPO "
        f"{_s(result.get('rpo_declared_s'))}   (recovery point "
        f"{_s(result.get('recovery_point_s'))}, outage at {_s(result.get('outage_at_s'))})",
    ]
    scale = result.get("time_scale") or 1.0
    if scale != 1.0:
        rt = result.get("real_time", {})
        out.append(
            f"time scale {scale:g}: in incident time the window is "
            f"{_s(rt.get('data_loss_window_s'))} vs RPO {_s(rt.get('rpo_declared_s'))}, "
            f"RTO {_s(rt.get('rto_s'))}"
        )
    fo = result.get("failover", {})
    out.append(
        f"RTO {_s(result.get('rto_s'))}   (promoted: {fo.get('promoted') or 'none'}; "
        f"final read on: {fo.get('final_read_node') or 'none'})"
    )
    if fo.get("reason"):
        out.append(f"failover: {fo['reason']}")
    d = dict(result.get("durability", {}))
    reps = d.pop("replicas", {})
    dur = " ".join(f"{k}={v!r}" if v == "" else f"{k}={v}" for k, v in d.items())
    rep = ", ".join(f"{k}={v}" for k, v in reps.items()) or "none"
    out.append(f"durability: {dur or 'not read (no topology came up)'}; replicas: {rep}")
    reps = (result.get("observed") or {}).get("replicas") or {}
    naive = {
        n: o.get("naive_lag_s_at_outage")
        for n, o in reps.items()
        if o.get("naive_lag_s_at_outage") is not None
    }
    if naive:
        shown = ", ".join(f"{n} {v:.3f} s" for n, v in naive.items())
        out.append(
            "lag as `now() - pg_last_xact_replay_timestamp()` reported it just before the "
            f"outage: {shown}   (measured data-loss window: "
            f"{_s(result.get('data_loss_window_s'))})"
        )
    cancelled = w.get("lost_after_cancelled_sync_wait") or []
    if cancelled:
        shown = ", ".join(str(s) for s in cancelled[:10]) + (" ..." if len(cancelled) > 10 else "")
        out.append(
            f"{len(cancelled)} lost writes had been acknowledged after a cancelled wait for "
            f"synchronous replication: seq {shown}"
        )
    faults = result.get("faults", [])
    if faults:
        out.append(
            "schedule: "
            + "; ".join(
                f"{f['kind']} {f['target']} @{f['start_s']:.2f}s"
                + (f"-{f['end_s']:.2f}s" if f.get("end_s") not in (None, f["start_s"]) else "")
                for f in faults
            )
        )
    for r in result.get("reasons", []):
        out.append(f"why: {r}")
    out.append(f"run dir: {result.get('run_dir')}")
    out.append(f"reproduce: {result.get('reproduce')}")
    return out


def render(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    verdict = str(result.get("verdict", "UNKNOWN"))
    head = Text(verdict, style=_STYLE.get(verdict, "bold"))
    head.append(
        f"  {result.get('scenario')}  (seed {result.get('seed')}, backend {result.get('backend')})",
        style="bold",
    )
    console.print(head)
    for line in lines(result):
        console.print("  " + line, markup=False)
