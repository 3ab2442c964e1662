"""The pytest face: ``pytest --rpo-scenario`` and the ``rpo_run`` fixture, in a child pytest."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rpochaos import deps
from tests.helpers import SCENARIOS
from tests.integration.helpers import result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
CACHE = deps.cache_dir()  # before pytester points HOME at its tmp dir


@pytest.fixture(autouse=True)
def _keep_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPOCHAOS_CACHE", str(CACHE))


EXPECTED = {
    "pg-async-partition-crash": "FAIL",
    "pg-sync-partition-crash": "PASS",
    "pg-sync-cancel-is-not-durable": "FAIL",
    "pg-async-lag-within-rpo": "PASS",
    "pg-split-brain": "FAIL",
    "pg-clock-skew-lag-lies": "FAIL",
    "kafka-acks1-leader-cut-then-killed": "FAIL",
    "kafka-acks-all-min-isr-2": "PASS",
    "kafka-unclean-election": "FAIL",
    "patroni-async-host-crash": "FAIL",
    "patroni-async-max-lag-refuses": "PASS",
    "patroni-sync-mode-strict": "PASS",
    "patroni-isolated-leader": "FAIL",
    "patroni-sync-mode-falls-back": "PASS",
    "patroni-rewind-erases": "FAIL",
    "mariadb-semisync-timeout-falls-back": "FAIL",
    "mariadb-semisync-no-fallback": "PASS",
    "mariadb-after-commit-phantom": "PASS",
}


def test_collection_by_folder_glob_and_name(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nrpo_scenarios_dir = {SCENARIOS}\n")
    by_dir = pytester.runpytest_subprocess("--rpo-scenario", str(SCENARIOS), "--collect-only", "-q")
    for name in EXPECTED:
        assert any(name in line for line in by_dir.outlines), by_dir.outlines
    by_glob = pytester.runpytest_subprocess(
        "--rpo-scenario", str(SCENARIOS / "pg-sync-*.yaml"), "--collect-only", "-q"
    )
    assert "2 tests collected" in by_glob.stdout.str()
    by_name = pytester.runpytest_subprocess(
        "--rpo-scenario", "pg-split-brain", "--collect-only", "-q"
    )
    assert "1 test collected" in by_name.stdout.str()
    unknown = pytester.runpytest_subprocess("--rpo-scenario", "no-such-scenario")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "no-such-scenario" in unknown.stderr.str()


def test_a_broken_scenario_is_a_collection_error_with_its_problems(
    pytester: pytest.Pytester,
) -> None:
    bad = pytester.path / "bad.yaml"
    bad.write_text("system: postgres\nworkload: {rate: fast}\n")
    res = pytester.runpytest_subprocess("--rpo-scenario", str(bad))
    assert res.ret == pytest.ExitCode.INTERRUPTED
    assert "workload.rate: got 'fast'" in res.stdout.str()


def test_every_shipped_scenario_gets_the_cli_outcome_and_junit_properties(
    real_pg: None, pytester: pytest.Pytester, shipped: Any, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    res = pytester.runpytest_subprocess(
        "--rpo-scenario",
        str(SCENARIOS),
        "--rpo-runs-dir",
        str(tmp_path / "runs"),
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        timeout=1500,
    )
    outcomes = res.parseoutcomes()
    passes = sum(1 for v in EXPECTED.values() if v == "PASS")
    assert outcomes.get("passed") == passes, res.stdout.str()
    assert outcomes.get("failed") == len(EXPECTED) - passes, res.stdout.str()
    assert "rpochaos scenarios" in res.stdout.str()  # the terminal summary section
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == set(EXPECTED)
    for name, case in cases.items():
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["rpo_verdict"] == EXPECTED[name], name
        assert {
            "rpo_lost",
            "rpo_acknowledged",
            "rpo_window_s",
            "rpo_declared_s",
            "rpo_rto_s",
        } <= props.keys()
        # the CLI gives the same verdict for the same scenario
        _, cli_out = shipped(name)
        assert result_of(cli_out)["verdict"] == props["rpo_verdict"], name
        failed = case.find("failure") is not None
        assert failed == (EXPECTED[name] != "PASS"), name


SMALL = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
workload: {rate: 200/s, concurrency: 2, duration: 4s}
schedule:
  - {at: 1s, partition: replica1->primary, mode: blackhole}
  - {at: 2500ms, crash: primary, outage: true}
  - {at: 3s, promote: replica1}
expect: {rpo: 10s}
"""


def test_rpo_run_fixture_returns_the_result_to_assert_on(
    real_pg: None, pytester: pytest.Pytester
) -> None:
    (pytester.path / "small.yaml").write_text(SMALL)
    pytester.makepyfile(
        test_small="""
        def test_small(rpo_run, request):
            res = rpo_run("small.yaml")
            assert res.verdict.value == "PASS"          # 1.5 s window < 10 s RPO
            assert res.result["writes"]["lost"] > 0
            assert 1.0 < res.result["data_loss_window_s"] < 2.0
            assert ("rpo_verdict", "PASS") in request.node.user_properties
        """
    )
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    res.assert_outcomes(passed=1)


def test_cli_repeat_prints_meets_rpo_and_spread_and_writes_junit(
    real_pg: None, tmp_path: Path
) -> None:
    from tests.integration.helpers import cli

    f = tmp_path / "small.yaml"
    f.write_text(SMALL)
    junit = tmp_path / "j.xml"
    proc = cli(
        "run",
        str(f),
        "--repeat",
        "2",
        "--out",
        str(tmp_path / "r"),
        "--junit",
        str(junit),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "meets RPO (10.000 s): 100 % of 2 runs" in proc.stdout
    assert "data-loss window over 2 runs: min" in proc.stdout
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == 2
    assert all(
        {p.get("name") for p in c.iter("property")} >= {"rpo_verdict", "rpo_window_s"}
        for c in cases
    )


def test_pytest_rpo_repeat_runs_each_scenario_n_times(
    real_pg: None, pytester: pytest.Pytester
) -> None:
    (pytester.path / "small.yaml").write_text(SMALL)
    res = pytester.runpytest_subprocess(
        "--rpo-scenario",
        str(pytester.path / "small.yaml"),
        "--rpo-repeat",
        "2",
        "-p",
        "no:cacheprovider",
        timeout=120,
    )
    res.assert_outcomes(passed=2)
    assert "meets RPO" in res.stdout.str()
