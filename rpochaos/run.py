"""The one orchestrator: the order of roles, and the guaranteed teardown.

start topology -> readiness -> workload -> schedule -> stop workload -> heal every fault ->
final read -> tear down -> witness (the old primary's disk, ``rpochaos.witness.role``) ->
measure (via ``result.analyze``, from the run directory alone).

The roles are the protocols of ``rpochaos.roles``; what a step does is elsewhere
(``rpochaos.faults.steps``, with ``faults.build`` and ``failover``), and so is the live view
(``rpochaos.live``). Each role's teardown goes on one ``ExitStack`` the moment the role
exists, so whatever ends the run (success, an exception, Ctrl-C, SIGTERM turned into an
exception by the CLI) unwinds in reverse: observer stopped, writer stopped, every active
fault healed, writer joined, journal closed, servers killed, the old primary's disk read by
the witness, Toxiproxy and backend closed; then result.json is written (UNKNOWN when no final
read happened). The journal is kept.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpochaos.backends import Backend, make_backend, resolve_backend, start_proxy
from rpochaos.clock import Clock
from rpochaos.diskspace import check_space, disk_check
from rpochaos.errors import RpochaosError
from rpochaos.failover import LsnTracker
from rpochaos.faults import shim
from rpochaos.faults.shim import ShimControls
from rpochaos.faults.steps import Steps, timeline
from rpochaos.history import Journal
from rpochaos.live import LiveState, Ticker, state
from rpochaos.measure import Verdict
from rpochaos.proxy import Toxiproxy
from rpochaos.report.html import write_html
from rpochaos.report.metrics import write_run_metrics
from rpochaos.result import EXIT, analyze
from rpochaos.roles import Cluster, LatestSample, Observer, Powers, Writer, check_powers
from rpochaos.scenario import Scenario, load, to_dict
from rpochaos.store import EVENTS, FINAL_READ, HISTORY, RESOLVED, EventLog, new_run_dir, write_json
from rpochaos.systems import for_scenario
from rpochaos.watchdog import Watchdog, checks_for
from rpochaos.witness import role as witness_role

if TYPE_CHECKING:
    from signal import _HANDLER

Log = Callable[[str], None]
#: a context manager entered around the schedule (e.g. a watchdog); it may set ``stop``
Guard = Callable[["_Runner"], AbstractContextManager[object]]


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


def _quiet(_: str) -> None:
    pass


class _Runner:
    """One run, in order: ``bring_up`` (backend, Toxiproxy, the cluster: its powers checked
    before it starts), ``drive`` (writer, observer, then the schedule inside ``guards``),
    ``final_read``; ``teardown`` is one ExitStack, filled as each role comes up."""

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
        self.run_dir = run_dir
        self.keep = keep
        self.log = log
        self.events = EventLog(run_dir / EVENTS)
        self.teardown = ExitStack()
        self.teardown.callback(self.events.close)
        self.clock: Clock | None = None
        self.backend: Backend | None = None
        self.proxy: Toxiproxy | None = None
        self.shim = ShimControls()
        self.cluster: Cluster | None = None
        self.powers: Powers | None = None
        self.steps: Steps | None = None
        self.writer: Writer | None = None
        self.sampler: LatestSample | None = None
        self.lsn: LsnTracker | None = None
        self.on_state: Callable[[LiveState], None] | None = None
        self.phase = "starting"
        #: set (by a guard) to end the schedule early: its waits return at once, then the
        #: workload stops and every fault heals as usual
        self.stop = threading.Event()
        #: context managers entered, in order, around the schedule (a watchdog...)
        self.guards: list[Guard] = [_Runner._watch]
        #: the watchdog while the schedule runs: a dependency that died outside the schedule
        self.dog: Watchdog | None = None

    def now(self) -> float:
        return self.clock.now() if self.clock else 0.0

    def state(self) -> LiveState:
        faults = self.steps.describe_active() if self.steps else []
        duration = self.sc.workload.duration
        return state(self.phase, self.now(), duration, self.writer, self.sampler, faults)

    def bring_up(self, meta: dict[str, object]) -> None:
        t = time.monotonic()
        backend = self.backend = make_backend(
            self.backend_name,
            self.run_dir,
            self.keep,
            postgres_image=self.images.get("postgres"),
            toxiproxy_image=self.images.get("toxiproxy"),
            kafka_image=self.images.get("kafka"),
            system=self.sc.system,
            log=self.log,
        )
        self.teardown.callback(self._close_backend, backend)
        proxy = self.proxy = start_proxy(backend)
        self.teardown.callback(self._close_proxy, proxy)
        local = backend.name == "local"
        data_root = backend.data_root() if local else None
        self.shim = shim.prepare_for(self.sc, data_root if data_root is not None else self.run_dir)
        if self.shim.directory is not None and not local:
            backend.share_host_dir(self.shim.directory)
        cluster = self.cluster = self.system.cluster(backend, proxy, data_root, self.shim.env)
        self.powers = check_powers(self.sc, cluster)
        meta["backend_info"] = backend.describe()
        seen = witness_role.for_run(self.sc, backend, cluster, self.run_dir, self.log)
        if seen is not None:  # runs after the servers are killed, before their data goes
            self.teardown.callback(seen.after_run)
        self.teardown.callback(self._close_cluster, cluster)
        cluster.start()
        meta["bringup_s"] = round(time.monotonic() - t, 3)
        meta["durability"] = self.system.durability(cluster)
        meta["versions"] = self.system.versions(cluster)
        meta["links"] = dict(cluster.link_ports)
        write_json(self.run_dir / RESOLVED, meta)
        self.log(f"topology up in {meta['bringup_s']:.2f} s: {', '.join(cluster.nodes)}")

    def drive(self) -> None:
        assert self.cluster is not None and self.powers is not None and self.proxy is not None
        cluster, powers = self.cluster, self.powers
        clock = self.clock = Clock()
        journal = Journal(self.run_dir / HISTORY)
        self.teardown.callback(journal.close)
        writer = self.writer = self.system.writer(cluster, journal, clock)
        self.teardown.callback(writer.join, 5.0)
        steps = self.steps = Steps(
            self.system,
            cluster,
            powers,
            self.proxy,
            self.shim,
            self.events,
            clock.now,
            self.log,
            lambda: self.lsn.last if self.lsn else None,
        )
        self.teardown.callback(steps.heal_all)
        self.events.write(type="phase", name="workload_start", t=0.0, wall=clock.wall_t0)
        if (promoting := powers.promoting) is not None:
            self.lsn = LsnTracker(lambda: promoting.connect(cluster.primary_name))
            self.lsn.start()
            self.teardown.callback(self.lsn.stop)
        self.teardown.callback(writer.stop_issuing)
        if self.observe_rate > 0:
            observer = self.system.observer(cluster, clock, self.run_dir, self.observe_rate)
            self.sampler = observer if isinstance(observer, LatestSample) else None
            observer.start()
            self.teardown.callback(self._stop_observer, observer)
        writer.start()
        self.phase = "running"
        with ExitStack() as around:
            around.enter_context(Ticker(self.state, self.on_state))
            for guard in self.guards:  # e.g. a watchdog: it may set self.stop, or raise
                around.enter_context(guard(self))
            self._run_schedule(clock, writer, steps)
        self.phase = "healing"

    def _watch(self) -> Watchdog:
        """The guard that stops the run when its Toxiproxy server, a node or the engine dies
        outside the schedule, or its disk is nearly full (``rpochaos.watchdog``,
        ``rpochaos.diskspace``); the steps tell it which nodes the schedule itself takes
        down."""
        assert self.backend is not None and self.cluster is not None
        backend, cluster = self.backend, self.cluster
        disk = disk_check(self.run_dir)
        dog = self.dog = Watchdog(
            lambda: [*checks_for(backend, cluster), disk],
            now=self.now,
            record=self.events.write,
            on_lost=lambda _: self.stop.set(),
        )
        if self.steps is not None:
            self.steps.watch = dog
        return dog

    @property
    def lost_dependency(self) -> bool:
        return self.dog is not None and self.dog.lost is not None

    def _run_schedule(self, clock: Clock, writer: Writer, steps: Steps) -> None:
        for t, kind, step in timeline(self.sc):
            if not clock.sleep_until(t, self.stop):
                break
            if kind == "start":
                steps.start(step)
            else:
                steps.end(step)
        clock.sleep_until(self.sc.workload.duration, self.stop)
        if self.lost_dependency:
            return  # straight to teardown: it heals what it can; no final read follows
        writer.stop_issuing()
        self.events.write(type="phase", name="workload_stop", t=self.now())
        steps.heal_all()
        if not writer.join(10.0):
            self.events.write(
                type="error",
                t=self.now(),
                message="some writes were still stuck 15 s after the workload ended",
            )
        self.log(f"workload done: {writer.acknowledged} acknowledged")

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

    # -- teardown, registered as each role comes up --------------------------------------
    def _stop_observer(self, observer: Observer) -> None:
        with contextlib.suppress(Exception):
            t = self.now()
            stats = observer.stop()
            if stats is not None:
                self.events.write(type="observer", t=t, **stats)
        self.sampler = None

    def _close_cluster(self, cluster: Cluster) -> None:
        if not self.keep:
            cluster.close()

    def _close_proxy(self, proxy: Toxiproxy) -> None:
        if not self.keep:
            with contextlib.suppress(RpochaosError):
                proxy.reset()
        proxy.close()

    def _close_backend(self, backend: Backend) -> None:
        backend.close()
        if not self.keep:
            backend.remove_data()


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
    on_state: Callable[[LiveState], None] | None = None,
) -> RunResult:
    """Run one scenario end to end and return its result (also written to result.json).

    ``observe_rate`` samples replication state that many times a second into
    observations.jsonl (0: off); ``html`` writes report.html. Both, and metrics.openmetrics.txt,
    are written after result.json and never change the verdict.

    Raises ScenarioError for bad input before anything starts, MissingDependency when a
    program is not installed, NotEnoughSpace when the run directory's disk is too full (all
    three before anything is created), and re-raises KeyboardInterrupt after tearing
    everything down and writing an UNKNOWN result.
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    backend = resolve_backend(backend, sc.backend)
    if seed is not None:
        sc = sc.with_seed(seed)
    for_scenario(sc).preflight(backend)  # before creating anything
    run_dir = Path(out) if out is not None else new_run_dir(Path(runs_root), sc.name)
    check_space(run_dir, sc)  # before creating anything
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir.resolve()
    if sc.path is not None:
        shutil.copyfile(sc.path, run_dir / "scenario.yaml")
    meta: dict[str, object] = {
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
        runner.drive()
        if not runner.lost_dependency:  # after a loss the result cannot be trusted: UNKNOWN
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
            try:
                runner.teardown.close()  # every step runs, even after one fails
            finally:
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
    if runner.powers is not None and runner.powers.kept is not None:
        lines += runner.powers.kept.kept()
    if runner.backend is not None:
        lines += runner.backend.kept()
    for line in lines:
        log(line)
    log(f"remove it all with: rpochaos gc {shlex.quote(str(runner.run_dir))} --force")


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while tearing down (a second Ctrl-C must not leave servers)."""
    saved: list[tuple[int, _HANDLER]] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            saved.append((sig, signal.signal(sig, signal.SIG_IGN)))
    try:
        yield
    finally:
        for signum, handler in saved:
            signal.signal(signum, handler)
