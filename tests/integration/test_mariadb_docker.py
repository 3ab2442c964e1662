"""The shipped MariaDB semi-sync scenarios on the docker backend, through the CLI: exit codes,
lost writes, the semi-sync switch-off against the first stalled commit's return, the old
primary's failure to follow (1236), an independent recount with the ``mariadb`` client
inside the promoted node's container (a topology kept running, then removed by ``rpochaos gc
--force``), and nothing of a run left after SIGINT (the run cleans up) or SIGKILL (``rpochaos
gc`` does).

The image is the official ``mariadb:10.11`` when the engine has it or can pull it, else the
local ``rpochaos/mariadb:10.11`` (built once, ~40 s). About 25 s + 20 s for the two runs and
15 s for each interrupted one on a quiet machine. Without an engine these tests skip with the
install hint; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos.backends import engine
from rpochaos.history_read import read_history
from tests.helpers import ROOT, SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FALLS_BACK = SCENARIOS / "mariadb-semisync-timeout-falls-back.yaml"
NO_FALLBACK = SCENARIOS / "mariadb-semisync-no-fallback.yaml"
#: 'kept mariadb replica1: container NAME, 127.0.0.1:PORT (docker exec -it -u root NAME
#: mariadb --socket=SOCKET)'
KEPT = re.compile(r"kept mariadb (\w+): container (\S+), 127\.0\.0\.1:\d+ .*--socket=(\S+)\)")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = require(engine.client)
    from rpochaos.images import resolve_images

    require(lambda: resolve_images(system="mariadb", client=c))  # built here when missing
    yield c
    c.close()


def labelled(client: Any, run_id: str) -> list[str]:
    """Every container, network and volume of docker run ``run_id``."""
    flt = {"label": f"rpochaos.run={run_id}"}
    return sorted(
        [
            *(f"container {c.name}" for c in client.containers.list(all=True, filters=flt)),
            *(f"network {n.name}" for n in client.networks.list(filters=flt)),
            *(f"volume {v.name}" for v in client.volumes.list(filters=flt)),
        ]
    )


def run_id_of(run_dir: Path) -> str:
    return str(json.loads((run_dir / "resolved.json").read_text())["backend_info"]["run_id"])


def acked_seqs(run_dir: Path) -> dict[int, tuple[float, float]]:
    """seq -> (invoked, completed) of every write that completed ok, from the journal."""
    return {
        op.seq: (op.invoke_s, op.complete_s)
        for op in read_history(run_dir / "history.jsonl")
        if op.outcome == "ok" and op.complete_s is not None
    }


def recount(container: str, socket: str) -> set[int]:
    """Every seq on the server in ``container``, read by the mariadb client inside it (root
    over the unix socket: no password, no proxy, no port of the harness)."""
    out = subprocess.run(
        ["docker", "exec", "-u", "root", container, "mariadb", f"--socket={socket}", "-N", "-B",
         "-e", "SELECT seq FROM rpochaos.writes"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return {int(x) for x in out.split()}


def test_the_timeout_falls_back_and_loses_what_the_primary_acked_alone(
    client: Any, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    out = runs / "kept"
    proc = cli("run", str(FALLS_BACK), "--backend", "docker", "--out", str(out),
               "--runs-root", str(runs), "--keep-topology", "--plain", timeout=280)  # fmt: skip
    kept = {m[1]: (m[2], m[3]) for m in KEPT.finditer(proc.stdout + proc.stderr)}
    try:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        result = result_of(out)
        assert result["backend"] == "docker"
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

        # an independent recount on the promoted node, inside its container
        container, socket = kept["replica1"]
        present = recount(container, socket)
        assert len(set(acked) - present) == w["lost"]
        assert present == set(json.loads((out / "final_read.json").read_text())["seqs"])
        assert "semi-sync switched OFF at" in proc.stdout
        assert "rpl_semi_sync_master_timeout=2000" in proc.stdout
        assert "rpl_semi_sync_master_wait_point=AFTER_SYNC" in proc.stdout
    finally:
        run_id = run_id_of(out) if (out / "resolved.json").exists() else None
        g = cli("gc", "--force", str(runs), timeout=120)
        assert g.returncode == 0, g.stdout + g.stderr
        if run_id is not None:
            assert labelled(client, run_id) == []


def test_a_timeout_beyond_the_outage_stalls_and_loses_nothing(client: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", str(NO_FALLBACK), "--backend", "docker", "--out", str(out), "--plain",
               timeout=280)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = result_of(out)
    assert result["writes"]["lost"] == 0 and result["writes"]["acknowledged"] > 0
    assert result["semi_sync"]["off"] == []
    assert "semi-sync: never switched off" in proc.stdout
    assert "rpl_semi_sync_master_timeout=60000" in proc.stdout
    longest = max(done - start for start, done in acked_seqs(out).values())
    assert longest >= 2.0, "the outage should have stalled a commit, not dropped it"
    assert labelled(client, run_id_of(out)) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_an_interrupted_run_then_gc_leaves_nothing(
    client: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*RPOCHAOS, "run", str(FALLS_BACK), "--backend", "docker", "--out", str(out), "--plain"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        ev = out / "events.jsonl"
        while not (ev.exists() and '"action":"partition"' in ev.read_text()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the partition never started"
            time.sleep(0.1)
        run_id = run_id_of(out)
        assert any(x.startswith("container ") for x in labelled(client, run_id))
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if sig == signal.SIGINT:
        assert proc.returncode != 0
        assert labelled(client, run_id) == [], "the interrupted run did not clean up"
    g = cli("gc", str(tmp_path), timeout=120)
    assert g.returncode == 0, g.stdout + g.stderr
    assert labelled(client, run_id) == []
