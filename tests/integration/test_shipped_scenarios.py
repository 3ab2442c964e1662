"""Every shipped scenario, run for real through the CLI, against its documented outcome.

Each scenario runs once per session (``shipped``), on real PostgreSQL and Toxiproxy; the
ground truth of each comes from the schedule that actually ran (fault start times in
result.json) and from the journal itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rpochaos.history import Outcome
from rpochaos.history_read import read_history
from rpochaos.result import Result
from tests.helpers import SCENARIOS
from tests.integration.helpers import cli, fault, result_of, within


def _seqs(out: Path, kind: str) -> list[int]:
    """The whole set ``kind`` of the run in ``out`` (result.json's ranges, or seqs.json.gz)."""
    return Result.load(out).seqs(kind, out).tolist()


pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REQUIRED_KEYS = {
    "verdict",
    "rpo_declared_s",
    "data_loss_window_s",
    "rto_s",
    "outage_at_s",
    "faults",
    "durability",
    "writes",
}
REQUIRED_WRITES = {"attempted", "acknowledged", "lost", "recovered", "phantom", "unexpected"}


def test_async_partition_crash_fails_with_the_partition_to_crash_window(shipped: Any) -> None:
    proc, out = shipped("pg-async-partition-crash")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r.keys() >= REQUIRED_KEYS and r["writes"].keys() >= REQUIRED_WRITES
    assert r["verdict"] == "FAIL"
    assert r["writes"]["lost"] > 0
    assert r["writes"]["unexpected"] == 0
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    assert within(r["data_loss_window_s"], t2 - t1), (r["data_loss_window_s"], t2 - t1)
    # the partition's start is known as an interval, [requested, effective] (its Toxiproxy
    # call was made, then returned): the window lies between outage - effective start and
    # outage - requested start, to the spacing of acknowledgements: max(1/rate, 5 ms), or the
    # run's own resolution when a loaded machine spaced the acknowledgements wider than that.
    # (A CI run saw the window 12.0 ms above outage - effective start, resolution 9.3 ms: the
    # cut had dropped WAL sent just before the call returned.)
    p = fault(r, "partition")
    shortest = r["outage_at_s"] - p["effective_start_s"]
    longest = r["outage_at_s"] - p["requested_start_s"]
    bound = max(1 / 400, 0.005, r["window_resolution_s"])
    assert shortest - bound <= r["data_loss_window_s"] <= longest + bound, (
        r["data_loss_window_s"],
        (shortest, longest),
        bound,
    )
    assert p["requested_start_s"] < p["effective_start_s"]
    # lost ~= rate x (t2 - t1): every ack in the partition, nothing outside it
    hist = read_history(out / "history.jsonl")
    acked_in_gap = [
        o
        for o in hist
        if o.outcome is Outcome.OK
        and o.complete_s is not None
        and t1 + 0.05 < o.complete_s < t2 - 0.05
    ]
    lost = set(_seqs(out, "lost"))
    assert {o.seq for o in acked_in_gap} <= lost
    for f in r["faults"]:
        assert {"kind", "target", "start_s", "end_s"} <= f.keys()
    d = r["durability"]
    assert d["synchronous_commit"] == "on" and d["synchronous_standby_names"] == ""
    assert d["replicas"] == {"replica1": "async"}
    assert r["rto_s"] is not None and r["rto_s"] > 0
    # the console summary names the verdict, the durability settings and the reproduction
    assert "FAIL" in proc.stdout and "synchronous_commit=on" in proc.stdout
    assert "reproduce: rpochaos run" in proc.stdout


def test_sync_partition_crash_loses_nothing_and_stalls_commits(shipped: Any) -> None:
    proc, out = shipped("pg-sync-partition-crash")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["verdict"] == "PASS" and r["writes"]["lost"] == 0
    assert r["writes"]["acknowledged"] > 100
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    hist = read_history(out / "history.jsonl")
    acked_during = [
        o
        for o in hist
        if o.outcome is Outcome.OK and o.complete_s is not None and t1 + 0.2 < o.complete_s < t2
    ]
    assert acked_during == [], "a synchronous commit returned while its standby was cut off"
    assert "FIRST 1 (replica1)" in r["durability"]["synchronous_standby_names"]


def test_cancelled_sync_waits_are_acknowledged_then_lost(shipped: Any) -> None:
    proc, out = shipped("pg-sync-cancel-is-not-durable")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    w = r["writes"]
    assert w["lost"] > 0
    assert set(_seqs(out, "lost")) == set(_seqs(out, "lost_after_cancelled_sync_wait"))
    assert "cancelled wait for synchronous replication" in proc.stdout


def test_async_lag_within_rpo_passes_with_a_bounded_nonzero_window(shipped: Any) -> None:
    proc, out = shipped("pg-async-lag-within-rpo")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    delay = fault(r, "latency")["params"]["delay"]
    assert r["writes"]["lost"] > 0
    assert 0 < r["data_loss_window_s"] <= r["rpo_declared_s"]
    assert within(r["data_loss_window_s"], delay), (r["data_loss_window_s"], delay)


def test_split_brain_loses_what_the_old_primary_acknowledged(shipped: Any) -> None:
    proc, out = shipped("pg-split-brain")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    promoted_at = fault(r, "promote")["start_s"]
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    hist = {o.seq: o for o in read_history(out / "history.jsonl")}
    lost_seqs = _seqs(out, "lost")
    lost_after_promotion = [s for s in lost_seqs if (hist[s].complete_s or 0) > promoted_at + 0.1]
    assert lost_after_promotion, "no write acknowledged by the old primary after promotion"
    assert all(hist[s].node == "primary" for s in lost_seqs)
    assert within(r["data_loss_window_s"], t2 - t1)
    assert r["failover"]["final_read_node"] == "replica1"


@pytest.mark.parametrize("name", ["pg-async-partition-crash", "pg-sync-partition-crash"])
def test_analyze_recomputes_the_same_result_from_the_directory(shipped: Any, name: str) -> None:
    _, out = shipped(name)
    before = result_of(out)
    (out / "result.json").unlink()
    proc = cli("analyze", str(out), "--json")
    assert proc.returncode == {"PASS": 0, "FAIL": 1}[before["verdict"]], proc.stderr
    assert json.loads(proc.stdout) == before == result_of(out)


def test_nothing_is_left_running_after_the_runs(shipped: Any) -> None:
    from rpochaos.backends.local import leftovers

    for name in ("pg-async-partition-crash", "pg-sync-partition-crash"):
        _, out = shipped(name)
        assert leftovers(out) == {}
        assert not (out / "data").exists()


def test_clock_skew_lies_in_the_lag_query_not_in_the_window(shipped: Any) -> None:
    proc, out = shipped("pg-clock-skew-lag-lies")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    offset = fault(r, "clock_skew")["params"]["offset"]
    # the measured window is right ...
    assert within(r["data_loss_window_s"], t2 - t1), (r["data_loss_window_s"], t2 - t1)
    # ... while the popular lag query is off by the skew (replica clock - primary clock)
    naive = r["observed"]["replicas"]["replica1"]["naive_lag_s_at_outage"]
    assert naive is not None
    assert abs(naive - ((t2 - t1) + offset)) < 1.5, (naive, t2 - t1, offset)
    assert "pg_last_xact_replay_timestamp" in proc.stdout


def test_kafka_acks1_loses_the_cut_to_kill_span(shipped: Any) -> None:
    proc, out = shipped("kafka-acks1-leader-cut-then-killed")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    assert within(r["data_loss_window_s"], t2 - t1), (r["data_loss_window_s"], t2 - t1)
    d = r["durability"]
    assert str(d["acks"]) == "1" and d["unclean.leader.election.enable"] in ("false", False)


def test_kafka_acks_all_min_isr_2_loses_nothing(shipped: Any) -> None:
    proc, out = shipped("kafka-acks-all-min-isr-2")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["writes"]["lost"] == 0 and r["writes"]["acknowledged"] > 100
    assert str(r["durability"]["min.insync.replicas"]) == "2"


def test_kafka_unclean_election_loses_everything_since_the_cut(shipped: Any) -> None:
    proc, out = shipped("kafka-unclean-election")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["writes"]["lost"] > 0
    assert r["durability"]["unclean.leader.election.enable"] in ("true", True)
    t1 = fault(r, "partition")["start_s"]
    assert r["recovery_point_s"] is not None and abs(r["recovery_point_s"] - t1) < 0.5


def test_io_stall_incident_fails_with_the_compressed_stall_and_its_real_time(
    shipped: Any,
) -> None:
    proc, out = shipped("incidents/io-stall-stops-wal-shipping")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    stall = fault(r, "pause")["start_s"]
    crash = fault(r, "crash")["start_s"]
    assert within(r["data_loss_window_s"], crash - stall), (r["data_loss_window_s"], crash)
    assert r["time_scale"] == 60.0
    assert abs(r["real_time"]["data_loss_window_s"] - 60 * r["data_loss_window_s"]) < 1e-3
    assert r["real_time"]["rpo_declared_s"] == 60.0
    assert "time scale 60" in proc.stdout
    assert r["failover"]["promoted"] in ("replica1", "replica2")


def test_io_stall_incident_remediation_passes(shipped: Any) -> None:
    proc, out = shipped("incidents/io-stall-stops-wal-shipping-sync")
    r = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["writes"]["lost"] == 0


def test_partition_incident_fails_and_its_guard_remediation_passes(shipped: Any) -> None:
    proc, out = shipped("incidents/partition-stops-wal-shipping")
    r = result_of(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    t1, t2 = fault(r, "partition")["start_s"], fault(r, "crash")["start_s"]
    assert within(r["data_loss_window_s"], t2 - t1)
    proc, out = shipped("incidents/partition-stops-wal-shipping-guard")
    g = result_of(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert g["writes"]["lost"] == 0 and g["failover"]["refused"] is True
    assert g["rto_s"] is not None and g["real_time"]["rto_s"] > 100  # ~2 minutes of outage


def test_kafka_final_read_agrees_with_an_independent_consumer(real_pg: None, tmp_path: Any) -> None:
    """The surviving messages counted in final_read.json/result.json are what a plain
    KafkaConsumer, reading the kept cluster after the run, finds in the topic."""
    from kafka import KafkaConsumer, TopicPartition

    from rpochaos.backends.local import gc  # never the docker gc: it would take other runs
    from rpochaos.kafka.cluster import decode_seq
    from rpochaos.run import run

    res = run(
        SCENARIOS / "kafka-acks1-leader-cut-then-killed.yaml",
        out=tmp_path / "k",
        keep_topology=True,
        html=False,
    )
    try:
        final = json.loads((res.run_dir / "final_read.json").read_text())
        links = json.loads((res.run_dir / "resolved.json").read_text())["links"]
        bootstrap = [f"127.0.0.1:{p}" for name, p in links.items() if name.startswith("client->")]
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            consumer_timeout_ms=5000,
            request_timeout_ms=10000,
        )
        try:
            tp = TopicPartition("rpochaos", 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            seen = {decode_seq(m.value) for m in consumer}
        finally:
            consumer.close()
        seen.discard(None)
        assert seen == set(final["seqs"])
        w = res.result["writes"]
        assert len(seen) == w["acknowledged"] - w["lost"] + w["recovered"] + w["phantom"]
    finally:
        gc(tmp_path, force=True)
