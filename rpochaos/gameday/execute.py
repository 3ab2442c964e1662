"""Running a game day: the probe, the schedule, the stop conditions, healing on every exit path,
then the usual measurement over the usual run directory (plus audit.jsonl and summary.md).

``execute(plan, ...)`` returns the run directory and its ``Result``. The order is fixed:
audit ``start`` -> probe table (or topic) created -> workload and stop conditions start ->
each step at its time (write-ahead audit, act, deadline armed) -> the workload's end, a stop
condition, Ctrl-C, SIGTERM or an exception -> heal everything (``finally``) -> final read on
the writable node (Kafka: the topic, once its partition has a leader) -> probe table dropped
or topic deleted (unless kept) -> result.json, report.html, summary.md, the runs index ->
audit ``end`` with the exit path. The system's part is its ``ProbeSide``
(``rpochaos.gameday.probe.PostgresSide``, ``rpochaos.gameday.kafka_probe.KafkaSide``).
"""

from __future__ import annotations

import json
import secrets
import shlex
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rpochaos.clock import Clock
from rpochaos.gameday.actions import ActionError, DockerCli
from rpochaos.gameday.audit import AUDIT, Audit
from rpochaos.gameday.faults import ActiveFaults
from rpochaos.gameday.inventory import KafkaInventory
from rpochaos.gameday.plan import Plan
from rpochaos.gameday.probe import PostgresSide, ProbeSide
from rpochaos.gameday.stops import StopWatch
from rpochaos.history import Journal
from rpochaos.proxy import Toxiproxy
from rpochaos.result import Result, compute_result
from rpochaos.scenario import to_dict
from rpochaos.store import (
    EVENTS,
    FINAL_READ,
    HISTORY,
    RESOLVED,
    RESULT,
    EventLog,
    load_run,
    new_run_dir,
    write_json,
)

GAMEDAY = "gameday.json"


class RunClock(Clock):
    """The harness clock of a game day, restarted once the probe's table or topic exists (a
    Kafka topic takes a second or two to have its replicas in sync): t=0 is the workload's
    start and the schedule's origin, as in any run."""

    def restart(self) -> None:
        self._t0 = time.monotonic()
        self.wall_t0 = time.time()


def new_run_id() -> str:
    """Short, unique, and valid in a toxic name and an SQL identifier."""
    return "g" + datetime.now(UTC).strftime("%m%d%H%M%S") + secrets.token_hex(2)


@dataclass(frozen=True)
class GamedayRun:
    run_dir: Path
    run_id: str
    result: Result
    stopped: str | None
    exit_path: str


def execute(
    plan: Plan,
    *,
    runs_root: Path,
    out: Path | None,
    keep_data: bool,
    log: Callable[[str], None],
    run_id: str | None = None,
) -> GamedayRun:
    sc, inv = plan.scenario, plan.inventory
    run_id = run_id or new_run_id()
    run_dir = Path(out) if out is not None else new_run_dir(runs_root, sc.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir.resolve()
    (run_dir / "scenario.yaml").write_text(plan.text)
    audit = Audit(run_dir / AUDIT)
    audit.start(
        run_id=run_id,
        inventory=inv.name,
        inventory_path=str(inv.path) if inv.path else None,
        plan=str(sc.path) if sc.path else None,
        run_dir=str(run_dir),
    )
    clock = RunClock()
    journal = Journal(run_dir / HISTORY)
    side = _side(plan, run_id, journal, clock)
    durability = side.settings()
    meta: dict[str, object] = {
        "scenario": to_dict(sc),
        "scenario_path": str(sc.path) if sc.path else None,
        "seed": sc.seed,
        "backend": "gameday",
        "durability": durability,
        "versions": side.versions(),
        "gameday": {
            "inventory": inv.name,
            "inventory_path": str(inv.path) if inv.path else None,
            "run_id": run_id,
            **side.meta(),
        },
    }
    write_json(run_dir / RESOLVED, meta)
    log(f"run {run_id}: {run_dir}")
    events = EventLog(run_dir / EVENTS)
    tp = Toxiproxy(inv.toxiproxy.api) if inv.toxiproxy else None
    docker = DockerCli(inv.docker.host) if inv.docker else None
    faults = ActiveFaults(inv, run_id, tp, docker, audit, events, clock, log)
    stop = threading.Event()
    stopped: list[str] = []
    outage = threading.Event()

    def on_stop(reason: str) -> None:
        stopped.append(reason)
        stop.set()
        t = clock.now()
        events.write(type="stopped", t=t, reason=reason)
        audit.write("stop", t=round(t, 6), reason=reason)
        log(f"t={t:6.2f}s  STOP: {reason}; healing")
        faults.heal_all("stop condition", final=True)  # and no new fault from now on

    watch = StopWatch(inv, side, clock, on_stop, outage_started=outage.is_set)
    exit_path = "completed"
    table_made = False
    try:
        audit.write("intent", id=0, action=f"create {side.what}", target=side.name, undo=[])
        side.create()
        table_made = True
        read_back = side.read_back()
        if read_back:
            meta["durability"] = {**durability, "read_back": read_back}
            write_json(run_dir / RESOLVED, meta)
        clock.restart()
        events.write(type="phase", name="workload_start", t=0.0, wall=clock.wall_t0)
        side.start()
        watch.start()
        for ps in plan.steps:
            if clock.sleep_until(ps.step.at, stop) is False or stop.is_set():
                break
            if ps.step.outage:
                outage.set()
            try:
                faults.apply(ps)
            except ActionError:
                if stop.is_set():  # the stop condition closed the run under this step
                    break
                raise
        clock.sleep_until(sc.workload.duration, stop)
        if stopped:
            exit_path = "stop condition"
    except KeyboardInterrupt:
        exit_path = "interrupted"
        events.write(type="interrupted", t=clock.now())
        log("interrupted: healing")
        raise
    except BaseException as e:
        exit_path = f"error: {type(e).__name__}"
        events.write(type="error", t=clock.now(), message=f"run aborted: {e}")
        raise
    finally:
        ignored = _ignore_signals()  # a second Ctrl-C must not cut the heal short
        faults.heal_all("exit: " + exit_path, final=True)
        watch.close()
        side.stop()
        events.write(type="phase", name="workload_stop", t=clock.now())
        node = _final_read(side, faults.promoted, clock, run_dir, events) if table_made else None
        if table_made and not keep_data:
            try:
                side.drop(node)
                audit.write("undone", id=0, by="end of run")
            except Exception as e:  # recorded; the measurement stands
                events.write(type="error", t=clock.now(), message=f"drop {side.what}: {e}")
        journal.close()
        events.close()
        if tp is not None:
            tp.close()
        index_root = runs_root if run_dir.is_relative_to(runs_root.resolve()) else None
        result = _finish(run_dir, stopped, run_id, inv.name, exit_path, faults.left(), index_root)
        audit.write("end", exit_path=exit_path, left=faults.left())
        audit.close()
        for signum, handler in ignored:
            signal.signal(signum, handler)
    return GamedayRun(run_dir, run_id, result, stopped[0] if stopped else None, exit_path)


def _ignore_signals() -> list[tuple[int, signal._HANDLER]]:
    if threading.current_thread() is not threading.main_thread():
        return []
    return [(s, signal.signal(s, signal.SIG_IGN)) for s in (signal.SIGINT, signal.SIGTERM)]


def _side(plan: Plan, run_id: str, journal: Journal, clock: Clock) -> ProbeSide:
    inv, workload = plan.inventory, plan.scenario.workload
    if isinstance(inv, KafkaInventory):
        from rpochaos.gameday.kafka_probe import KafkaSide

        return KafkaSide(inv, run_id, workload, journal, clock)
    return PostgresSide(inv, run_id, workload, journal, clock)


def _final_read(
    side: ProbeSide, promoted: str | None, clock: Clock, run_dir: Path, events: EventLog
) -> str | None:
    """Read every sequence number from the writable node; returns that node's name."""
    final = side.final_read(promoted)
    if final is None:
        events.write(type="error", t=clock.now(), message="final read failed: no writable node")
        return None
    write_json(
        run_dir / FINAL_READ,
        {"node": final.node, "seqs": sorted(final.seqs), "at_s": final.at_s},
    )
    return final.node


def _finish(
    run_dir: Path,
    stopped: list[str],
    run_id: str,
    inventory: str,
    exit_path: str,
    left: list[int],
    index_root: Path | None,
) -> Result:
    result = compute_result(load_run(run_dir))
    meta = json.loads((run_dir / RESOLVED).read_text())
    gd = meta.get("gameday") or {}
    plan, inv = meta.get("scenario_path") or "PLAN.yaml", gd.get("inventory_path") or "INV.yaml"
    result = result.model_copy(
        update={
            "reproduce": f"rpochaos gameday {shlex.quote(str(plan))} --inventory "
            f"{shlex.quote(str(inv))} --execute"
        }
    )
    # a stop condition's reason comes from its ``stopped`` event (so ``analyze`` gives it too)
    write_json(run_dir / RESULT, result.to_dict())
    write_json(
        run_dir / GAMEDAY,
        {
            "run_id": run_id,
            "inventory": inventory,
            "stopped": stopped[0] if stopped else None,
            "exit_path": exit_path,
            "faults_left": left,
        },
    )
    from rpochaos.gameday.report import write_reports

    write_reports(run_dir, result, index_root)
    return result


def read_gameday(run_dir: Path) -> dict[str, object]:
    try:
        d = json.loads((run_dir / GAMEDAY).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return d if isinstance(d, dict) else {}
