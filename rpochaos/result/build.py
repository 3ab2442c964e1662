"""Building the ``Result`` of a stored run: the measurement plus what a reader needs to trust it.

``compute_result(run)`` is a pure function of a loaded run directory (``StoredRun``); ``analyze``
loads the directory, computes and writes result.json, so a stored run and a live run (``run``
calls the same function at its end) can never disagree.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rpochaos.measure import Expectations, Measurement, Verdict, measure
from rpochaos.result.leadership import patroni_log, read_leadership
from rpochaos.result.model import (
    RESULT,
    Failover,
    Observed,
    RealTime,
    ReplicaObserved,
    Result,
    SeqRanges,
    Workload,
    Writes,
)
from rpochaos.result.semisync import semi_sync
from rpochaos.result.timing import (
    ack_spacing,
    faults_from_events,
    json_dict,
    outage_at,
    outage_requested_at,
    window_resolution,
)
from rpochaos.result.witness import witness_part
from rpochaos.seqs import KINDS, RANGES_SHOWN, SEQS, write_seqs
from rpochaos.store import StoredRun, load_run, write_json

#: exit codes, as Jepsen has them
EXIT = {"PASS": 0, "FAIL": 1, "UNKNOWN": 2}
EXIT_BAD_INPUT = 254
EXIT_INTERNAL = 255


def reproduce_command(meta: Mapping[str, object]) -> str:
    """The one command that reruns the scenario with the run's seed and backend."""
    src = meta.get("scenario_path") or "SCENARIO.yaml"
    return (
        f"rpochaos run {shlex.quote(str(src))} --seed {meta.get('seed', 0)} "
        f"--backend {meta.get('backend', 'local')}"
    )


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _opt_float(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def _writes(m: Measurement) -> Writes:
    sets = m.seq_sets()
    return Writes(
        attempted=m.attempted,
        acknowledged=m.acknowledged,
        lost=m.lost,
        recovered=m.recovered,
        phantom=m.phantom,
        unexpected=m.unexpected,
        holes=m.holes,
        lost_after_cancelled_sync_wait=len(m.lost_after_cancelled_sync_wait),
        seq_ranges=SeqRanges(**{k: sets[k].ranges(RANGES_SHOWN) for k in KINDS}),
        seq_ranges_truncated=[k for k in KINDS if sets[k].range_count() > RANGES_SHOWN],
        seqs_file=SEQS,
    )


def compute_result(run: StoredRun) -> Result:
    """The ``Result`` of a loaded run directory (pure: no I/O beyond observations.jsonl)."""
    return measured_result(run)[0]


def measured_result(run: StoredRun) -> tuple[Result, Measurement]:
    """``compute_result`` and the ``Measurement`` behind it (whose sets seqs.json.gz holds)."""
    sc = run.scenario
    expect = Expectations(
        rpo_s=sc.expect.rpo,
        max_lost=sc.expect.max_lost,
        min_lost=sc.expect.min_lost,
        max_rto_s=sc.expect.max_rto,
    )
    outage = outage_at(run.events)
    m = measure(run.history, run.final, outage, expect)
    durability = json_dict(run.meta.get("durability"))
    seen = witness_part(run.path, m.lost_seqs, run.final.present if run.final else None, durability)
    gone = seen.fail_reason if seen is not None else None
    reasons = [
        # a game day's stop condition (rpochaos.gameday): first, so a reader sees why it ended
        *(f"run stopped by a stop condition: {e['reason']}" for e in _typed(run, "stopped")),
        # a durable-ack write on no node (rpochaos.witness): a durability bug
        *([gone] if gone else []),
        *m.reasons,
        *(str(e["message"]) for e in _typed(run, "error")),
    ]
    failover = [e for e in run.events if e.get("type") in ("failover", "failover_refused")]
    promoted = [e for e in failover if e["type"] == "failover"]
    scale = float(getattr(sc, "time_scale", 1.0) or 1.0)
    window = _round(m.data_loss_window_s)
    end = None if outage is None else max(outage, m.last_lost_s or outage)
    spacing = ack_spacing(run.history, m.recovery_point_s, end)

    def x(v: float | None) -> float | None:
        return None if v is None else round(float(v) * scale, 6)

    lead = read_leadership(run.path)
    seed = run.meta.get("seed", sc.seed)
    backend = run.meta.get("backend")
    result = Result(
        scenario=sc.name,
        seed=seed if isinstance(seed, int) else None,
        backend=None if backend is None else str(backend),
        run_dir=str(run.path),
        verdict=Verdict.FAIL if gone else m.verdict,
        reasons=reasons,
        rpo_declared_s=_round(m.rpo_declared_s),
        writes=_writes(m),
        recovery_point_s=_round(m.recovery_point_s),
        outage_at_s=_round(m.outage_at_s),
        data_loss_window_s=window,
        loss_span_s=_round(m.loss_span_s),
        first_lost_s=_round(m.first_lost_s),
        last_lost_s=_round(m.last_lost_s),
        rto_s=_round(m.rto_s),
        faults=faults_from_events(run.events),
        durability=durability,
        workload=Workload(
            rate_per_s=sc.workload.rate,
            concurrency=sc.workload.concurrency,
            duration_s=sc.workload.duration,
            commit_timeout_s=sc.workload.commit_timeout,
        ),
        failover=Failover(
            promoted=_opt_str(promoted[-1].get("promoted")) if promoted else lead.promoted,
            refused=any(e["type"] == "failover_refused" for e in failover) or bool(lead.refusals),
            reason=_opt_str(failover[-1].get("reason"))
            if failover
            else ("; ".join(lead.refusals) or None),
            final_read_node=run.final.node if run.final else None,
        ),
        time_scale=scale,
        real_time=RealTime(
            data_loss_window_s=x(window),
            rpo_declared_s=x(_round(m.rpo_declared_s)),
            rto_s=x(_round(m.rto_s)),
            outage_at_s=x(_round(m.outage_at_s)),
            recovery_point_s=x(_round(m.recovery_point_s)),
        ),
        versions=json_dict(run.meta.get("versions")),
        observed=observed(run.path, outage),
        bringup_s=_opt_float(run.meta.get("bringup_s")),
        interrupted=any(e.get("type") == "interrupted" for e in run.events),
        reproduce=reproduce_command(run.meta),
        outage_requested_at_s=_round(outage_requested_at(run.events)),
        window_resolution_s=window_resolution(spacing, window, m.lost),
        ack_spacing_s=spacing,
        semi_sync=semi_sync(
            run.path,
            run.ops,
            m.lost_seqs,
            run.events,
            run.final.seqs if run.final else None,
        ),
        leader_changes=lead.changes,
        patroni_log=patroni_log(
            lead, run.history, _opt_str(durability.get("patroni.synchronous_mode"))
        ),
        witness=seen,
    )
    return result, m


def build_result(run: StoredRun) -> dict[str, Any]:
    """``compute_result(run)`` as the result.json mapping (the dict API, kept for its callers;
    new code reads ``compute_result``'s ``Result``)."""
    return compute_result(run).to_dict()


def observed(path: Path, outage_s: float | None) -> Observed:
    """What the servers themselves reported, per replica, from observations.jsonl: the largest
    byte lag and stall, and the popular lag query (now() - pg_last_xact_replay_timestamp(),
    which mixes two clocks) at its last reading before the outage and at its largest."""
    from rpochaos.observe.postgres import OBSERVATIONS, read_observations

    out: dict[str, dict[str, int | float | None]] = {}
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
                cur = o[key]
                if v is not None and (cur is None or v > cur):
                    o[key] = v
            naive = rep.get("naive_lag_s")
            if naive is not None and (outage_s is None or t <= outage_s):
                o["naive_lag_s_at_outage"] = naive
    return Observed(replicas={k: ReplicaObserved.model_validate(v) for k, v in out.items()})


def analyze_result(path: Path) -> Result:
    """Recompute ``path/result.json`` (and the whole sets, ``path/seqs.json.gz``) from the run
    directory alone, write them, return the result."""
    result, m = measured_result(load_run(Path(path)))
    write_seqs(Path(path) / SEQS, m.seq_sets())
    write_json(Path(path) / RESULT, result.to_dict())
    return result


def analyze(path: Path) -> dict[str, Any]:
    """``analyze_result`` as the result.json mapping (the dict API: ``res["writes"]["lost"]``)."""
    return analyze_result(path).to_dict()


def _typed(run: StoredRun, kind: str) -> list[dict[str, object]]:
    """The run's events of type ``kind``, in order."""
    return [e for e in run.events if e.get("type") == kind]
