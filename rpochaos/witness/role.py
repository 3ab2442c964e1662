"""The witness as a role of a run: after the final read and the servers' teardown, read the
old primary's (old leader's) own disk and store what it held as ``witness.json``.

``for_run`` says whether a run gets a witness at all: a PostgreSQL cluster of
``rpochaos.topology.postgres`` or a Kafka cluster (not Patroni, not MariaDB). ``after_run``
runs from the run's teardown, after the cluster's servers are killed and before the backend
deletes the data directories, so the old primary's disk is exactly what the crash or the
isolation left (an isolated old primary is killed with the rest of the topology first). It
writes nothing when there was no fork to read (no final read, or the final read was on the
old primary itself), and ``unavailable (why)`` when the disk cannot be read:

- the old primary was restored from the archive (its disk is a base backup, not the disk that
  acknowledged the writes);
- the docker backend: the data directories live in docker volumes, not on this host;
- with ``--keep-topology`` an isolated old primary still runs (``rpochaos.witness.postgres``).

It never raises: whatever goes wrong becomes ``unavailable`` with the reason, and the run's
measurement (which reads witness.json in ``rpochaos.result.witness``) goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rpochaos.kafka.cluster import KafkaCluster
from rpochaos.roles import Cluster
from rpochaos.scenario import Scenario
from rpochaos.store import EVENTS, FINAL_READ
from rpochaos.topology.postgres import PostgresCluster
from rpochaos.witness.kafka import witness_kafka
from rpochaos.witness.model import WitnessReport, save
from rpochaos.witness.postgres import witness

Log = Callable[[str], None]
#: where the witness keeps its copy's log and pids.json, in the run directory
WORK_DIR = "witness"
DOCKER = (
    "the docker backend keeps each node's data directory in a docker volume, not on this "
    "host: run on the local backend to read the old primary's disk"
)


@dataclass
class WitnessRole:
    """The witness of one run (``for_run``); ``after_run`` is its one action."""

    run_dir: Path
    scenario: Scenario
    backend: str
    cluster: PostgresCluster | KafkaCluster
    log: Log
    #: the primary when the run started: the one whose disk a failover leaves behind
    first_primary: str

    def after_run(self) -> WitnessReport | None:
        """Read the old primary's disk and save ``witness.json``; the report, or None when
        the run had no fork to read. Never raises."""
        t0 = time.monotonic()
        try:
            report = self._read()
        except Exception as e:  # the witness must never break a run's teardown
            report = WitnessReport.unavailable(self.first_primary, f"the witness failed: {e}")
        if report is None:
            return None
        save(report, self.run_dir)
        self.log(f"{report.describe()} ({time.monotonic() - t0:.2f} s)")
        return report

    def _final(self) -> dict[str, object] | None:
        path = self.run_dir / FINAL_READ
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None

    def _read(self) -> WitnessReport | None:
        final = self._final()
        if final is None:
            return None
        seqs = final.get("seqs")
        present = frozenset(int(s) for s in seqs) if isinstance(seqs, list) else frozenset()
        if isinstance(self.cluster, KafkaCluster):
            return self._kafka(final, present)
        old, new = self.first_primary, str(final.get("node"))
        if new == old:
            return None  # no failover: the old primary is the final read's node
        if any(s.action == "restore" and s.target == old for s in self.scenario.schedule):
            return WitnessReport.unavailable(
                old,
                "the old primary was restored from the archive: its disk is a base backup, "
                "not the disk that acknowledged the writes",
            )
        if self.backend != "local":
            return WitnessReport.unavailable(old, DOCKER)
        nodes = self.cluster.nodes
        return witness(
            Path(nodes[old].datadir),
            Path(nodes[new].datadir),
            present,
            work_dir=self.run_dir / WORK_DIR,
            node=old,
        )

    def _kafka(self, final: dict[str, object], present: frozenset[int]) -> WitnessReport | None:
        assert isinstance(self.cluster, KafkaCluster)
        crashed = _crashed_nodes(self.run_dir / EVENTS)
        leaders = final.get("leaders")
        new = str(leaders.get("0")) if isinstance(leaders, dict) else None
        if len(crashed) != 1 or new is None or crashed[0] == new:
            return None  # the witness reads one crashed old leader of partition 0
        old = crashed[0]
        if self.backend != "local":
            return WitnessReport.unavailable(old, DOCKER)
        part = f"{self.cluster.topic}-0"
        brokers = self.cluster.nodes
        return witness_kafka(
            Path(brokers[old].log_dir) / part, Path(brokers[new].log_dir) / part, present, node=old
        )


def _crashed_nodes(events: Path) -> list[str]:
    """The nodes the schedule crashed, as the steps resolved them (events.jsonl)."""
    out: list[str] = []
    for line in events.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        if e.get("type") == "step_start" and e.get("action") == "crash" and e.get("resolved"):
            out.append(str(e["resolved"]))
    return out


def for_run(
    scenario: Scenario, backend: str, cluster: Cluster, run_dir: Path, log: Log
) -> WitnessRole | None:
    """The run's witness, or None when its system has none (module doc). Call it before the
    cluster starts: it remembers the first primary."""
    if isinstance(cluster, PostgresCluster | KafkaCluster):
        first = cluster.primary_name if isinstance(cluster, PostgresCluster) else ""
        return WitnessRole(run_dir, scenario, backend, cluster, log, first)
    return None
