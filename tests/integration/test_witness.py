"""The server-side witness against real PostgreSQL: the old primary's own disk after an
async partition and a crash.

The built situation: an async replica streams 1..100, its replication link is cut, the primary
acknowledges 101..160 (lost: the replica never gets them), then commits 161..163 whose
acknowledgements are blackholed on the client link (in flight at the crash), and is SIGKILLed;
the replica is promoted. Ground truth comes from the client itself: which INSERTs returned.
The witness must find every lost write on the old primary's disk, none gone, and pg_waldump's
count of commits past the fork = lost + in flight. A durability bug planted in the witness's
copy (rows deleted before it reads them) must give gone > 0, status mismatch and a FAIL reason
naming them. The second test does the same on the shipped scenario pg-async-partition-crash,
run by the library with the topology kept.

Nothing is left running: the witness's server is checked gone after each read, and kept runs
are garbage-collected.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from rpochaos.backends.local import LocalBackend, gc, leftovers
from rpochaos.history import Outcome
from rpochaos.history_read import read_history
from rpochaos.proxy import Toxiproxy
from rpochaos.result import Result
from rpochaos.scenario import Replica, Topology
from rpochaos.topology.postgres import TABLE, PostgresCluster
from rpochaos.witness.classify import classify, durable, from_ranges
from rpochaos.witness.export import to_csv, to_sql
from rpochaos.witness.model import WitnessReport, load, save
from rpochaos.witness.postgres import fork_from_conninfo, witness
from tests.helpers import SCENARIOS, require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPLICATED = range(1, 101)
LOST = range(101, 161)
IN_FLIGHT = range(161, 164)
PLANTED = frozenset({120, 121, 122, 123, 124, 150})
#: how long the witness may take here (2 shared cores); measured ~2-4 s
WITNESS_BUDGET_S = 20.0


@dataclass
class Crashed:
    cluster: PostgresCluster
    acknowledged: frozenset[int]
    new_seqs: frozenset[int]
    work: Path
    data_root: Path  # where the database user can reach a directory


def _insert(conninfo: str, seqs: range) -> list[int]:
    done = []
    with psycopg.connect(conninfo, autocommit=True) as c:
        for s in seqs:
            c.execute(f"INSERT INTO {TABLE} (seq) VALUES (%s)", (s,))
            done.append(s)
    return done


def _present(cluster: PostgresCluster, name: str, seqs: range) -> int:
    with cluster.nodes[name].connect() as c:
        row = c.execute(
            f"SELECT count(*) FROM {TABLE} WHERE seq = ANY(%s)", (list(seqs),)
        ).fetchone()
    return int(row[0]) if row else 0


def _wait(what: str, probe: object, timeout_s: float = 20.0) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _caught_up(cluster: PostgresCluster) -> bool:
    with cluster.nodes["primary"].connect() as c:
        row = c.execute(
            "SELECT bool_and(replay_lsn >= pg_current_wal_lsn()) FROM pg_stat_replication"
        ).fetchone()
    return bool(row and row[0])


@pytest.fixture(scope="module")
def crashed(real_pg: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crashed]:
    root = tmp_path_factory.mktemp("witness")
    backend = LocalBackend(root)
    proxy: Toxiproxy = backend.start_proxy()
    # commit timestamps on: the rows' commit times come from SQL here, from the WAL in the
    # shipped scenario (off there)
    topology = Topology(
        "on", (Replica(name="replica1", mode="async"),), settings={"track_commit_timestamp": "on"}
    )
    cluster = PostgresCluster(topology, backend, proxy, backend.data_root())
    try:
        cluster.start()
        via = cluster.client_endpoints()[0]
        client = f"host={via.host} port={via.port} dbname=postgres user=rpochaos connect_timeout=2"
        acked = _insert(client, REPLICATED)
        _wait("the replica did not catch up", lambda: _caught_up(cluster))
        proxy.set_enabled("replica1->primary", False)  # async: the primary goes on alone
        acked += _insert(client, LOST)
        # in flight: committed, but the acknowledgements never reach the client
        conns = [psycopg.connect(client, autocommit=True) for _ in IN_FLIGHT]
        proxy.add_toxic("client->primary", "acks-lost", "timeout", "downstream", {"timeout": 0})
        errors: list[BaseException] = []

        def write(conn: psycopg.Connection[TupleRow], seq: int) -> None:
            try:
                conn.execute(f"INSERT INTO {TABLE} (seq) VALUES (%s)", (seq,))
                acked.append(seq)  # never: the reply is blackholed
            except psycopg.Error as e:
                errors.append(e)

        threads = [
            threading.Thread(target=write, args=(c, s), daemon=True)
            for c, s in zip(conns, IN_FLIGHT, strict=True)
        ]
        for t in threads:
            t.start()
        _wait(
            "the in-flight writes did not commit",
            lambda: _present(cluster, "primary", IN_FLIGHT) == 3,
        )
        cluster.crash("primary")
        for t in threads:
            t.join(10)
        for c in conns:
            c.close()
        cluster.promote("replica1")
        new = cluster.read_seqs("replica1")
        assert new == set(REPLICATED), "the scenario did not lose what it should"
        assert set(acked) == set(REPLICATED) | set(LOST) and len(errors) == len(IN_FLIGHT)
        yield Crashed(cluster, frozenset(acked), new, root / "witness", backend.data_root())
    finally:
        cluster.close()
        proxy.close()
        backend.close()
        backend.remove_data()


def _no_witness_server(work: Path) -> None:
    assert leftovers(work) == {}, "the witness's server is still running"
    assert not list((work / "data").glob("*-witness")) if (work / "data").exists() else True


def test_every_lost_write_is_on_the_old_primary(crashed: Crashed) -> None:
    c = crashed
    old = Path(c.cluster.nodes["primary"].datadir)
    promoted = Path(c.cluster.nodes["replica1"].datadir)
    report = witness(old, promoted, c.new_seqs, work_dir=c.work)
    print(f"\nwitness timings: {report.timings.model_dump()}")
    assert report.status == "ok", report.why
    assert report.timings.total_s is not None and report.timings.total_s < WITNESS_BUDGET_S
    assert (report.old_timeline, report.new_timeline) == (1, 2)
    assert report.fork_lsn is not None
    # the same fork, read over SQL from the promoted node
    by_sql = fork_from_conninfo(c.cluster.nodes["replica1"].conninfo, 1)
    assert (by_sql.lsn, by_sql.new_timeline) == (report.fork_lsn, 2)
    lost = c.acknowledged - c.new_seqs
    k = classify(c.acknowledged, lost, c.new_seqs, report.old_seqs, durable=True)
    assert k.on_old_primary == lost == set(LOST)
    assert k.gone == frozenset() and k.fail_reason is None
    assert k.in_flight_present == set(IN_FLIGHT)
    assert report.waldump_commits == len(lost) + len(k.in_flight_present)
    assert report.old_seqs == set(REPLICATED) | set(LOST) | set(IN_FLIGHT)
    # the rows as the disk held them, commit times from pg_xact_commit_timestamp
    assert report.track_commit_timestamp is True
    assert [r.seq for r in report.rows] == [*LOST, *IN_FLIGHT]
    assert all(r.commit_time_source == "track_commit_timestamp" for r in report.rows)
    assert all(r.commit_time and r.commit_time.startswith("20") for r in report.rows)
    assert report.columns == ["seq", "written_at"]
    rows = list(csv.reader(io.StringIO(to_csv(report, lost))))
    assert [int(r[0]) for r in rows[1:]] == sorted(lost)
    assert {r[1] for r in rows[1:]} == {"on_old_primary"}
    assert to_sql(report, lost).count("INSERT INTO rpochaos_writes") == len(lost)
    save(report, c.work)
    assert load(c.work) == report
    # the original was never started: still a crashed "in production" cluster with its pid file
    assert (old / "postmaster.pid").exists() and not (old / "witness_hba.conf").exists()
    _no_witness_server(c.work)


def test_a_planted_durability_bug_is_gone_and_fails(crashed: Crashed) -> None:
    c = crashed
    old = Path(c.cluster.nodes["primary"].datadir)
    promoted = Path(c.cluster.nodes["replica1"].datadir)

    def plant(conn: psycopg.Connection[TupleRow]) -> None:
        conn.execute(f"DELETE FROM {TABLE} WHERE seq = ANY(%s)", (sorted(PLANTED),))

    report = witness(old, promoted, c.new_seqs, work_dir=c.work, plant=plant)
    assert report.status == "mismatch"
    assert (
        report.why is not None
        and "6 commits past the fork whose row is not on the disk" in report.why
    )
    lost = c.acknowledged - c.new_seqs
    k = classify(c.acknowledged, lost, c.new_seqs, report.old_seqs, durable=True)
    assert k.gone == PLANTED
    assert k.fail_reason is not None and "seq 120-124, 150" in k.fail_reason
    assert len(k.on_old_primary) == len(lost) - len(PLANTED)
    _no_witness_server(c.work)


def test_a_former_standby_is_read_as_a_standalone_primary(crashed: Crashed) -> None:
    """An old primary that was once a standby (the Patroni case) still has standby.signal and
    a primary_conninfo: the copy must start as a standalone primary anyway, not follow anyone.
    Its seqs also show that the planted deletion stayed in the witness's copy."""
    c = crashed
    old = Path(c.cluster.nodes["primary"].datadir)
    promoted = c.cluster.nodes["replica1"]
    dup = c.data_root / "former-standby"
    try:
        subprocess.run(["cp", "-a", f"{old}/.", str(dup)], check=True)
        (dup / "standby.signal").write_text("")
        with (dup / "postgresql.auto.conf").open("a") as f:
            f.write(f"primary_conninfo = 'host=127.0.0.1 port={promoted.port} user=rpochaos'\n")
            f.write("restore_command = 'false'\n")
        report = witness(dup, Path(promoted.datadir), c.new_seqs, work_dir=c.work)
        assert report.status == "ok", report.why
        assert report.old_seqs == set(REPLICATED) | set(LOST) | set(IN_FLIGHT)
        assert (dup / "standby.signal").exists()  # the original is never changed
    finally:
        shutil.rmtree(dup, ignore_errors=True)
    _no_witness_server(c.work)


def test_an_unreadable_old_primary_is_unavailable_not_an_error(
    crashed: Crashed, tmp_path: Path
) -> None:
    promoted = Path(crashed.cluster.nodes["replica1"].datadir)
    r = witness(tmp_path / "nothing", promoted, crashed.new_seqs, work_dir=tmp_path / "w")
    assert r.status == "unavailable" and r.why is not None and "not a PostgreSQL data" in r.why
    # the promoted node itself still runs: reading it as "the old primary" is refused
    r = witness(promoted, promoted, crashed.new_seqs, work_dir=tmp_path / "w")
    assert r.status == "unavailable" and r.why is not None and "still runs" in r.why


def test_the_shipped_partition_crash_scenario(real_pg: None, tmp_path: Path) -> None:
    """pg-async-partition-crash run by the library with the topology kept; the witness reads
    the crashed primary's data directory from the run directory."""
    from rpochaos.run import run

    out = tmp_path / "runs" / "partition-crash"
    try:
        res = run(
            SCENARIOS / "pg-async-partition-crash.yaml",
            out=out,
            keep_topology=True,
            html=False,
            observe_rate=0,
        )
        del res
        result = json.loads((out / "result.json").read_text())
        final = json.loads((out / "final_read.json").read_text())
        assert final["node"] == "replica1"
        ops = read_history(out / "history.jsonl")
        acked = frozenset(o.seq for o in ops if o.outcome is Outcome.OK)
        new = frozenset(int(s) for s in final["seqs"])
        lost = frozenset(Result.load(out).seqs("lost", out))
        assert lost and lost == acked - new
        data = out / "data"
        t0 = time.monotonic()
        report: WitnessReport = witness(
            data / "primary", data / "replica1", new, work_dir=out / "witness"
        )
        took = time.monotonic() - t0
        print(f"\nscenario witness: {took:.2f} s, {report.timings.model_dump()}")
        assert report.status == "ok", report.why
        k = classify(acked, lost, new, report.old_seqs, durable=durable(result["durability"]))
        assert k.durable and k.on_old_primary == lost and not k.gone
        assert report.track_commit_timestamp is False  # commit times from the WAL instead
        assert all(r.commit_time_source == "wal" and r.commit_time for r in report.rows)
        assert report.waldump_commits == len(lost) + len(k.in_flight_present)
        _no_witness_server(out / "witness")
    finally:
        gc(tmp_path / "runs", force=True)
        assert leftovers(out) == {}


def test_the_shipped_kafka_leader_cut_then_killed_scenario(tmp_path: Path) -> None:
    """kafka-acks1-leader-cut-then-killed with the topology kept: every lost message is in the
    killed old leader's segments, none gone, and the records past the new leader's epoch start
    are exactly the seqs the final read lacks."""
    from rpochaos import deps
    from rpochaos.kafka import jars
    from rpochaos.run import run
    from rpochaos.witness.kafka import witness_kafka

    require(jars.java_bin)
    require(jars.kafka_classpath)
    require(deps.toxiproxy_server)
    out = tmp_path / "runs" / "kafka"
    scenario = SCENARIOS / "kafka-acks1-leader-cut-then-killed.yaml"
    try:
        run(scenario, out=out, keep_topology=True, html=False, observe_rate=0)
        final = json.loads((out / "final_read.json").read_text())
        crashed = [
            e["resolved"]
            for e in map(json.loads, (out / "events.jsonl").read_text().splitlines())
            if e.get("type") == "step_start" and e.get("action") == "crash"
        ]
        assert len(crashed) == 1
        old, new = crashed[0], final["leaders"]["0"]
        assert old != new
        acked = frozenset(
            o.seq for o in read_history(out / "history.jsonl") if o.outcome is Outcome.OK
        )
        present = frozenset(int(s) for s in final["seqs"])
        lost = frozenset(Result.load(out).seqs("lost", out))
        assert lost and lost == acked - present
        logs = out / "data"
        report = witness_kafka(
            logs / old / "log" / "rpochaos-0", logs / new / "log" / "rpochaos-0", present, node=old
        )
        print(f"\nkafka witness: {report.timings.model_dump()}")
        assert report.status == "ok", report.why
        k = classify(acked, lost, present, report.old_seqs, durable=True)
        assert k.on_old_primary == lost and not k.gone
        resent = from_ranges(report.resent_ranges)  # producer retries: on both leaders
        assert resent <= present and not resent & report.past_fork
        assert report.records_past_fork == len(lost) + len(k.in_flight_present) + len(resent)
        assert report.describe().startswith(f"witness: ok: {len(report.old_seqs)} writes on {old}")
        # the run itself read the old leader's segments too (rpochaos.witness.role)
        seen = Result.load(out).witness
        assert seen is not None and seen.status == "ok" and seen.system == "kafka", seen
        assert seen.node == old and seen.gone == 0 and seen.fork_offset == report.fork_offset
        assert from_ranges(seen.on_old_primary_seqs) == lost
    finally:
        gc(tmp_path / "runs", force=True)
        assert leftovers(out) == {}
