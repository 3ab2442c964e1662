"""Carrying out the schedule's steps on a running cluster, and recording each in events.jsonl.

``timeline`` is the order of step starts and ends; ``Steps`` does one start or end at a time
(the runner decides when) and keeps the faults in force so that ``heal_all`` can heal them.

Events (harness seconds; fields as in every run before them, plus those marked *new*):

- ``step_start``: when the step was asked for (index, action, target as written, resolved
  target, outage, instant, params);
- ``step_effective`` (*new*): once its action returned: the Toxiproxy call returned, the
  signal was delivered and the process seen stopped or dead, the shim's control file was
  written, the promotion or restore finished;
- ``step_end``: once its fault was healed, with ``requested_t`` (*new*) when the heal began;
- ``outage``: when the declared outage was in force (a crash: the moment its processes were
  dead; otherwise when its action returned), with ``requested_t`` (*new*): its step_start;
- ``failover`` / ``failover_refused``: what a promote or restore did (``rpochaos.failover``).

A crash with ``process: postmaster`` (manager: patroni) kills the node's postmaster tree
alone and is instantaneous like a crash without ``for``: no step_end, nothing to heal, and the
node is not expected down (its Patroni, which the watchdog watches, keeps running and
restarts PostgreSQL in place; how long that takes is the run's RTO).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rpochaos.failover import Recorded, failover, failover_by_position, restore
from rpochaos.faults.base import Fault
from rpochaos.faults.build import FaultContext, build
from rpochaos.faults.shim import ShimControls
from rpochaos.proxy import Toxiproxy
from rpochaos.roles import Cluster, Powers
from rpochaos.scenario import LASTING_ACTIONS, LINK_ACTIONS, Scenario, Step
from rpochaos.store import EventLog
from rpochaos.systems import System

Log = Callable[[str], None]

#: steps that take a node down (for a while), and those that bring it back
_TAKES_DOWN = ("crash", "restart", "restore")
_BRINGS_UP = ("restart", "restore")


class Expecting(Protocol):
    """Told which nodes the schedule itself takes down and brings back (a watchdog)."""

    def expect_down(self, what: str) -> None: ...

    def expect_up(self, what: str) -> None: ...


def timeline(sc: Scenario) -> list[tuple[float, str, Step]]:
    """(time, "start" | "end", step) in the order to act: by time, ends before starts at one
    instant, then by index. What would end after the workload is healed with everything else
    when it stops."""
    items: list[tuple[float, int, int, str, Step]] = []
    for s in sc.schedule:
        items.append((s.at, 1, s.index, "start", s))
        if s.duration is not None and s.action in LASTING_ACTIONS:
            items.append((s.at + s.duration, 0, s.index, "end", s))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    end = sc.workload.duration
    return [(t, kind, s) for t, _, _, kind, s in items if t < end]


class Steps:
    """The schedule's hands on one cluster. ``start`` and ``end`` return once the step's
    action (or heal) took effect; an action that fails raises (the run aborts, and the
    runner's teardown heals what is in force)."""

    def __init__(
        self,
        system: System,
        cluster: Cluster,
        powers: Powers,
        proxy: Toxiproxy,
        shim: ShimControls,
        events: EventLog,
        now: Callable[[], float],
        log: Log,
        last_primary_lsn: Callable[[], int | None],
    ) -> None:
        self.system = system
        self.cluster = cluster
        self.powers = powers
        self.events = events
        self.now = now
        self.log = log
        self.last_primary_lsn = last_primary_lsn
        self.active: dict[int, Fault] = {}
        self.requested: dict[int, float] = {}  # step index -> when its start was asked for
        #: told before the schedule's own crash / restart / restore, and when the node is back
        self.watch: Expecting | None = None
        self.faults = FaultContext(
            proxy,
            cluster,
            powers,
            shim,
            lambda target: system.links(cluster, target),
            self._outage_marker,
        )

    def describe_active(self) -> list[str]:
        return [f.describe() for f in list(self.active.values())]

    def start(self, step: Step) -> None:
        t = self.requested[step.index] = self.now()
        instant = step.action in ("restart", "promote", "restore") or (
            step.action == "crash" and step.duration is None
        )
        target = step.target
        if step.action not in LINK_ACTIONS and step.action != "promote":
            target = self.system.node(self.cluster, step.target)
        self.events.step_start(step, target, t, instant)
        self.log(
            f"t={t:6.2f}s  {step.action} {step.target}"
            + (f" (= {target})" if target != step.target else "")
            + (f" for {step.duration:g}s" if step.duration else "")
            + ("  [outage]" if step.outage else "")
        )
        whole = not (step.action == "crash" and step.params.get("process"))
        if self.watch is not None and step.action in _TAKES_DOWN and whole:
            self.watch.expect_down(f"node {target}")
        self._act(step, target)
        if self.watch is not None and step.action in _BRINGS_UP:
            self.watch.expect_up(f"node {target}")
        effective = self.now()
        self.events.write(type="step_effective", index=step.index, t=effective)
        if step.outage and step.action != "crash":
            # the outage is in force once its action has finished
            self.events.write(type="outage", index=step.index, t=effective, requested_t=t)

    def _act(self, step: Step, target: str) -> None:
        powers = self.powers
        if step.action == "restart":
            self.cluster.nodes[target].restart()
        elif step.action == "promote":
            if powers.promoting is None:
                assert powers.positions is not None, "checked at set-up"
                self._record(failover_by_position(self.cluster, powers.positions, step, self.now))
            else:
                last = self.last_primary_lsn()
                self._record(failover(self.cluster, powers.promoting, step, last, self.now))
        elif step.action == "restore":
            assert powers.restoring is not None, "checked at set-up"
            self._record(restore(powers.restoring, target, self.now))
        elif step.action == "crash" and step.params.get("process"):
            # the postmaster alone: instantaneous, nothing to heal (Patroni restarts it)
            assert powers.patroni is not None, "checked at set-up"
            powers.patroni.crash_postmaster(target)
            marker = self._outage_marker(step)
            if marker is not None:
                marker()
        elif step.action == "crash" and step.duration is None:
            cut = step.params.get("links", "cut") == "cut"
            self.cluster.crash(target, cut, on_down=self._outage_marker(step))
        else:
            fault = build(step, target, self.faults)
            self.active[step.index] = fault
            fault.inject()

    def _record(self, recorded: Recorded) -> None:
        event, line = recorded
        self.events.write(**event)
        self.log(line)

    def _outage_marker(self, step: Step) -> Callable[[], None] | None:
        """For a crash that declares the outage: record it the moment every process of the
        node is dead (before its links are cut, which takes a few API calls)."""
        if not step.outage:
            return None
        requested = self.requested.get(step.index, self.now())
        return lambda: self.events.write(
            type="outage", index=step.index, t=self.now(), requested_t=requested
        )

    def end(self, step: Step) -> None:
        """Heal ``step``'s fault, if it is still in force."""
        fault = self.active.pop(step.index, None)
        if fault is None:
            return
        requested = self.now()
        fault.heal()
        if self.watch is not None and step.action == "crash":
            self.watch.expect_up(f"node {fault.target}")
        self.events.write(type="step_end", index=step.index, t=self.now(), requested_t=requested)
        self.log(f"t={self.now():6.2f}s  healed {step.action} {step.target}")

    def heal_all(self) -> None:
        """Heal every active fault, newest first; one failing heal does not stop the others."""
        for index in sorted(self.active, reverse=True):
            fault = self.active.pop(index)
            requested = self.now()
            try:
                fault.heal()
            except Exception as e:
                self.events.write(
                    type="error", t=self.now(), message=f"healing {fault.describe()} failed: {e}"
                )
            else:
                self.events.write(type="step_end", index=index, t=self.now(), requested_t=requested)
