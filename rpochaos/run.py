"""The one orchestrator: the order of roles, and the guaranteed teardown.

start topology -> readiness -> workload -> schedule -> stop workload -> heal every fault ->
final read -> tear down -> measure (via ``result.analyze``, from the run directory alone).

Whatever ends the run (success, an exception, Ctrl-C, SIGTERM turned into an exception by
the CLI), the ``finally`` path heals every active fault, stops the writer, kills every server
and writes result.json (UNKNOWN when no final read happened). The journal is never deleted.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpochaos import deps
from rpochaos.backends import BACKENDS, Backend, make_backend, start_proxy
from rpochaos.clock import Clock
from rpochaos.errors import Problem, RpochaosError, ScenarioError, TopologyError
from rpochaos.failover import LsnTracker, decide
from rpochaos.faults.archive import ArchiveFail
from rpochaos.faults.base import Fault
from rpochaos.faults.network import Bandwidth, Latency, Partition
from rpochaos.faults.node import Crash, FaultGroup, Pause
from rpochaos.faults.shim import ClockControl, ClockSkew, IoStall, IoStallSwitch, node_env
from rpochaos.history import Journal
from rpochaos.measure import Verdict
from rpochaos.procs import postgres_process
from rpochaos.proxy import Toxiproxy
from rpochaos.report.html import write_html
from rpochaos.report.metrics import write_run_metrics
from rpochaos.result import EXIT, analyze
from rpochaos.scenario import LASTING_ACTIONS, Scenario, Step, load, to_dict
from rpochaos.store import (
    EVENTS,
    FINAL_READ,
    HISTORY,
    RESOLVED,
    EventLog,
    new_run_dir,
    write_json,
)
from rpochaos.systems import for_scenario
from rpochaos.watchdog import Watchdog, checks_for  # [watchdog]

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    result: dict[str, Any]

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.result["verdict"])

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict.value]


def _num(v: object) -> float:
    if not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def _quiet(_: str) -> None:
    pass


def start_toxiproxy(backend: Backend, timeout_s: float = 15.0) -> Toxiproxy:
    """Start this run's Toxiproxy server and return a client once its API answers."""
    return start_proxy(backend, timeout_s)


class _Runner:
    def __init__(
        self,
        scenario: Scenario,
        run_dir: Path,
        keep: bool,
        log: Log,
        observe_rate: float = 10.0,
        backend: str = "local",
        images: dict[str, str | None] | None = None,
    ) -> None:
        self.sc = scenario
        self.backend_name = backend
        self.images = images or {}
        self.system = for_scenario(scenario)
        self.observe_rate = observe_rate
        self.observer: Any = None
        self.run_dir = run_dir
        self.keep = keep
        self.log = log
        self.events = EventLog(run_dir / EVENTS)
        self.clock: Clock | None = None
        self.active: dict[int, Fault] = {}
        self.backend: Backend | None = None
        self.proxy: Toxiproxy | None = None
        self.cluster: Any = None
        self.writer: Any = None
        self.journal: Journal | None = None
        self.lsn: LsnTracker | None = None
        self.on_state: Callable[[dict[str, Any]], None] | None = None
        self.phase = "starting"
        self.iostall: dict[str, IoStallSwitch] = {}
        self.clocks: dict[str, ClockControl] = {}
        self.dog: Watchdog | None = None  # [watchdog] set while the schedule runs

    def now(self) -> float:
        return self.clock.now() if self.clock else 0.0

    def state(self) -> dict[str, Any]:
        """What a live view shows: phase, elapsed, acknowledged writes, the largest current
        replication lag, and the active faults."""
        lag = None
        if self.observer is not None and hasattr(self.observer, "latest"):
            with contextlib.suppress(Exception):
                latest = self.observer.latest() or {}
                lags = [r.get("lag_bytes") for r in latest.get("replicas") or []]
                lag = max((x for x in lags if x is not None), default=None)
        return {
            "phase": self.phase,
            "t": round(self.now(), 2),
            "duration": self.sc.workload.duration,
            "acknowledged": getattr(self.writer, "acknowledged", 0),
            "lag_bytes": lag,
            "faults": [f.describe() for f in self.active.values()],
        }

    def _ticker(self, stop: threading.Event) -> None:
        while not stop.wait(0.25):
            if self.on_state is not None:
                with contextlib.suppress(Exception):
                    self.on_state(self.state())

    # -- phases --------------------------------------------------------------------------
    def _shim_env(self, shim_root: Path) -> dict[str, dict[str, str]]:
        """Control files and LD_PRELOAD for the nodes that io_stall or clock_skew target. A
        target resolved only when its step runs (a Kafka ``leader``) loads the shim into every
        node it could name."""
        every = self.sc.topology.nodes
        wanted: dict[str, set[str]] = {}
        for spec in self.sc.specs or self.sc.schedule:
            action = spec.action
            if action not in ("io_stall", "clock_skew"):
                continue
            target = spec.target
            names = list(target.options) if hasattr(target, "options") else [str(target)]
            for n in names:
                for node in [n] if n in every else every:
                    wanted.setdefault(node, set()).add(action)
        if not wanted:
            return {}
        shim_dir = shim_root / "_shim"
        shim_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(shim_dir, 0o755)
        lib = shim_dir / "librpochaos-node.so"
        shutil.copyfile(deps.node_shim(), lib)
        os.chmod(lib, 0o755)
        env: dict[str, dict[str, str]] = {}
        for node, actions in wanted.items():
            sw = IoStallSwitch(shim_dir / f"{node}.iostall") if "io_stall" in actions else None
            ck = ClockControl(shim_dir / f"{node}.clock") if "clock_skew" in actions else None
            if sw:
                self.iostall[node] = sw
            if ck:
                self.clocks[node] = ck
            env[node] = node_env(lib, sw, ck)
        return env

    def bring_up(self, meta: dict[str, Any]) -> None:
        t = time.monotonic()
        self.backend = make_backend(
            self.backend_name,
            self.run_dir,
            self.keep,
            postgres_image=self.images.get("postgres"),
            toxiproxy_image=self.images.get("toxiproxy"),
            kafka_image=self.images.get("kafka"),
            system=self.sc.system,
            log=self.log,
        )
        self.proxy = start_proxy(self.backend)
        local = self.backend.name == "local"
        data_root = self.backend.data_root() if local else None
        shim_root = data_root if data_root is not None else self.run_dir
        env = self._shim_env(shim_root)
        if env and not local:
            self.backend.share_host_dir(shim_root / "_shim")
        self.cluster = self.system.cluster(self.backend, self.proxy, data_root, env)
        meta["backend_info"] = self.backend.describe()
        self.cluster.start()
        meta["bringup_s"] = round(time.monotonic() - t, 3)
        meta["durability"] = self.system.durability(self.cluster)
        meta["versions"] = self.system.versions(self.cluster)
        meta["links"] = dict(self.cluster.link_ports)
        write_json(self.run_dir / RESOLVED, meta)
        nodes = ", ".join(self.cluster.nodes)
        self.log(f"topology up in {meta['bringup_s']:.2f} s: {nodes}")

    def drive(self) -> None:
        assert self.cluster is not None
        self.clock = Clock()
        self.journal = Journal(self.run_dir / HISTORY)
        self.writer = self.system.writer(self.cluster, self.journal, self.clock)
        self.events.write(type="phase", name="workload_start", t=0.0, wall=self.clock.wall_t0)
        cluster = self.cluster
        if self.sc.system == "postgres":
            self.lsn = LsnTracker(lambda: cluster.nodes[cluster.primary_name].connect())
            self.lsn.start()
        if self.observe_rate > 0:
            self.observer = self.system.observer(
                cluster, self.clock, self.run_dir, self.observe_rate
            )
            self.observer.start()
        self.writer.start()
        self.phase = "running"
        ticking = threading.Event()
        threading.Thread(target=self._ticker, args=(ticking,), daemon=True).start()
        try:
            self._run_schedule()
        finally:
            ticking.set()
        self.phase = "healing"

    def _run_schedule(self) -> None:
        assert self.clock is not None and self.writer is not None
        stop = self.dog.stop if self.dog is not None else None  # [watchdog]
        for t, kind, step in self._timeline():
            if not self.clock.sleep_until(t, stop):  # [watchdog] a dependency died: stop
                return
            if kind == "start":
                self._start(step)
            else:
                self._end(step)
        if not self.clock.sleep_until(self.sc.workload.duration, stop):  # [watchdog]
            return
        self.writer.stop_issuing()
        self.events.write(type="phase", name="workload_stop", t=self.now())
        self.heal_all()
        if not self.writer.join(10.0):
            self.events.write(
                type="error",
                t=self.now(),
                message="some writes were still stuck 15 s after the workload ended",
            )
        self.log(f"workload done: {self.writer.acknowledged} acknowledged")

    def _timeline(self) -> list[tuple[float, str, Step]]:
        items: list[tuple[float, int, int, str, Step]] = []
        for s in self.sc.schedule:
            items.append((s.at, 1, s.index, "start", s))
            if s.duration is not None and s.action in LASTING_ACTIONS:
                items.append((s.at + s.duration, 0, s.index, "end", s))
        items.sort(key=lambda x: (x[0], x[1], x[2]))
        # what would end after the workload is healed with everything else when it stops
        end = self.sc.workload.duration
        return [(t, kind, s) for t, _, _, kind, s in items if t < end]

    def _fault_for(self, step: Step, target: str) -> Fault:
        """The fault for a step; ``target`` is the step's target resolved to a real node or
        link (group) at this moment."""
        assert self.proxy is not None and self.cluster is not None
        p = step.params
        if step.action in ("partition", "latency", "bandwidth"):
            links = self.system.links(self.cluster, target)
            if not links:
                raise TopologyError(f"{step.target} names no link right now")
            faults = [self._link_fault(step, link) for link in links]
            return faults[0] if len(faults) == 1 else FaultGroup(step.target, faults)
        if step.action == "pause":
            return self._pause_for(step, target)
        if step.action == "crash":
            cluster = self.cluster
            cut = p.get("links", "cut") == "cut"
            down = self._outage_marker(step)
            return Crash(
                target,
                lambda: cluster.crash(target, cut, on_down=down),
                lambda: cluster.recover(target),
            )
        if step.action == "io_stall":
            return IoStall(target, self.iostall[target])
        if step.action == "clock_skew":
            return ClockSkew(
                target, self.clocks[target], _num(p["offset"]), _num(p.get("drift_ppm", 0.0))
            )
        if step.action == "archive_fail":
            flag = getattr(self.cluster, "archive_fail_flag", None)
            if flag is None:
                raise TopologyError("archive_fail needs topology.archive")
            return ArchiveFail(target, flag)
        raise AssertionError(step.action)

    def _link_fault(self, step: Step, link: str) -> Fault:
        assert self.proxy is not None
        p = step.params
        if step.action == "partition":
            return Partition(
                self.proxy, link, mode=str(p["mode"]), direction=str(p.get("direction", "both"))
            )
        if step.action == "latency":
            return Latency(
                self.proxy, link, delay_s=_num(p["delay"]), jitter_s=_num(p.get("jitter", 0.0))
            )
        return Bandwidth(self.proxy, link, rate_kbps=_num(p["rate_kbps"]))

    def _pause_for(self, step: Step, target: str) -> Fault:
        assert self.cluster is not None
        node = self.cluster.nodes[target]
        role = step.params.get("process")
        if not role:
            return Pause(target, node.pause, node.resume)
        pid = getattr(getattr(node, "handle", None), "pid", None) or getattr(
            getattr(node, "server", None), "pid", None
        )
        if pid is None:
            raise TopologyError(f"pausing one process needs the local backend ({target})")
        stopped: list[int] = []

        def pause() -> None:
            pids = postgres_process(int(pid), target, str(role))
            if not pids:
                raise TopologyError(f"{target} has no {role} process to pause")
            for p in pids:
                os.kill(p, signal.SIGSTOP)
                stopped.append(p)

        def resume() -> None:
            while stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stopped.pop(), signal.SIGCONT)

        return Pause(f"{target}:{role}", pause, resume)

    def _promote(self, step: Step) -> None:
        assert self.cluster is not None
        cluster = self.cluster
        p = step.params
        policy = str(p.get("policy", "named"))
        max_lag = p.get("max_lag_bytes")
        if policy == "most_up_to_date":
            cands = p.get("candidates") or list(self.cluster.nodes)[1:]
        else:
            cands = [step.target]
        assert isinstance(cands, list)
        decision = decide(
            lambda n: cluster.nodes[n].connect(),
            [str(c) for c in cands],
            self.lsn.last if self.lsn else None,
            int(max_lag) if isinstance(max_lag, int | float) else None,
        )
        if decision.refused or decision.chosen is None:
            self.events.write(type="failover_refused", t=self.now(), **decision.to_event())
            self.log(f"t={self.now():6.2f}s  failover {decision.reason}")
            return
        cluster.promote(decision.chosen)
        self.events.write(
            type="failover", promoted=decision.chosen, t=self.now(), **decision.to_event()
        )
        self.log(f"t={self.now():6.2f}s  {decision.chosen} is the primary ({decision.reason})")

    def _restore(self, step: Step, target: str) -> None:
        """Rebuild the dead primary from the base backup + WAL archive; the workload's link
        to it now reaches the restored server, and the final read reads it. Recorded as a
        failover (the report's failover line says what was restored, up to where)."""
        assert self.cluster is not None
        restored = self.cluster.restore(target)
        reason = restored.describe()
        self.events.write(
            type="failover",
            promoted=target,
            restored_from_archive=True,
            t=self.now(),
            chosen=target,
            refused=False,
            reason=reason,
            last_archived_segment=restored.last_segment,
            archived_segments=restored.segments,
            replayed_to_lsn=restored.replayed_to,
            timeline=restored.timeline,
        )
        self.log(f"t={self.now():6.2f}s  {reason}")

    def _start(self, step: Step) -> None:
        assert self.cluster is not None
        t = self.now()
        instant = step.action in ("restart", "promote", "restore") or (
            step.action == "crash" and step.duration is None
        )
        target = step.target
        if step.action not in ("partition", "latency", "bandwidth", "promote"):
            target = self.system.node(self.cluster, step.target)
        if self.dog is not None and step.action in ("crash", "restart", "restore"):  # [watchdog]
            self.dog.expect_down(f"node {target}")  # [watchdog] the schedule's own
        self.events.write(
            type="step_start",
            index=step.index,
            action=step.action,
            target=step.target,
            resolved=target,
            t=t,
            outage=step.outage,
            instant=instant,
            params=step.params,
        )
        self.log(
            f"t={t:6.2f}s  {step.action} {step.target}"
            + (f" (= {target})" if target != step.target else "")
            + (f" for {step.duration:g}s" if step.duration else "")
            + ("  [outage]" if step.outage else "")
        )
        if step.action == "restart":
            self.cluster.nodes[target].restart()
        elif step.action == "promote":
            self._promote(step)
        elif step.action == "restore":
            self._restore(step, target)
        elif step.action == "crash" and step.duration is None:
            self.cluster.crash(
                target, step.params.get("links", "cut") == "cut", on_down=self._outage_marker(step)
            )
        else:
            fault = self._fault_for(step, target)
            self.active[step.index] = fault
            fault.inject()
        if self.dog is not None and step.action in ("restart", "restore"):  # [watchdog]
            self.dog.expect_up(f"node {target}")  # [watchdog] back up: watch it again
        if step.outage and step.action != "crash":
            # the outage is in force once its action has finished
            self.events.write(type="outage", index=step.index, t=self.now())

    def _outage_marker(self, step: Step) -> Callable[[], None] | None:
        """For a crash that declares the outage: record it the moment every process of the
        node is dead (before its links are cut, which takes a few API calls)."""
        if not step.outage:
            return None
        return lambda: self.events.write(type="outage", index=step.index, t=self.now())

    def _end(self, step: Step) -> None:
        fault = self.active.pop(step.index, None)
        if fault is None:
            return
        fault.heal()
        if self.dog is not None and step.action == "crash":  # [watchdog] recovered
            self.dog.expect_up(f"node {fault.target}")  # [watchdog]
        self.events.write(type="step_end", index=step.index, t=self.now())
        self.log(f"t={self.now():6.2f}s  healed {step.action} {step.target}")

    def heal_all(self) -> None:
        """Heal every active fault, newest first; one failing heal does not stop the others."""
        for index in sorted(self.active, reverse=True):
            fault = self.active.pop(index)
            try:
                fault.heal()
            except Exception as e:
                self.events.write(
                    type="error", t=self.now(), message=f"healing {fault.describe()} failed: {e}"
                )
            else:
                self.events.write(type="step_end", index=index, t=self.now())

    def final_read(self) -> None:
        assert self.cluster is not None
        try:
            data = self.system.final_read(self.cluster)
        except Exception as e:
            self.events.write(type="error", t=self.now(), message=f"final read failed: {e}")
            self.log(f"final read failed: {e}")
            return
        write_json(
            self.run_dir / FINAL_READ,
            {
                "node": data.node,
                "at_s": round(self.now(), 6),
                "seqs": sorted(data.seqs),
                **data.extra,
            },
        )
        self.log(f"final read on {data.node}: {len(data.seqs)} writes present")

    def tear_down(self) -> None:
        if self.observer is not None:
            with contextlib.suppress(Exception):
                self.events.write(type="observer", t=self.now(), **self.observer.stop())
            self.observer = None
        if self.writer is not None:
            self.writer.stop_issuing()
        if self.lsn is not None:
            self.lsn.stop()
        self.heal_all()
        if self.writer is not None:
            self.writer.join(5.0)
        if self.journal is not None:
            self.journal.close()
        if not self.keep and self.cluster is not None:
            self.cluster.close()
        if self.proxy is not None:
            if not self.keep:
                with contextlib.suppress(RpochaosError):
                    self.proxy.reset()
            self.proxy.close()
        if self.backend is not None:
            self.backend.close()
            if not self.keep:
                self.backend.remove_data()
        self.events.close()


def resolve_backend(explicit: str | None, scenario: Scenario) -> str:
    """Which backend a run uses, first hit wins: the explicit choice (``--backend``,
    ``--rpo-backend`` or the ``rpo_backend`` ini key), $RPOCHAOS_BACKEND, the scenario's
    ``backend:`` key, then ``local``."""
    return explicit or os.environ.get("RPOCHAOS_BACKEND") or scenario.backend or "local"


def run(
    scenario: Scenario | str | Path,
    *,
    backend: str | None = None,
    out: Path | str | None = None,
    runs_root: Path | str = "runs",
    keep_topology: bool = False,
    seed: int | None = None,
    log: Log = _quiet,
    postgres_image: str | None = None,
    toxiproxy_image: str | None = None,
    kafka_image: str | None = None,
    observe_rate: float = 10.0,
    html: bool = True,
    on_state: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run one scenario end to end and return its result (also written to result.json).

    ``observe_rate`` samples replication state that many times a second into
    observations.jsonl (0: off); ``html`` writes report.html. Both, and metrics.openmetrics.txt,
    are written after result.json and never change the verdict.

    Raises ScenarioError for bad input before anything starts, MissingDependency when a
    program is not installed, and re-raises KeyboardInterrupt after tearing everything down
    and writing an UNKNOWN result.
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    backend = resolve_backend(backend, sc)
    if backend not in BACKENDS:
        raise ScenarioError(
            [Problem("--backend", None, "backend", repr(backend), f"one of {', '.join(BACKENDS)}")]
        )
    if seed is not None:
        sc = sc.with_seed(seed)
    unsupported = sorted({s.action for s in sc.schedule if s.action in ("io_stall", "clock_skew")})
    if sc.system == "kafka" and unsupported and backend != "local":
        raise ScenarioError(
            [
                Problem(
                    str(sc.path or "<scenario>"),
                    None,
                    "schedule",
                    ", ".join(unsupported),
                    f"no io_stall or clock_skew on Kafka brokers with --backend {backend}: "
                    "they need the local backend (the official apache/kafka image is "
                    "musl-based, where the glibc fault shim cannot load)",
                )
            ]
        )
    # fail fast on missing programs, before creating anything
    if backend == "local":
        for_scenario(sc).check()
    else:
        from rpochaos.backends import engine

        engine.client().close()
    run_dir = Path(out) if out is not None else new_run_dir(Path(runs_root), sc.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir.resolve()
    if sc.path is not None:
        shutil.copyfile(sc.path, run_dir / "scenario.yaml")
    meta: dict[str, Any] = {
        "scenario": to_dict(sc),
        "scenario_path": str(sc.path) if sc.path else None,
        "seed": sc.seed,
        "backend": backend,
        "keep_topology": keep_topology,
    }
    write_json(run_dir / RESOLVED, meta)
    runner = _Runner(
        sc,
        run_dir,
        keep_topology,
        log,
        observe_rate,
        backend,
        {"postgres": postgres_image, "toxiproxy": toxiproxy_image, "kafka": kafka_image},
    )
    runner.on_state = on_state
    interrupted: BaseException | None = None
    try:
        runner.bring_up(meta)
        # [watchdog] stop the run when Toxiproxy, a node or the engine dies outside the
        # schedule; after such a loss there is no final read (the verdict is UNKNOWN)
        with Watchdog(
            lambda: checks_for(runner.backend, runner.cluster),
            now=runner.now,
            record=runner.events.write,
        ) as runner.dog:
            runner.drive()
        if runner.dog.lost is None:  # [watchdog]
            runner.final_read()
    except KeyboardInterrupt as e:
        interrupted = e
        runner.events.write(type="interrupted", t=runner.now())
        log(f"interrupted: healing faults and tearing down; run dir {run_dir}")
    except BaseException as e:
        runner.events.write(type="error", t=runner.now(), message=f"run aborted: {e}")
        raise
    finally:
        with _signals_deferred():
            runner.tear_down()
            result = analyze(run_dir)
            _write_reports(run_dir, result, html, log)
    if interrupted is not None:
        raise interrupted
    if keep_topology:
        _print_kept(runner, log)
    return RunResult(run_dir, result)


def _write_reports(run_dir: Path, result: dict[str, Any], html: bool, log: Log) -> None:
    """report.html and metrics.openmetrics.txt; a failure here is logged, never fatal."""
    jobs: list[tuple[str, Callable[[], object]]] = [
        ("metrics", lambda: write_run_metrics(run_dir, result))
    ]
    if html:
        jobs.append(("report.html", lambda: write_html(run_dir)))
    for what, job in jobs:
        try:
            job()
        except Exception as e:
            log(f"could not write {what}: {e}")


def _print_kept(runner: _Runner, log: Log) -> None:
    """How to reach what --keep-topology left running."""
    lines: list[str] = []
    if runner.cluster is not None and hasattr(runner.cluster, "kept"):
        lines += runner.cluster.kept()
    if runner.backend is not None:
        lines += runner.backend.kept()
    for line in lines:
        log(line)
    log(f"remove it all with: rpochaos gc {shlex.quote(str(runner.run_dir))} --force")


class _signals_deferred:
    """Ignore SIGINT/SIGTERM while tearing down (a second Ctrl-C must not leave servers)."""

    def __enter__(self) -> None:
        self.saved: list[tuple[int, Any]] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved.append((sig, signal.signal(sig, signal.SIG_IGN)))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved:
            signal.signal(sig, handler)
