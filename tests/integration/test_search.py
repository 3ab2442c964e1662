"""Real searches, small budgets, against real PostgreSQL and Toxiproxy: the synchronous
scenario breaks nothing, boundary mode brackets the flip, a found failure is stored, replayed
first by the next search (here through the pytest plugin), and its .found.yaml runs by itself
with the same verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SEARCH = ROOT / "scenarios" / "search"


def _search(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rpochaos.search", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=230,
    )


def _async_copy(tmp_path: Path, low: str, high: str) -> Path:
    """The async scenario with a narrower range and a shorter workload (faster runs)."""
    text = (SEARCH / "async-partition-boundary.yaml").read_text()
    text = text.replace("{range: [200ms, 6s]}", f"{{range: [{low}, {high}]}}")
    text = text.replace("duration: 8s", "duration: 5s")
    path = tmp_path / "async.yaml"
    path.write_text(text)
    return path


def test_the_sync_scenario_breaks_nothing_and_says_how_many_it_tried(
    real_pg: None, tmp_path: Path
) -> None:
    text = (SEARCH / "sync-never-breaks.yaml").read_text().replace("duration: 8s", "duration: 7s")
    scenario = tmp_path / "sync-never-breaks.yaml"  # the same space, a shorter workload
    scenario.write_text(text)
    proc = _search(str(scenario), "--budget", "3", "--runs-root", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 schedules tried, none broke the RPO" in proc.stdout
    runs = sorted(tmp_path.glob("sync-never-breaks/search-*/examples/*/result.json"))
    assert len(runs) == 3
    assert all(json.loads(r.read_text())["verdict"] == "PASS" for r in runs)
    assert (tmp_path / "index.html").read_text().count("sync-never-breaks") >= 3


def test_boundary_mode_brackets_the_flip_between_a_pass_and_a_fail(
    real_pg: None, tmp_path: Path
) -> None:
    scenario = _async_copy(tmp_path, "200ms", "3s")
    out = tmp_path / "b"
    proc = _search(
        str(scenario), "--boundary", "cut.for", "--budget", "3", "--out", str(out),
        "--runs-root", str(tmp_path / "runs"),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads((out / "search.json").read_text())
    b = data["boundary"]
    assert b["runs"] == 3 and b["passing"] < b["failing"] <= 3.0
    assert "boundary of cut.for: between" in proc.stdout
    page = (out / "report.html").read_text()
    assert "boundary between" in page  # the bracket is drawn


def test_a_found_failure_is_replayed_first_and_its_file_reproduces(
    real_pg: None, tmp_path: Path
) -> None:
    scenario = _async_copy(tmp_path, "2500ms", "3s")
    runs = tmp_path / "runs"
    first = _search(
        str(scenario), "--budget", "2", "--repeats", "1", "--runs-root", str(runs),
        "--out", str(tmp_path / "first"),
    )  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr
    found = tmp_path / "first" / "async-partition-boundary.found.yaml"
    assert "reproduce: rpochaos run" in first.stdout and found.exists()
    # the second search, as a pytest test: the stored failure is run first and fails
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "--rpo-search", str(scenario), "--rpo-search-budget", "3",
            "--rpo-search-repeats", "1", "--rpo-search-runs-root", str(runs),
        ],
        capture_output=True, text=True, cwd=empty, timeout=230,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "replayed 1 stored failure(s) first" in proc.stdout
    assert "a failing schedule found after 1 schedule tried" in proc.stdout
    assert "rpochaos run " in proc.stdout and "1 failed" in proc.stdout
    second = sorted((runs / "async-partition-boundary").glob("search-*/search.json"))
    assert json.loads(second[-1].read_text())["examples"][0]["phase"] == "replay"
    # the .found.yaml on its own: the same verdict
    alone = subprocess.run(
        [sys.executable, "-m", "rpochaos.cli", "run", str(found), "--out", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 1, alone.stdout + alone.stderr
    assert json.loads((tmp_path / "a" / "result.json").read_text())["verdict"] == "FAIL"
