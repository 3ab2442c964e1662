"""The shipped MariaDB scenarios through the CLI and through pytest, against real MariaDB 10.11
and Toxiproxy: exit codes, lost writes, the semi-sync switch-off against the first stalled
commit's return, the old primary's failure to follow (1236), and an independent recount with
the ``mariadb`` client on the promoted node of a topology kept running (--keep-topology in a
runs root of the test's own, removed afterwards: the servers by pid, the rest by the local
backend's gc of that runs root).

About 20 s + 30 s for the two CLI runs and 50 s for the pytest run on a quiet machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.backends import local
from rpochaos.history_read import read_history
from rpochaos.mariadb import deps as mdeps
from tests.helpers import SCENARIOS, require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "rpochaos"
FALLS_BACK = SCENARIOS / "mariadb-semisync-timeout-falls-back.yaml"
NO_FALLBACK = SCENARIOS / "mariadb-semisync-no-fallback.yaml"
#: 'kept mariadb replica1: 127.0.0.1:PORT pid N (mariadb -h127.0.0.1 -PPORT -urpochaos -pPW)'
CACHE = deps.cache_dir()  # before pytester points HOME at its tmp dir
KEPT = re.compile(r"kept mariadb (\w+): 127\.0\.0\.1:(\d+) pid (\d+) \(.* -p(\S+)\)")


@pytest.fixture(autouse=True)
def _dependencies() -> None:
    require(mdeps.check)
    require(deps.toxiproxy_server)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )


def acked_seqs(run_dir: Path) -> dict[int, tuple[float, float]]:
    """seq -> (invoked, completed) of every write that completed ok, from the journal."""
    return {
        op.seq: (op.invoke_s, op.complete_s)
        for op in read_history(run_dir / "history.jsonl")
        if op.outcome == "ok" and op.complete_s is not None
    }


def recount(port: int, password: str) -> set[int]:
    """Every seq on the server at ``port``, read with the mariadb command-line client."""
    out = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{port}", "-urpochaos", f"-p{password}", "-N", "-B", "-e",
         "SELECT seq FROM rpochaos.writes"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return {int(x) for x in out.split()}


def test_the_timeout_falls_back_and_loses_what_the_primary_acked_alone(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = runs / FALLS_BACK.stem / "kept"
    proc = run_cli("run", str(FALLS_BACK), "--out", str(out), "--runs-root", str(runs),
                   "--keep-topology", "--plain")  # fmt: skip
    kept = {m[1]: (int(m[2]), int(m[3]), m[4]) for m in KEPT.finditer(proc.stdout + proc.stderr)}
    try:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        result = json.loads((out / "result.json").read_text())
        w = result["writes"]
        assert w["lost"] > 0
        assert result["failover"]["promoted"] == "replica1"

        # the switch-off against the first commit that waited out the 2 s timeout
        acked = acked_seqs(out)
        stalled = sorted(done for start, done in acked.values() if done - start >= 1.5)
        assert stalled, "no commit waited out the timeout"
        ss = result["semi_sync"]
        assert ss["off"], ss
        off_s = ss["off"][0]["off_s"]
        print(f"first stalled commit returned {stalled[0]:.3f} s, switch-off seen {off_s:.3f} s")
        assert abs(off_s - stalled[0]) <= 0.1
        assert ss["acked_while_off_lost"] == w["lost"], "every loss was acked while OFF"
        rejoin = ss["rejoins"][0]
        assert (rejoin["node"], rejoin["following"], rejoin["errno"]) == ("primary", False, 1236)

        # an independent recount on the promoted node, by the mariadb client
        port, _pid, password = kept["replica1"]
        present = recount(port, password)
        lost = sorted(set(acked) - present)
        assert len(lost) == w["lost"]
        assert len(present) == len(json.loads((out / "final_read.json").read_text())["seqs"])
        summary = proc.stdout
        assert "semi-sync switched OFF at" in summary
        assert "could not follow replica1" in summary and "1236" in summary
        assert "rpl_semi_sync_master_timeout=2000" in summary
    finally:
        # the local gc, scoped to this runs root, kills the kept servers (mariadbd, started
        # through setpriv, is matched by pid and start time), Toxiproxy, and removes the data
        removed = local.gc(runs, force=True)
        for node, (_port, pid, _pw) in kept.items():  # each named, not found as a stray
            assert any(r.endswith(f": mariadb-{node} (pid {pid})") for r in removed), removed
        left = [pid for _port, pid, _pw in kept.values() if _alive(pid)]
        assert not left, f"mariadbd pids {left} still run"


def _alive(pid: int, within_s: float = 10.0) -> bool:
    """Whether ``pid`` still runs ``within_s`` from now (a zombie counts as gone)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        time.sleep(0.1)
    return True


def test_a_timeout_beyond_the_outage_stalls_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("run", str(NO_FALLBACK), "--out", str(out), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["writes"]["lost"] == 0 and result["writes"]["acknowledged"] > 0
    assert result["semi_sync"]["off"] == []
    assert "semi-sync: never switched off" in proc.stdout
    longest = max(done - start for start, done in acked_seqs(out).values())
    assert longest >= 2.0, "the outage should have stalled a commit, not dropped it"


def test_pytest_gives_the_same_verdicts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPOCHAOS_CACHE", str(CACHE))
    res = pytester.runpytest_subprocess(
        "--rpo-scenario", str(SCENARIOS / "mariadb-*.yaml"), "-p", "no:cacheprovider"
    )
    res.assert_outcomes(passed=2, failed=1)
    assert "mariadb-semisync-timeout-falls-back" in res.stdout.str()
