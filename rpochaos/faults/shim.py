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
import struct
import time
from pathlib import Path

from rpochaos.faults.base import Fault

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


class IoStall(Fault):
    """Durable writes of one node block until healed; the node keeps running otherwise."""

    kind = "io_stall"

    def __init__(self, target: str, switch: IoStallSwitch) -> None:
        super().__init__(target)
        self.switch = switch

    def _inject(self) -> None:
        self.switch.on()

    def _heal(self) -> None:
        self.switch.off()


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
