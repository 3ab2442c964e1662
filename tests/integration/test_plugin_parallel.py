"""``pytest -n 2 --rpo-scenario ...``: scenarios side by side under pytest-xdist, in a child
pytest. Every run brings its own PostgreSQL servers, Toxiproxy and ports, so two workers
never collide: each scenario gets its own run directory, the verdicts are the serial ones,
and nothing of either worker is left running."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rpochaos import deps
from tests.helpers import SCENARIOS
from tests.integration.helpers import fault, within

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
CACHE = deps.cache_dir()  # before pytester points HOME at its tmp dir

#: four shipped PostgreSQL scenarios and their verdicts when run alone
EXPECTED = {
    "pg-async-partition-crash": "FAIL",
    "pg-sync-partition-crash": "PASS",
    "pg-async-lag-within-rpo": "PASS",
    "pg-split-brain": "FAIL",
}


def test_two_workers_run_scenarios_side_by_side_without_colliding(
    real_pg: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RPOCHAOS_CACHE", str(CACHE))
    runs, junit = tmp_path / "runs", tmp_path / "junit.xml"
    args = [a for name in EXPECTED for a in ("--rpo-scenario", str(SCENARIOS / f"{name}.yaml"))]
    res = pytester.runpytest_subprocess(
        "-n", "2", *args, "--rpo-runs-dir", str(runs), f"--junitxml={junit}",
        "-p", "no:cacheprovider", timeout=540,
    )  # fmt: skip
    out = res.stdout.str()
    assert "2 workers" in out or "created: 2/2 workers" in out, out
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == set(EXPECTED), out
    for name, case in cases.items():
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["rpo_verdict"] == EXPECTED[name], (name, out)
    dirs = sorted(runs.glob("*/*/result.json"))
    assert len(dirs) == len(EXPECTED) and len({d.parent for d in dirs}) == len(EXPECTED)
    by_name = {}
    for d in dirs:
        r = json.loads(d.read_text())
        by_name[r["scenario"]] = r
        assert r["verdict"] == EXPECTED[r["scenario"]]
    # the shared CPUs do not move the measurement out of its tolerance
    r = by_name["pg-async-partition-crash"]
    injected = fault(r, "crash")["start_s"] - fault(r, "partition")["start_s"]
    assert within(r["data_loss_window_s"], injected), (r["data_loss_window_s"], injected)
    assert by_name["pg-sync-partition-crash"]["writes"]["lost"] == 0
    # no server of either worker outlives the session
    assert not _running_under(runs)


def _running_under(root: Path) -> list[str]:
    """The command lines of live processes that name a path under ``root``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in argv:
            found.append(argv)
    return found
