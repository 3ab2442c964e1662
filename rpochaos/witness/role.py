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
- Kafka on the docker backend (its log directories live in docker volumes);
- with ``--keep-topology`` an isolated old primary still runs (``rpochaos.witness.postgres``).

On the docker backend each node's data directory is in a docker volume: a one-shot container
of the node copies the old primary's data directory (and the promoted node's timeline history
files) into a scratch directory under the system's temporary directory (shared with the
node containers, mode 0777 so that the host's database user can reach it wherever the run
directory is; deleted once read), and the local witness reads that copy with the host's
PostgreSQL programs (same major version as the image: the copy's PG_VERSION is checked).

It never raises: whatever goes wrong becomes ``unavailable`` with the reason, and the run's
measurement (which reads witness.json in ``rpochaos.result.witness``) goes on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rpochaos import deps
from rpochaos.backends import Backend
from rpochaos.kafka.cluster import KafkaCluster
from rpochaos.roles import Cluster
from rpochaos.scenario import Scenario
from rpochaos.store import EVENTS, FINAL_READ
from rpochaos.topology.postgres import PostgresCluster, PostgresNode
from rpochaos.witness.kafka import witness_kafka
from rpochaos.witness.model import WitnessReport, save
from rpochaos.witness.postgres import witness

Log = Callable[[str], None]
#: where the witness keeps its copy's log and pids.json, in the run directory
WORK_DIR = "witness"
DOCKER_KAFKA = (
    "the docker backend keeps each broker's log directory in a docker volume: run on the "
    "local backend to read the old leader's segments"
)
#: a one-shot command copying a data directory ($1) to a host directory ($2), readable there
_COPY_OUT = 'cp -a "$1" "$2/data" && chmod -R a+rwX "$2/data"'
_COPY_HISTORY = (
    'mkdir -p "$2/data/pg_wal" && cp "$1"/pg_wal/*.history "$2/data/pg_wal/"'
    ' && chmod -R a+rwX "$2/data"'
)


@dataclass
class WitnessRole:
    """The witness of one run (``for_run``); ``after_run`` is its one action."""

    run_dir: Path
    scenario: Scenario
    backend: Backend
    cluster: PostgresCluster | KafkaCluster
    log: Log
    #: the primary when the run started: the one whose disk a failover leaves behind
    first_primary: str
    #: the docker backend's copies of data directories, deleted after the read
    scratch: list[Path] = field(default_factory=list)

    def after_run(self) -> WitnessReport | None:
        """Read the old primary's disk and save ``witness.json``; the report, or None when
        the run had no fork to read. Never raises."""
        t0 = time.monotonic()
        try:
            report = self._read()
        except Exception as e:  # the witness must never break a run's teardown
            lines = str(e).strip().splitlines() or [type(e).__name__]
            why = " ".join(dict.fromkeys([lines[0], lines[-1]]))
            report = WitnessReport.unavailable(self.first_primary, f"the witness failed: {why}")
        finally:
            for d in self.scratch:
                shutil.rmtree(d, ignore_errors=True)
        if report is None:
            return None
        took = round(time.monotonic() - t0, 6)
        report = report.model_copy(
            update={"timings": report.timings.model_copy(update={"run_s": took})}
        )
        save(report, self.run_dir)
        self.log(f"{report.describe()} ({took:.2f} s)")
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
        nodes = self.cluster.nodes
        if self.backend.name == "local":
            old_dir, new_dir = Path(nodes[old].datadir), Path(nodes[new].datadir)
        else:
            old_dir = self._copy_out(nodes[old], "witness-old", _COPY_OUT)
            new_dir = self._copy_out(nodes[new], "witness-new", _COPY_HISTORY)
            mine = _pg_major(deps.pg_bindir())
            theirs = (old_dir / "PG_VERSION").read_text().strip()
            if mine != theirs:
                return WitnessReport.unavailable(
                    old,
                    f"the image's PostgreSQL is {theirs}, this host's programs are {mine}: "
                    "pg_waldump and the server must be of the same major version",
                )
        return witness(old_dir, new_dir, present, work_dir=self.run_dir / WORK_DIR, node=old)

    def _copy_out(self, node: PostgresNode, name: str, script: str) -> Path:
        """``node``'s data directory, copied by a one-shot container of the node into a new
        scratch directory ``rpochaos-<name>-*`` (module doc)."""
        dst = Path(tempfile.mkdtemp(prefix=f"rpochaos-{name}-"))
        self.scratch.append(dst)
        os.chmod(dst, 0o777)
        self.backend.share_host_dir(dst)
        argv = ["sh", "-c", script, "sh", node.datadir, str(dst)]
        node.handle.run(argv, timeout_s=120, what=f"copy of {node.name}'s disk for the witness")
        return dst / "data"

    def _kafka(self, final: dict[str, object], present: frozenset[int]) -> WitnessReport | None:
        assert isinstance(self.cluster, KafkaCluster)
        crashed = _crashed_nodes(self.run_dir / EVENTS)
        leaders = final.get("leaders")
        new = str(leaders.get("0")) if isinstance(leaders, dict) else None
        if len(crashed) != 1 or new is None or crashed[0] == new:
            return None  # the witness reads one crashed old leader of partition 0
        old = crashed[0]
        if self.backend.name != "local":
            return WitnessReport.unavailable(old, DOCKER_KAFKA)
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


def _pg_major(bindir: Path) -> str:
    """The major version of the PostgreSQL programs in ``bindir`` ('15')."""
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return m.group(1) if m else out.strip()


def for_run(
    scenario: Scenario, backend: Backend, cluster: Cluster, run_dir: Path, log: Log
) -> WitnessRole | None:
    """The run's witness, or None when its system has none (module doc). Call it before the
    cluster starts: it remembers the first primary."""
    if isinstance(cluster, PostgresCluster | KafkaCluster):
        first = cluster.primary_name if isinstance(cluster, PostgresCluster) else ""
        return WitnessRole(run_dir, scenario, backend, cluster, log, first)
    return None
