"""From a scheduled step to the fault that makes it: one builder per action.

``build(step, target, ctx)`` returns a fault not yet injected, for a step whose action lasts
until healed (``rpochaos.scenario.LASTING_ACTIONS``, and a crash with ``for``; a crash with
``process: postmaster`` never has one: ``Steps`` carries it out at once); ``target`` is
the step's target resolved to a real node or link (group) at that moment. What a builder
needs from the run is in ``FaultContext``; every optional power it uses was checked once at
set-up (``rpochaos.roles.check_powers``), so a builder only raises TopologyError for what can
change while the run goes on (a link group that names no link right now, a process gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rpochaos import procs
from rpochaos.errors import TopologyError
from rpochaos.faults.archive import ArchiveFail
from rpochaos.faults.base import Fault
from rpochaos.faults.network import Bandwidth, Latency, Partition
from rpochaos.faults.node import Crash, FaultGroup, Pause
from rpochaos.faults.shim import ClockSkew, IoStall, ShimControls
from rpochaos.proxy import Toxiproxy
from rpochaos.roles import Cluster, Powers
from rpochaos.scenario import PATRONI_PROCESSES, Step


@dataclass(frozen=True)
class FaultContext:
    """What the builders need from a run."""

    proxy: Toxiproxy
    cluster: Cluster
    powers: Powers
    shim: ShimControls
    #: a link target -> the real links it names now (``System.links``)
    links: Callable[[str], list[str]]
    #: for a crash step, what to call the moment the node's processes are dead (or None)
    on_down: Callable[[Step], Callable[[], None] | None]


Builder = Callable[[Step, str, FaultContext], Fault]


def _num(v: object) -> float:
    if not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def _link_fault(step: Step, link: str, proxy: Toxiproxy) -> Fault:
    p = step.params
    if step.action == "partition":
        return Partition(
            proxy, link, mode=str(p["mode"]), direction=str(p.get("direction", "both"))
        )
    if step.action == "latency":
        return Latency(proxy, link, delay_s=_num(p["delay"]), jitter_s=_num(p.get("jitter", 0.0)))
    return Bandwidth(proxy, link, rate_kbps=_num(p["rate_kbps"]))


def _links(step: Step, target: str, ctx: FaultContext) -> Fault:
    """One toxic fault per link the target names now; a group acts as one fault."""
    links = ctx.links(target)
    if not links:
        raise TopologyError(f"{step.target} names no link right now")
    faults = [_link_fault(step, link, ctx.proxy) for link in links]
    return faults[0] if len(faults) == 1 else FaultGroup(step.target, faults)


def _crash(step: Step, target: str, ctx: FaultContext) -> Fault:
    cluster = ctx.cluster
    cut = step.params.get("links", "cut") == "cut"
    down = ctx.on_down(step)
    return Crash(
        target, lambda: cluster.crash(target, cut, on_down=down), lambda: cluster.recover(target)
    )


def _pause(step: Step, target: str, ctx: FaultContext) -> Fault:
    """The whole node, or (``process:``) the node's server processes of that role: SIGSTOP
    them, and return once they are seen stopped (bounded); heal sends SIGCONT. Under
    ``manager: patroni``, ``process: patroni`` is the node's Patroni alone (its PostgreSQL
    keeps serving): heal is ``resume_patroni``."""
    node = ctx.cluster.nodes[target]
    role = step.params.get("process")
    if not role:
        return Pause(target, node.pause, node.resume)
    if role in PATRONI_PROCESSES["pause"]:
        patroni = ctx.powers.patroni
        assert patroni is not None, "checked at set-up (roles.check_powers)"
        return Pause(
            f"{target}:{role}",
            lambda: patroni.pause_patroni(target),
            lambda: patroni.resume_patroni(target),
        )
    assert ctx.powers.pids is not None, "checked at set-up (roles.check_powers)"
    pid = ctx.powers.pids.pid_of(target)
    if pid is None:
        raise TopologyError(f"pausing one process needs the local backend ({target})")
    stopped: list[int] = []

    def pause() -> None:
        pids = procs.postgres_process(int(pid), target, str(role))
        if not pids:
            raise TopologyError(f"{target} has no {role} process to pause")
        for p in pids:
            os.kill(p, signal.SIGSTOP)
            stopped.append(p)
        procs.wait_stopped(pids)

    def resume() -> None:
        while stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped.pop(), signal.SIGCONT)

    return Pause(f"{target}:{role}", pause, resume)


def _io_stall(step: Step, target: str, ctx: FaultContext) -> Fault:
    return IoStall(target, ctx.shim.iostall[target])


def _clock_skew(step: Step, target: str, ctx: FaultContext) -> Fault:
    p = step.params
    return ClockSkew(
        target, ctx.shim.clocks[target], _num(p["offset"]), _num(p.get("drift_ppm", 0.0))
    )


def _archive_fail(step: Step, target: str, ctx: FaultContext) -> Fault:
    flag = ctx.powers.archive.archive_fail_flag if ctx.powers.archive is not None else None
    if flag is None:
        raise TopologyError("archive_fail needs topology.archive")
    return ArchiveFail(target, flag)


#: action -> the builder of its fault
BUILDERS: Mapping[str, Builder] = {
    "partition": _links,
    "latency": _links,
    "bandwidth": _links,
    "crash": _crash,
    "pause": _pause,
    "io_stall": _io_stall,
    "clock_skew": _clock_skew,
    "archive_fail": _archive_fail,
}


def build(step: Step, target: str, ctx: FaultContext) -> Fault:
    """The fault for ``step``, not yet injected (KeyError for an action that makes none)."""
    return BUILDERS[step.action](step, target, ctx)
