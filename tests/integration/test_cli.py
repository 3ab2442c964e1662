"""The CLI's handling of bad input and missing programs: clear errors, exit 254, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SCENARIOS
from tests.integration.helpers import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

THREE_MISTAKES = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: asynch
workload:
  rate: 100 per second
  duration: 5s
schedule:
  - at: 1s
    crash: primary
    outage: true
expect:
  rpo: soon
"""


def test_three_mistakes_one_error_naming_all_three(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(THREE_MISTAKES)
    for cmd in (["validate", str(f)], ["run", str(f), "--out", str(tmp_path / "r")]):
        proc = cli(*cmd)
        assert proc.returncode == 254, proc.stdout + proc.stderr
        text = proc.stdout + proc.stderr
        assert "3 problems" in text
        assert f"{f}:6: topology.replicas[0].mode: got 'asynch'" in text
        assert f"{f}:8: workload.rate: got '100 per second'" in text
        assert f"{f}:15: expect.rpo: got 'soon'" in text
    assert not (tmp_path / "r").exists(), "a bad scenario must be rejected before anything starts"


def test_validate_and_list_accept_every_shipped_scenario() -> None:
    proc = cli("validate", str(SCENARIOS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == len(list(SCENARIOS.glob("*.yaml")))
    ls = cli("list", str(SCENARIOS))
    assert "pg-async-partition-crash" in ls.stdout


def test_plan_prints_the_timeline_without_running() -> None:
    proc = cli("plan", str(SCENARIOS / "pg-async-partition-crash.yaml"))
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any("partition replica1->primary" in x for x in lines)
    assert any("crash primary" in x and "[outage]" in x for x in lines)


def test_missing_toxiproxy_says_how_to_install_it(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = cli(
        "run",
        str(SCENARIOS / "pg-async-partition-crash.yaml"),
        "--out",
        str(out),
        env={"RPOCHAOS_TOXIPROXY": str(tmp_path / "nope")},
    )
    assert proc.returncode == 254
    assert "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0" in proc.stderr
    assert not out.exists()


def test_doctor_lists_every_dependency(real_pg: None) -> None:
    proc = cli("doctor")
    assert proc.returncode == 0, proc.stdout
    for name in ("postgresql", "toxiproxy", "postgres-user"):
        assert name in proc.stdout


def test_bad_arguments_exit_254_and_analyze_of_a_non_run_too(tmp_path: Path) -> None:
    assert cli("run").returncode == 254
    assert cli("frobnicate").returncode == 254
    assert (
        cli("run", str(SCENARIOS / "pg-async-partition-crash.yaml"), "--backend", "moon").returncode
        == 254
    )
    assert cli("analyze", str(tmp_path)).returncode == 254
    assert cli("run", str(tmp_path / "missing.yaml")).returncode == 254
