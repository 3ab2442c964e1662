"""result.json: the measurement plus what a reader needs to trust it.

``analyze(run_dir)`` recomputes result.json from the directory alone; ``run`` calls the same
function at its end, so a stored run and a live run can never disagree.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rpochaos.measure import Expectations, measure
from rpochaos.store import RESULT, StoredRun, load_run, write_json

#: exit codes, as Jepsen has them
EXIT = {"PASS": 0, "FAIL": 1, "UNKNOWN": 2}
EXIT_BAD_INPUT = 254
EXIT_INTERNAL = 255


def faults_from_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scheduled step that ran: kind, target, start_s, end_s (None if never healed,
    equal to start_s for instant actions), plus its parameters."""
    out: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.get("type") == "step_start":
            out[e["index"]] = {
                "kind": e["action"],
                "target": e["target"],
                "start_s": e["t"],
                "end_s": e["t"] if e.get("instant") else None,
                "params": e.get("params", {}),
                "outage": bool(e.get("outage")),
            }
        elif e.get("type") == "step_end" and e["index"] in out:
            out[e["index"]]["end_s"] = e["t"]
    return [out[k] for k in sorted(out, key=lambda i: (out[i]["start_s"], i))]


def outage_at(events: list[dict[str, Any]]) -> float | None:
    """When the declared outage was in force: the end of its action (the ``outage`` event),
    or, in runs recorded without one, the start of the step."""
    for e in events:
        if e.get("type") == "outage":
            return float(e["t"])
    for e in events:
        if e.get("type") == "step_start" and e.get("outage"):
            return float(e["t"])
    return None


def reproduce_command(meta: dict[str, Any]) -> str:
    src = meta.get("scenario_path") or "SCENARIO.yaml"
    return (
        f"rpochaos run {shlex.quote(str(src))} --seed {meta.get('seed', 0)} "
        f"--backend {meta.get('backend', 'local')}"
    )


def build_result(run: StoredRun) -> dict[str, Any]:
    sc = run.scenario
    expect = Expectations(
        rpo_s=sc.expect.rpo,
        max_lost=sc.expect.max_lost,
        min_lost=sc.expect.min_lost,
        max_rto_s=sc.expect.max_rto,
    )
    m = measure(run.ops, run.final, outage_at(run.events), expect)
    extra_reasons = [e["message"] for e in run.events if e.get("type") == "error"]
    data = m.to_dict()
    if extra_reasons:
        data["reasons"] = [*m.reasons, *extra_reasons]
    failover = [e for e in run.events if e.get("type") in ("failover", "failover_refused")]
    promoted = [e for e in failover if e["type"] == "failover"]
    scale = float(getattr(sc, "time_scale", 1.0) or 1.0)
    result: dict[str, Any] = {
        "scenario": sc.name,
        "seed": run.meta.get("seed", sc.seed),
        "backend": run.meta.get("backend"),
        "run_dir": str(run.path),
        **data,
        "faults": faults_from_events(run.events),
        "durability": run.meta.get("durability", {}),
        "workload": {
            "rate_per_s": sc.workload.rate,
            "concurrency": sc.workload.concurrency,
            "duration_s": sc.workload.duration,
            "commit_timeout_s": sc.workload.commit_timeout,
        },
        "failover": {
            "promoted": promoted[-1]["promoted"] if promoted else None,
            "refused": any(e["type"] == "failover_refused" for e in failover),
            "reason": failover[-1].get("reason") if failover else None,
            "final_read_node": run.final.node if run.final else None,
        },
        "time_scale": scale,
        "real_time": _real_time(data, scale),
        "versions": run.meta.get("versions", {}),
        "observed": observed(run.path, outage_at(run.events)),
        "bringup_s": run.meta.get("bringup_s"),
        "interrupted": any(e.get("type") == "interrupted" for e in run.events),
        "reproduce": reproduce_command(run.meta),
    }
    return result


def _real_time(data: dict[str, Any], scale: float) -> dict[str, float | None]:
    """The measured times expressed in the incident's own time (x time_scale)."""

    def x(v: Any) -> float | None:
        return None if v is None else round(float(v) * scale, 6)

    return {
        k: x(data.get(k))
        for k in (
            "data_loss_window_s",
            "rpo_declared_s",
            "rto_s",
            "outage_at_s",
            "recovery_point_s",
        )
    }


def observed(path: Path, outage_s: float | None) -> dict[str, Any]:
    """What the servers themselves reported, per replica, from observations.jsonl: the largest
    byte lag and stall, and the popular lag query (now() - pg_last_xact_replay_timestamp(),
    which mixes two clocks) at its last reading before the outage and at its largest."""
    from rpochaos.observe.postgres import OBSERVATIONS, read_observations

    out: dict[str, dict[str, Any]] = {}
    for sample in read_observations(path / OBSERVATIONS):
        t = float(sample.get("t", 0.0))
        for rep in sample.get("replicas") or []:
            o = out.setdefault(
                str(rep.get("name")),
                {
                    "max_lag_bytes": None,
                    "max_stalled_s": None,
                    "naive_lag_s_at_outage": None,
                    "max_naive_lag_s": None,
                },
            )
            for key, field in (
                ("max_lag_bytes", "lag_bytes"),
                ("max_stalled_s", "stalled_s"),
                ("max_naive_lag_s", "naive_lag_s"),
            ):
                v = rep.get(field)
                if v is not None and (o[key] is None or v > o[key]):
                    o[key] = v
            naive = rep.get("naive_lag_s")
            if naive is not None and (outage_s is None or t <= outage_s):
                o["naive_lag_s_at_outage"] = naive
    return {"replicas": out}


def analyze(path: Path) -> dict[str, Any]:
    """Recompute and write ``path/result.json`` from the run directory alone."""
    result = build_result(load_run(path))
    write_json(path / RESULT, result)
    return result
