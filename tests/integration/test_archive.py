"""Archive-only recovery against real PostgreSQL: WAL archiving with archive_timeout, the
archive_fail fault, and the restore action (base backup + WAL archive -> new primary).

Ground truth comes from the run itself: the outage time, the archive_fail step's start, the
archive_timeout in force (read back from the server) and the journal. The failing replay
would pass if archive_fail did nothing (nothing acknowledged after its start would be
lost, and the window would stay under one archive_timeout), and the passing one would fail
if restore read anything newer than the archive (nothing would be lost).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from rpochaos.backends import engine
from rpochaos.faults.archive import ArchiveFail
from rpochaos.history import Op, Outcome, read_history
from rpochaos.result import Result
from rpochaos.scenario import Archive, Topology
from rpochaos.topology.postgres import ARCHIVE_CONTROL, ARCHIVE_FAIL_FLAG
from tests.helpers import ROOT, SCENARIOS, require
from tests.integration.helpers import RPOCHAOS, cli, fault, result_of


def _seqs(out: Path, kind: str) -> list[int]:
    """The whole set ``kind`` of the run in ``out`` (result.json's ranges, or seqs.json.gz)."""
    return Result.load(out).seqs(kind, out).tolist()


pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

#: harness-side slack: an acknowledgement's completion is journaled a little after the commit
SLACK_S = 0.25


def _acks(out: Path) -> list[Op]:
    return [
        o
        for o in read_history(out / "history.jsonl")
        if o.outcome is Outcome.OK and o.complete_s is not None
    ]


def _archive_timeout(r: dict[str, Any]) -> float:
    """archive_timeout as the primary reported it at bring-up (e.g. '2s')."""
    text = str(r["durability"]["archive_timeout"])
    assert text.endswith("s") and text[:-1].isdigit(), text
    return float(text[:-1])


def _check_archive_settings(r: dict[str, Any], proc: subprocess.CompletedProcess[str]) -> None:
    d = r["durability"]
    assert d["archive_mode"] == "on"
    assert "wal-archive/%f" in d["archive_command"] and "test ! -f" in d["archive_command"]
    assert "archive_mode=on" in proc.stdout and "archive_timeout=2s" in proc.stdout
    assert "archive_command=" in proc.stdout
    fo = r["failover"]
    assert fo["promoted"] == "primary" and fo["final_read_node"] == "primary"
    assert "from the base backup + WAL archive: replayed up to" in fo["reason"]
    assert "last archived segment 00000001" in fo["reason"], fo["reason"]
    assert "failover: restored primary from the base backup + WAL archive" in proc.stdout
    assert r["rto_s"] is not None and r["rto_s"] > 0


@pytest.fixture(params=["local", "docker"])
def replay(
    request: pytest.FixtureRequest, shipped: Any, tmp_path: Path
) -> Callable[[str], tuple[subprocess.CompletedProcess[str], Path]]:
    """Run a shipped scenario on the local backend (shared with the other tests) or on
    docker (the archive and base backup in host directories bind-mounted into the
    containers; removed with the run)."""
    if request.param == "local":
        return cast(Callable[[str], tuple[subprocess.CompletedProcess[str], Path]], shipped)
    require(engine.client).close()

    def on_docker(name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        out = tmp_path / "docker"
        proc = cli("run", str(SCENARIOS / f"{name}.yaml"), "--backend", "docker", "--out", str(out))
        assert (out / "result.json").exists(), proc.stdout + proc.stderr
        assert result_of(out)["backend"] == "docker"
        for scratch in ("wal-archive", "base-backup", "archive-control"):
            assert not (out / scratch).exists(), f"{scratch} was left in the run directory"
        return proc, out

    return on_docker


def test_archive_recovery_loses_at_most_one_archive_timeout(replay: Any) -> None:
    proc, out = replay("incidents/archive-recovery-within-rpo")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["verdict"] == "PASS"
    timeout = _archive_timeout(r)
    assert timeout == 2.0  # 60 s at time_scale 30
    w = r["writes"]
    assert w["lost"] > 0 and w["unexpected"] == 0
    window = r["data_loss_window_s"]
    assert 0 < window <= timeout + SLACK_S, (window, timeout)
    assert window <= r["rpo_declared_s"]
    crash = r["outage_at_s"]
    lost = set(_seqs(out, "lost"))
    acks = _acks(out)
    # what was acknowledged more than one archive_timeout before the crash was archived
    old = [o.seq for o in acks if (o.complete_s or 0) < crash - timeout - SLACK_S]
    assert old and not lost & set(old)
    # everything lost was acknowledged by the old primary in its last archive_timeout
    by_seq = {o.seq: o for o in acks}
    assert all(crash - timeout - SLACK_S <= (by_seq[s].complete_s or 0) <= crash for s in lost)
    # the restored primary took writes, and kept them
    after = [o for o in acks if o.invoke_s > fault(r, "restore")["start_s"]]
    assert after and not lost & {o.seq for o in after}
    _check_archive_settings(r, proc)


def test_a_failing_archive_command_loses_everything_since_it_began(replay: Any) -> None:
    proc, out = replay("incidents/archive-command-fails")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["verdict"] == "FAIL"
    timeout = _archive_timeout(r)
    broken = fault(r, "archive_fail")
    began, crash = broken["start_s"], r["outage_at_s"]
    assert broken["end_s"] is None or broken["end_s"] >= crash  # still failing at the crash
    lost = set(_seqs(out, "lost"))
    acks = _acks(out)
    since = [o.seq for o in acks if began + 0.05 < (o.complete_s or 0) < crash]
    assert len(since) > 100 and set(since) <= lost, "an ack after the archive broke survived"
    before = [o.seq for o in acks if (o.complete_s or 0) < began - timeout - SLACK_S]
    assert before and not lost & set(before), "the archive from before the failure was lost"
    # the window is the failure's length, plus at most the segment open when it began
    window = r["data_loss_window_s"]
    assert crash - began - SLACK_S <= window <= crash - began + timeout + SLACK_S, (
        window,
        crash - began,
    )
    assert window > r["rpo_declared_s"]
    _check_archive_settings(r, proc)


def test_archive_fail_stops_archiving_and_healing_archives_the_backlog(
    real_pg: None, tmp_path: Path
) -> None:
    """On a real primary: while archive_fail is in force a finished segment is not archived
    (and pg_stat_archiver counts failures); once healed, PostgreSQL's retries archive it."""
    from rpochaos.backends import start_proxy
    from rpochaos.backends.local import LocalBackend
    from rpochaos.topology.postgres import TABLE, PostgresCluster

    backend = LocalBackend(tmp_path)
    proxy = start_proxy(backend)
    cluster = PostgresCluster(
        Topology("on", (), archive=Archive(timeout=1.0)), backend, proxy, backend.data_root()
    )
    seq = iter(range(1, 1_000_000))

    def finish_segment() -> str:
        with cluster.nodes["primary"].connect() as c:
            c.execute(f"INSERT INTO {TABLE} (seq) VALUES (%s)", (next(seq),))
            row = c.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
            c.execute("SELECT pg_switch_wal()")
        assert row is not None
        return str(row[0])

    def archived_within(segment: str, seconds: float, poke: bool = False) -> bool:
        """Whether ``segment`` reaches the archive within ``seconds``; with ``poke``, keep
        finishing segments meanwhile (a new .ready segment wakes a waiting archiver)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if segment in cluster.archived_segments():
                return True
            if poke:
                finish_segment()
            time.sleep(0.2)
        return segment in cluster.archived_segments()

    try:
        cluster.start()
        assert cluster.base_backup is not None and (cluster.base_backup / "PG_VERSION").exists()
        assert archived_within(finish_segment(), 5), "archiving does not work at all"
        flag = cluster.archive_fail_flag
        assert flag is not None
        with ArchiveFail("primary", flag):
            stuck = finish_segment()
            assert not archived_within(stuck, 3), "archived while archive_fail was in force"
            with cluster.nodes["primary"].connect() as c:
                row = c.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()
            assert row is not None and row[0] > 0
        assert not flag.exists()
        assert archived_within(stuck, 30, poke=True), "the backlog was not archived after healing"
    finally:
        cluster.close()
        proxy.close()
        backend.close()
        backend.remove_data()


def test_archive_fail_is_healed_on_sigint(real_pg: None, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [
            *RPOCHAOS,
            "run",
            str(SCENARIOS / "incidents" / "archive-command-fails.yaml"),
            "--out",
            str(out),
            "--keep-topology",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        flag = out / "data" / ARCHIVE_CONTROL / ARCHIVE_FAIL_FLAG
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not flag.exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert flag.exists(), "archive_fail never took effect"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stdout + stderr
        assert not flag.exists(), "archive_fail was left in force"
        events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
        started = {e["index"] for e in events if e["type"] == "step_start"}
        healed = {e["index"] for e in events if e["type"] == "step_end"}
        assert started and started <= healed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        # local only: the docker gc with force would remove other runs' containers too
        from rpochaos.backends.local import gc

        gc(tmp_path, force=True)
