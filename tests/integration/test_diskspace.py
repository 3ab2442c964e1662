"""A run on a disk too full for it refuses before creating anything: exit 254, a message that
says where, how much is free and needed and what to do; no run directory, no process. A disk
that another process fills during a run stops the run (heal, UNKNOWN, exit 2) with a whole
journal that ``analyze`` reads.

The disks are real ones: tmpfs mounts made for the test (needs root, as CI has)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rpochaos.diskspace import PER_NODE_BYTES, PER_WRITE_BYTES, check_space, needed_bytes
from rpochaos.errors import MissingDependency, NotEnoughSpace
from rpochaos.scenario import load
from tests.helpers import SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _mount(at: Path, size: str = "5m") -> Path:
    at.mkdir()
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(at)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if got.returncode != 0:
        raise MissingDependency(f"a {size} tmpfs ({got.stderr.strip()})", "run the tests as root")
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


@pytest.fixture
def disk_400m(tmp_path: Path) -> Iterator[Path]:
    at = require(lambda: _mount(tmp_path / "disk", "400m"))
    try:
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)


@pytest.mark.timeout(180)
def test_a_disk_filled_mid_run_stops_the_run_with_a_whole_journal(
    real_pg: None, disk_400m: Path
) -> None:
    out = disk_400m / "run"
    proc = subprocess.Popen(
        [*RPOCHAOS, "run", str(SCENARIOS / "pg-async-partition-crash.yaml"), "--out", str(out),
         "-q", "--no-html"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while '"workload_start"' not in _read(out / "events.jsonl"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        time.sleep(1.0)
        # another tenant fills the disk, leaving 20 MB
        free = shutil.disk_usage(disk_400m).free
        with open(disk_400m / "filler", "wb") as f:
            f.truncate(0)
            for _ in range((free - 20 * 2**20) // 2**20):
                f.write(b"\0" * 2**20)
        text, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, text  # UNKNOWN: the run measured the disk, not the system
    assert "Traceback" not in text
    r = json.loads((out / "result.json").read_text())
    assert r["verdict"] == "UNKNOWN"
    assert any("disk died unexpectedly" in why for why in r["reasons"]), r["reasons"]
    assert "MB free, under 32 MB" in " ".join(r["reasons"])
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "dependency_lost" and e["what"] == "disk" for e in events)
    # every line of the journal is whole, and analyze answers from it
    lines = (out / "history.jsonl").read_text().splitlines()
    assert len(lines) > 100 and all(json.loads(line) for line in lines)
    again = cli("analyze", str(out), "--json")
    assert again.returncode == 2 and json.loads(again.stdout)["verdict"] == "UNKNOWN"
    (disk_400m / "filler").unlink()
    assert subprocess.run(["umount", str(disk_400m)], check=False).returncode == 0  # none open


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
