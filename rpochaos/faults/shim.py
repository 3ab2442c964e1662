"""Harness side of the node-fault shim (rpochaos/native/nodeshim.c): its control files and
the faults built on them.

A node whose scenario has an ``io_stall`` or ``clock_skew`` step starts with the shim in
LD_PRELOAD and the control files' paths in its environment (``node_env``). The harness then
flips the faults on and off by writing those files, while the node runs:

- io_stall: the switch file exists -> every write/fsync on a regular file blocks.
- clock_skew: a 32-byte file the shim maps read-only; the wall clock the node sees is
  real + offset + (real - anchor) * drift. Monotonic clocks are untouched.
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rpochaos import deps
from rpochaos.faults.base import Fault
from rpochaos.faults.node import Reversible
from rpochaos.scenario import Choose, Scenario

#: the actions the shim makes
SHIM_ACTIONS: tuple[str, ...] = ("io_stall", "clock_skew")

_CLOCK = struct.Struct("<qqqQ")  # offset_ns, drift_ppb, anchor_ns, seq


class ClockControl:
    """The clock file of one node. Creating it sets a zero skew."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(_CLOCK.pack(0, 0, time.time_ns(), 0))
        os.chmod(path, 0o644)
        self._seq = 0

    def set(self, offset_s: float, drift_ppm: float = 0.0) -> None:
        """From now on the node's wall clock reads real + offset, drifting by ``drift_ppm``
        microseconds per second from this moment."""
        with open(self.path, "r+b") as f, mmap.mmap(f.fileno(), _CLOCK.size) as m:
            self._seq += 1
            m[24:32] = struct.pack("<Q", 2 * self._seq - 1)  # odd: being written
            m[0:24] = struct.pack(
                "<qqq", round(offset_s * 1e9), round(drift_ppm * 1000), time.time_ns()
            )
            m[24:32] = struct.pack("<Q", 2 * self._seq)  # even: consistent


class IoStallSwitch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.off()

    def on(self) -> None:
        self.path.touch()

    def off(self) -> None:
        self.path.unlink(missing_ok=True)


def node_env(
    shim: Path, iostall: IoStallSwitch | None, clock: ClockControl | None
) -> dict[str, str]:
    """Environment variables that load the shim into a node's processes."""
    env = {"LD_PRELOAD": str(shim)}
    if iostall is not None:
        env["RPOCHAOS_IOSTALL_FILE"] = str(iostall.path)
    if clock is not None:
        env["RPOCHAOS_CLOCK_FILE"] = str(clock.path)
    return env


class IoStall(Reversible):
    """Durable writes of one node block until healed (``switch`` on, then off); the node
    keeps running otherwise."""

    kind = "io_stall"

    def __init__(self, target: str, switch: IoStallSwitch) -> None:
        super().__init__(target, switch.on, switch.off)


class ClockSkew(Fault):
    """One node's wall clock is shifted by ``offset_s`` (and drifts by ``drift_ppm``);
    healing puts it back on time."""

    kind = "clock_skew"

    def __init__(
        self, target: str, control: ClockControl, offset_s: float, drift_ppm: float = 0.0
    ) -> None:
        super().__init__(target)
        self.control = control
        self.offset_s = offset_s
        self.drift_ppm = drift_ppm

    def _inject(self) -> None:
        self.control.set(self.offset_s, self.drift_ppm)

    def _heal(self) -> None:
        self.control.set(0.0, 0.0)


@dataclass
class ShimControls:
    """The shim's control files of one run: io_stall switches and clock files per node, and
    the environment each of those nodes starts with (empty when no step needs the shim)."""

    iostall: dict[str, IoStallSwitch] = field(default_factory=dict)
    clocks: dict[str, ClockControl] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the host directory holding the shim library and the control files, if any
    directory: Path | None = None


def prepare(
    wants: Iterable[tuple[str, list[str]]], every: Iterable[str], root: Path
) -> ShimControls:
    """Control files and LD_PRELOAD for the nodes that io_stall or clock_skew target, under
    ``root/_shim``. ``wants`` holds (action, target names) per step; a target that is not a
    node name (one resolved only when its step runs, a Kafka ``leader``) loads the shim into
    every node of ``every``."""
    nodes = list(every)
    wanted: dict[str, set[str]] = {}
    for action, names in wants:
        if action not in SHIM_ACTIONS:
            continue
        for n in names:
            for node in [n] if n in nodes else nodes:
                wanted.setdefault(node, set()).add(action)
    if not wanted:
        return ShimControls()
    shim_dir = root / "_shim"
    shim_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(shim_dir, 0o755)
    lib = shim_dir / "librpochaos-node.so"
    shutil.copyfile(deps.node_shim(), lib)
    os.chmod(lib, 0o755)
    out = ShimControls(directory=shim_dir)
    for node, actions in wanted.items():
        sw = IoStallSwitch(shim_dir / f"{node}.iostall") if "io_stall" in actions else None
        ck = ClockControl(shim_dir / f"{node}.clock") if "clock_skew" in actions else None
        if sw:
            out.iostall[node] = sw
        if ck:
            out.clocks[node] = ck
        out.env[node] = node_env(lib, sw, ck)
    return out


def prepare_for(scenario: Scenario, root: Path) -> ShimControls:
    """``prepare`` for the io_stall and clock_skew steps of ``scenario``, as written (a random
    target may turn out to be any of its options)."""
    wants: list[tuple[str, list[str]]] = []
    for spec in scenario.specs or scenario.schedule:
        target = spec.target
        wants.append(
            (spec.action, list(target.options) if isinstance(target, Choose) else [target])
        )
    return prepare(wants, scenario.topology.nodes, root)
