"""Faults on one process of a Patroni node, through the CLI on real Patroni, etcd and
PostgreSQL: the leader's postmaster crashed alone (Patroni restarts it in place, nothing is
lost and nobody else leads), and the leader's Patroni paused past ttl (replica1 is promoted
while the old leader's PostgreSQL, still serving its clients, acknowledges writes that the
new timeline never gets: they are lost)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rpochaos.history import Op, Outcome
from rpochaos.history_read import read_history
from rpochaos.patroni import deps as patroni_deps
from tests.helpers import require
from tests.integration.helpers import cli, result_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOPOLOGY = """\
system: postgres
topology:
  manager: patroni
  synchronous_commit: "on"
  patroni:
    ttl: 20s
    loop_wait: 1s
    retry_timeout: 5s
    maximum_lag_on_failover: 16MB
    synchronous_mode: "off"
    synchronous_node_count: 1
    failsafe_mode: false
    use_pg_rewind: true
  replicas:
    - name: replica1
workload:
  rate: 200/s
  concurrency: 2
  duration: {duration}
  connect_timeout: 1s
expect:
  rpo: 500ms
"""


@pytest.fixture(scope="module")
def patroni(real_pg: None) -> None:
    require(patroni_deps.patroni)
    require(patroni_deps.etcd)


def _run(tmp_path: Path, name: str, duration: str, schedule: str) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + TOPOLOGY.format(duration=duration) + schedule)
    out = tmp_path / "run"
    proc = cli("run", str(path), "--out", str(out), timeout=150)
    assert (out / "result.json").exists(), proc.stdout + proc.stderr
    final = json.loads((out / "final_read.json").read_text())
    return proc, {**result_of(out), "_acks": _acks(out), "_final": set(final["seqs"])}


def _acks(out: Path) -> list[Op]:
    return [
        o
        for o in read_history(out / "history.jsonl")
        if o.outcome is Outcome.OK and o.complete_s is not None
    ]


def _changes(r: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    return [(c["from_node"], c["to_node"]) for c in r.get("leader_changes", [])]


def test_a_crashed_postmaster_is_restarted_in_place_and_loses_nothing(
    patroni: None, tmp_path: Path
) -> None:
    schedule = "schedule:\n  - {at: 3s, crash: primary, process: postmaster, outage: true}\n"
    proc, r = _run(tmp_path, "postmaster-crash", "12s", schedule)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["verdict"] == "PASS"
    assert r["writes"]["lost"] == 0
    assert r["writes"]["acknowledged"] > 1000
    # Patroni kept the leader key and started PostgreSQL again on the same node: the
    # leadership record has the key's holder saying its PostgreSQL was down, then up again,
    # nobody else ever led, and primary acknowledged again a few seconds later
    assert _changes(r) == [("primary", None), (None, "primary")], r.get("leader_changes")
    down, up = r["leader_changes"]
    assert down["t_s"] - r["outage_at_s"] < 1.0 and 0.2 < up["t_s"] - r["outage_at_s"] < 8.0, r
    assert r["failover"]["promoted"] is None
    assert r["failover"]["final_read_node"] == "primary"
    assert r["rto_s"] is not None and 0.5 < r["rto_s"] < 8.0, r["rto_s"]
    after = [o for o in r["_acks"] if o.invoke_s >= r["outage_at_s"]]
    assert after and {o.node for o in after} == {"primary"}
    (crash,) = r["faults"]
    assert (crash["kind"], crash["params"]) == ("crash", {"process": "postmaster"})
    assert "crash primary:postmaster @3.0" in proc.stdout, proc.stdout


def test_a_paused_patroni_leader_loses_what_its_postgresql_acknowledges_after_the_promotion(
    patroni: None, tmp_path: Path
) -> None:
    schedule = "schedule:\n  - {at: 2s, pause: primary, process: patroni, for: 28s, outage: true}\n"
    proc, r = _run(tmp_path, "patroni-pause", "33s", schedule)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["verdict"] == "FAIL"
    # nobody renewed the leader key: it expired after ttl (20 s) and replica1 took it
    assert r["failover"]["promoted"] == "replica1"
    assert r["failover"]["final_read_node"] == "replica1"
    # (a poll may see the expired key held by nobody for a moment: primary -> none -> replica1)
    changes = _changes(r)
    assert changes[-1][1] == "replica1", changes
    assert {to for _, to in changes} <= {None, "replica1"}, changes
    promoted = r["leader_changes"][-1]
    taken_after = promoted["t_s"] - r["outage_at_s"]
    assert 15.0 < taken_after < 28.0, (promoted, r["outage_at_s"])
    # meanwhile primary's PostgreSQL (its Patroni frozen, unable to demote it) kept
    # acknowledging through client->primary, after the promotion too, until the pause ended
    late = [o for o in r["_acks"] if o.node == "primary" and o.complete_s > promoted["t_s"]]
    assert len(late) > 100, len(late)
    # those are what is lost: every lost write was acknowledged by primary, none long
    # before replica1 took the key (async replication kept up until then)
    lost = [o for o in r["_acks"] if o.seq not in r["_final"]]
    assert len(lost) == r["writes"]["lost"] > 0
    assert {o.node for o in lost} == {"primary"}
    assert min(o.complete_s for o in lost) > promoted["t_s"] - 2.0, (lost[0], promoted)
    (pause,) = r["faults"]
    assert (pause["kind"], pause["params"]) == ("pause", {"process": "patroni"})
    assert "pause primary:patroni @2.00s-" in proc.stdout, proc.stdout
