"""A run on a disk too full for it refuses before creating anything: exit 254, a message that
says where, how much is free and needed and what to do; no run directory, no process.

The full disk is a real one: a 5 MB tmpfs mounted for the test (needs root, as CI has)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rpochaos.diskspace import PER_NODE_BYTES, PER_WRITE_BYTES, check_space, needed_bytes
from rpochaos.errors import MissingDependency, NotEnoughSpace
from rpochaos.scenario import load
from tests.helpers import SCENARIOS, require
from tests.integration.helpers import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _mount(at: Path) -> Path:
    at.mkdir()
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(at)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if got.returncode != 0:
        raise MissingDependency(f"a 5 MB tmpfs ({got.stderr.strip()})", "run the tests as root")
    return at


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = require(lambda: _mount(tmp_path / "small"))
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_run_on_a_full_disk_refuses_before_creating_anything(
    real_pg: None, small_disk: Path
) -> None:
    out = small_disk / "run"
    proc = cli("run", str(SCENARIOS / "pg-async-partition-crash.yaml"), "--out", str(out), "-q")
    assert proc.returncode == 254, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert f"not enough free disk for this run: {small_disk} has 5 MB free" in text, text
    assert "the run needs about 201 MB (2 nodes" in text and "--out DIR" in text, text
    assert not out.exists() and list(small_disk.iterdir()) == []


def test_the_estimate_counts_nodes_and_writes(tmp_path: Path) -> None:
    sc = load(SCENARIOS / "pg-async-partition-crash.yaml")  # 2 nodes, 400/s for 9 s
    assert needed_bytes(sc) == 2 * PER_NODE_BYTES + 3600 * PER_WRITE_BYTES
    kafka = load(SCENARIOS / "kafka-acks1-leader-cut-then-killed.yaml")  # 3 brokers
    assert needed_bytes(kafka) >= 3 * PER_NODE_BYTES
    check_space(tmp_path / "not" / "yet" / "made", sc)  # a roomy disk: no error
    huge = replace(sc, workload=replace(sc.workload, rate=1e9, duration=1e6))
    with pytest.raises(NotEnoughSpace, match="the run needs about"):
        check_space(tmp_path, huge)
