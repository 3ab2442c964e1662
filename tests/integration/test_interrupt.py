"""An interrupted run heals, removes every process it started, and keeps its journal."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rpochaos.backends.local import leftovers
from rpochaos.history import Outcome, read_history
from tests.helpers import ROOT, SCENARIOS
from tests.integration.helpers import RPOCHAOS, cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _start(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RPOCHAOS, "run", str(SCENARIOS / "pg-async-partition-crash.yaml"), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_partition(out: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        events = out / "events.jsonl"
        if events.exists() and '"action":"partition"' in events.read_text():
            return
        time.sleep(0.05)
    pytest.fail("the partition never started")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(f"{d.name}: {cmd}")
    return found


def _leftover_processes(out: Path) -> list[str]:
    """Processes whose command line names the run dir or its data dir (which may be a link)."""
    found = _processes_mentioning(str(out))
    data = out / "data"
    if data.is_symlink():
        found += _processes_mentioning(str(data.resolve()))
    return found


def _server_pids(out: Path) -> dict[str, int]:
    data = json.loads((out / "pids.json").read_text())
    return {k: int(v["pid"]) for k, v in data["servers"].items()}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_mid_partition_heals_tears_down_and_keeps_the_journal(
    real_pg: None, tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM (what CI runners and ``timeout`` send) behaves exactly like Ctrl-C."""
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_partition(out, proc)
    pids = _server_pids(out)
    assert set(pids) >= {"toxiproxy", "primary", "replica1"}
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    assert leftovers(out) == {}
    assert _leftover_processes(out) == []
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    started = {e["index"] for e in events if e["type"] == "step_start"}
    healed = {e["index"] for e in events if e["type"] == "step_end"}
    assert started and started <= healed, "an active fault was not healed"
    assert (out / "history.jsonl").stat().st_size > 0
    # analyze still answers, from the directory alone: UNKNOWN, never PASS
    a = cli("analyze", str(out), "--json")
    assert a.returncode == 2, a.stdout + a.stderr
    result = json.loads(a.stdout)
    assert result["verdict"] == "UNKNOWN"
    assert result["interrupted"] is True
    assert any("final read" in r for r in result["reasons"])
    assert result["writes"]["attempted"] > 0


def test_sigkill_of_the_harness_leaves_no_server(real_pg: None, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_partition(out, proc)
    proc.kill()
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (leftovers(out) or _leftover_processes(out)):
        time.sleep(0.1)
    assert leftovers(out) == {}
    assert _leftover_processes(out) == []
    # the journal survived the harness; analyze says UNKNOWN
    a = cli("analyze", str(out), "--json")
    assert a.returncode == 2 and json.loads(a.stdout)["verdict"] == "UNKNOWN"
    # gc removes what the killed run could not: its data directories
    g = cli("gc", str(tmp_path))
    assert g.returncode == 0, g.stderr
    assert not (out / "data").exists()


def test_sigkill_of_the_harness_loses_no_journaled_acknowledgement(
    real_pg: None, tmp_path: Path
) -> None:
    """Every ``ok`` in history.jsonl at the moment of a SIGKILL is in the primary's table.
    The servers die with the harness (PR_SET_PDEATHSIG), so the table is read by starting
    PostgreSQL again on the primary's data directory (crash recovery replays its WAL)."""
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_partition(out, proc)
    time.sleep(1.0)  # mid-partition, before the primary's crash at 5 s: it has every ack
    proc.kill()
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and leftovers(out):
        time.sleep(0.1)
    acked = {op.seq for op in read_history(out / "history.jsonl") if op.outcome == Outcome.OK}
    assert len(acked) > 100
    datadir = (out / "data").resolve() / "primary"
    present = _seqs_in(datadir, tmp_path)
    assert acked - present == set(), f"{len(acked - present)} acknowledged writes missing"
    g = cli("gc", str(tmp_path))
    assert g.returncode == 0 and not (out / "data").exists(), g.stdout + g.stderr


def _seqs_in(datadir: Path, scratch: Path) -> set[int]:
    """Start postgres on ``datadir`` (as the database user, on a free port), read every seq
    of the workload's table, stop it."""
    import socket

    import psycopg

    from rpochaos import deps
    from rpochaos.topology.postgres import DB_NAME, DB_USER, TABLE

    user = deps.db_user()
    # the killed postmaster may take a moment to be gone (and reaped)
    stale = int((datadir / "postmaster.pid").read_text().split()[0])
    deadline = time.monotonic() + 20
    while Path(f"/proc/{stale}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kw: dict[str, object] = {}
    if user is not None:
        kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    log = open(scratch / "reread.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(  # type: ignore[call-overload]
        [
            str(deps.pg_bindir() / "postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={datadir}",
            "-c",
            "archive_mode=off",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd="/",
        **kw,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} dbname={DB_NAME} user={DB_USER} connect_timeout=2"
                ) as c:
                    return {int(r[0]) for r in c.execute(f"SELECT seq FROM {TABLE}").fetchall()}
            except psycopg.OperationalError:
                assert server.poll() is None, (scratch / "reread.log").read_text()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
