"""The node-fault shim, preloaded into a real child process: clock skew and io stall."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.faults.shim import ClockControl, ClockSkew, IoStall, IoStallSwitch, node_env
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CLOCK_PROBE = """
import sys, time
for line in sys.stdin:
    print(f"{time.time():.3f} {time.monotonic():.3f}", flush=True)
"""


def _child(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _ask(p: subprocess.Popen[str]) -> tuple[float, float]:
    assert p.stdin and p.stdout
    p.stdin.write("\n")
    p.stdin.flush()
    wall, mono = p.stdout.readline().split()
    return float(wall) - time.time(), float(mono) - time.monotonic()


def test_clock_skew_shifts_the_wall_clock_live_and_leaves_monotonic(tmp_path: Path) -> None:
    shim = require(deps.node_shim)
    control = ClockControl(tmp_path / "clock")
    p = _child(CLOCK_PROBE, node_env(shim, None, control))
    try:
        wall, mono = _ask(p)
        assert abs(wall) < 0.5 and abs(mono) < 0.5
        with ClockSkew("n", control, offset_s=30.0):
            wall, mono = _ask(p)
            assert 29.5 < wall < 30.5, wall
            assert abs(mono) < 0.5, "monotonic clocks must not be skewed"
            control.set(-60.0)
            assert -60.5 < _ask(p)[0] < -59.5
        assert abs(_ask(p)[0]) < 0.5, "healing puts the clock back"
        control.set(0.0, drift_ppm=100_000)  # 0.1 s per second
        time.sleep(1.0)
        assert 0.05 < _ask(p)[0] < 0.2
    finally:
        p.kill()


STALL_PROBE = """
import os, socket, sys, time
a, b = socket.socketpair()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
for line in sys.stdin:
    t = time.monotonic(); a.send(b"x"); b.recv(1); sock = time.monotonic() - t
    t = time.monotonic(); os.write(fd, b"y"); os.fsync(fd); disk = time.monotonic() - t
    print(f"{sock:.3f} {disk:.3f}", flush=True)
"""


def test_io_stall_blocks_file_writes_but_not_sockets(tmp_path: Path) -> None:
    shim = require(deps.node_shim)
    switch = IoStallSwitch(tmp_path / "stall")
    p = subprocess.Popen(
        [sys.executable, "-c", STALL_PROBE, str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **node_env(shim, switch, None)},
    )
    assert p.stdin and p.stdout
    try:
        p.stdin.write("\n")
        p.stdin.flush()
        assert float(p.stdout.readline().split()[1]) < 0.5
        with IoStall("n", switch):
            p.stdin.write("\n")
            p.stdin.flush()
            time.sleep(1.0)
            assert not (tmp_path / "data").read_bytes().endswith(b"yy"), "write went through"
        sock, disk = (float(x) for x in p.stdout.readline().split())
        assert disk >= 0.9, f"the write did not wait for the stall ({disk} s)"
        assert sock < 0.2, "socket traffic must not stall"
    finally:
        p.kill()
