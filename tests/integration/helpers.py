"""Helpers for integration tests that drive the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

RPOCHAOS = [sys.executable, "-m", "rpochaos.cli"]


def cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RPOCHAOS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def result_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "result.json").read_text())
    return data


def fault(result: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(f for f in result["faults"] if f["kind"] == kind)


def within(measured: float, truth: float) -> bool:
    """The acceptance tolerance: within max(0.25 s, 10 %) of the truth."""
    return abs(measured - truth) <= max(0.25, 0.10 * truth)
