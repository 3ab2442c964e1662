"""The witness as a role of a run: after the final read and the servers' teardown, read the
old primary's (old leader's) own disk and store what it held as ``witness.json``.

``for_run`` says whether a run gets a witness at all: a PostgreSQL cluster of
``rpochaos.topology.postgres``, a Patroni topology (either backend) or a Kafka cluster (not
MariaDB). ``after_run``
runs from the run's teardown, after the cluster's servers are killed and before the backend
deletes the data directories, so the old primary's disk is exactly what the crash or the
isolation left (an isolated old primary is killed with the rest of the topology first). It
writes nothing when there was no fork to read (no final read, or the final read was on the
old primary itself), and ``unavailable (why)`` when the disk cannot be read:

- the old primary was restored from the archive (its disk is a base backup, not the disk that
  acknowledged the writes);
- with ``--keep-topology`` an isolated old primary still runs (``rpochaos.witness.postgres``).

On the docker backend each node's data directory is in a docker volume: a one-shot container
of the node copies the old primary's data directory (and the promoted node's timeline history
files) into a scratch directory under the system's temporary directory (shared with the
node containers, mode 0777 so that the host's database user can reach it wherever the run
directory is; deleted once read), and the local witness reads that copy with the host's
PostgreSQL programs (same major version as the image: the copy's PG_VERSION is checked).
Kafka on docker likewise: a one-shot container of each broker copies the topic's partition
directory out, and the host's Kafka jars dump the copies. Each scratch directory holds an
``owner.json`` (the harness's pid and start time): ``gc`` deletes those whose owner is gone
(a run killed while its witness was copying), as ``rpochaos gc`` does.

Patroni: the disk read is the old leader's (``rpochaos.witness.patroni.old_leader``: the last
leader before the final read's node, from leadership.jsonl). Because its Patroni may
pg_rewind it when it rejoins, ``for_run`` gives the topology a ``before_rejoin`` hook
(``rpochaos.witness.patroni.Snapshots``) that copies a rewind candidate's data directory while
it is down, before its Patroni starts again; the witness reads that copy (``read_from``
``before_rejoin``), or the disk at teardown when the node never rejoined (``at_teardown``).
An old leader whose copy failed, or that pg_rewind rewound (its ``rewind`` record) with no
copy taken, is ``unavailable``: reading its disk would call the erased writes gone.

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
from typing import TYPE_CHECKING, Protocol

from rpochaos import deps
from rpochaos.backends import Backend
from rpochaos.backends.local import owner_alive, proc_start
from rpochaos.kafka.cluster import KafkaCluster
from rpochaos.roles import Cluster
from rpochaos.scenario import Scenario
from rpochaos.store import EVENTS, FINAL_READ
from rpochaos.topology.postgres import PostgresCluster
from rpochaos.witness.kafka import witness_kafka
from rpochaos.witness.model import ReadFrom, WitnessReport, save
from rpochaos.witness.patroni import Snapshots, old_leader, snapshot_path
from rpochaos.witness.postgres import du, witness

if TYPE_CHECKING:
    from rpochaos.patroni.docker_topology import DockerPatroniTopology
    from rpochaos.patroni.topology import PatroniTopology

    Patroni = PatroniTopology | DockerPatroniTopology

Log = Callable[[str], None]
#: where the witness keeps its copy's log and pids.json, in the run directory
WORK_DIR = "witness"
#: the prefix of every scratch directory, under the system's temporary directory
SCRATCH_PREFIX = "rpochaos-witness-"
#: in each scratch directory: who made it
OWNER = "owner.json"
#: a one-shot command copying a data directory ($1) to a host directory ($2), readable there
_COPY_OUT = 'cp -a "$1" "$2/data" && chmod -R a+rwX "$2/data"'
_COPY_PARTITION = 'cp -a "$1" "$2/part" && chmod -R a+rwX "$2/part"'
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
    cluster: PostgresCluster | KafkaCluster | Patroni
    log: Log
    #: the primary when the run started: the one whose disk a failover leaves behind
    first_primary: str
    #: the docker backend's copies of data directories, deleted after the read
    scratch: list[Path] = field(default_factory=list)
    #: Patroni: the copies of old leaders taken before they rejoined
    snapshots: Snapshots | None = None

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
        if not isinstance(self.cluster, PostgresCluster):
            return self._patroni(final, present)
        old, new = self.first_primary, str(final.get("node"))
        if new == old:
            return None  # no failover: the old primary is the final read's node
        if (restored := self._restored(old)) is not None:
            return restored
        nodes = self.cluster.nodes
        if self.backend.name == "local":
            old_dir, new_dir = Path(nodes[old].datadir), Path(nodes[new].datadir)
        else:
            copied = self._copy_pair(
                (nodes[old].handle, nodes[old].datadir), (nodes[new].handle, nodes[new].datadir)
            )
            if isinstance(copied, str):
                return WitnessReport.unavailable(old, copied)
            old_dir, new_dir = copied
        return witness(old_dir, new_dir, present, work_dir=self.run_dir / WORK_DIR, node=old)

    def _restored(self, old: str) -> WitnessReport | None:
        if any(s.action == "restore" and s.target == old for s in self.scenario.schedule):
            return WitnessReport.unavailable(
                old,
                "the old primary was restored from the archive: its disk is a base backup, "
                "not the disk that acknowledged the writes",
            )
        return None

    def _copy_pair(
        self, old: tuple[OneShot, str] | Path, new: tuple[OneShot, str]
    ) -> tuple[Path, Path] | str:
        """Docker: the old primary's data directory ``old`` (node, path in it; or a host
        copy already made) and the promoted node's timeline history files ``new`` copied out
        to scratch directories; their paths there, or why the host cannot read them."""
        if isinstance(old, Path):
            old_dir = old
        else:
            old_dir = self._copy_out(old[0], old[1], "old", _COPY_OUT) / "data"
        new_dir = self._copy_out(new[0], new[1], "new", _COPY_HISTORY) / "data"
        mine = _pg_major(deps.pg_bindir())
        theirs = (old_dir / "PG_VERSION").read_text().strip()
        if mine != theirs:
            return (
                f"the image's PostgreSQL is {theirs}, this host's programs are {mine}: "
                "pg_waldump and the server must be of the same major version"
            )
        return old_dir, new_dir

    def _patroni(self, final: dict[str, object], present: frozenset[int]) -> WitnessReport | None:
        """The old leader's disk (module doc): the copy taken before it rejoined, else its
        disk at teardown."""
        from rpochaos.patroni.docker_topology import DockerPatroniTopology
        from rpochaos.patroni.topology import PatroniTopology
        from rpochaos.patroni.watch import LEADERSHIP, read_leadership

        assert self.snapshots is not None, "for_run gives a Patroni run its snapshots"
        new = str(final.get("node"))
        records = read_leadership(self.run_dir / LEADERSHIP)
        old = old_leader(records, new, self.first_primary)
        if old is None:
            return None  # the leadership came back: the old leader is the final read's node
        if (restored := self._restored(old)) is not None:
            return restored
        snaps = self.snapshots
        if old in snaps.failed:
            why = f"the copy of {old}'s disk before it rejoined failed ({snaps.failed[old]})"
            return WitnessReport.unavailable(old, f"{why}: its disk may have been rewound since")
        snap = snaps.taken.get(old)
        if snap is None and any(
            r.get("type") == "rewind" and r.get("node") == old for r in records
        ):
            return WitnessReport.unavailable(
                old,
                f"pg_rewind ran on {old} and no copy of its disk was taken before it rejoined: "
                "its disk no longer holds what it alone had",
            )
        read_from: ReadFrom = "at_teardown" if snap is None else "before_rejoin"
        if isinstance(self.cluster, PatroniTopology):
            old_dir = self.cluster.cluster.node(old).data_dir
            old_dir = old_dir if snap is None else Path(snap.path)
            new_dir = self.cluster.cluster.node(new).data_dir
        else:
            from rpochaos.backends.docker import DATADIR

            assert isinstance(self.cluster, DockerPatroniTopology)
            o, n = self.cluster.node(old).server, self.cluster.node(new).server
            from_old = (o, DATADIR) if snap is None else Path(snap.path)
            copied = self._copy_pair(from_old, (n, DATADIR))
            if isinstance(copied, str):
                return WitnessReport.unavailable(old, copied)
            old_dir, new_dir = copied
        report = witness(old_dir, new_dir, present, work_dir=self.run_dir / WORK_DIR, node=old)
        timings = report.timings
        if snap is not None:
            timings = timings.model_copy(
                update={"snapshot_s": snap.took_s, "snapshot_bytes": snap.bytes}
            )
        return report.model_copy(update={"read_from": read_from, "timings": timings})

    def snapshot(self, name: str) -> tuple[str, int | None]:
        """``Snapshots.copy``: copy Patroni node ``name``'s data directory while it is down;
        the copy's host path and size. Locally ``cp -a --reflink=auto`` to ``pgdata.witness``
        beside it, as the database user; on docker a one-shot container of the node copies it
        out of its volume to a scratch directory (``_copy_out``), read from there later."""
        from rpochaos.patroni.docker_topology import DockerPatroniTopology
        from rpochaos.patroni.topology import PatroniTopology

        if isinstance(self.cluster, PatroniTopology):
            src = self.cluster.cluster.node(name).data_dir
            dst = snapshot_path(src)
            shutil.rmtree(dst, ignore_errors=True)
            argv = ["cp", "-a", "--reflink=auto", str(src), str(dst)]
            what = f"copy of {name}'s disk before it rejoins"
            self.cluster.backend.run(argv, as_db_user=True, timeout_s=120, what=what)
            return str(dst), du(dst)
        from rpochaos.backends.docker import DATADIR

        assert isinstance(self.cluster, DockerPatroniTopology), "a Patroni topology"
        node = self.cluster.node(name).server
        dst = self._copy_out(node, DATADIR, f"rejoin-{name}", _COPY_OUT) / "data"
        return str(dst), du(dst)

    def _copy_out(self, node: OneShot, src: str, name: str, script: str) -> Path:
        """A new scratch directory ``rpochaos-witness-<name>-*`` (module doc) into which a
        one-shot container of ``node`` ran ``script`` with ``src`` (a path in the node) and
        the directory as its arguments."""
        dst = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{name}-"))
        self.scratch.append(dst)
        own(dst)
        os.chmod(dst, 0o777)
        self.backend.share_host_dir(dst)
        argv = ["sh", "-c", script, "sh", src, str(dst)]
        node.run(argv, timeout_s=120, what=f"copy of {node.name}'s disk for the witness")
        return dst

    def _kafka(self, final: dict[str, object], present: frozenset[int]) -> WitnessReport | None:
        assert isinstance(self.cluster, KafkaCluster)
        crashed = _crashed_nodes(self.run_dir / EVENTS)
        leaders = final.get("leaders")
        new = str(leaders.get("0")) if isinstance(leaders, dict) else None
        if len(crashed) != 1 or new is None or crashed[0] == new:
            return None  # the witness reads one crashed old leader of partition 0
        old = crashed[0]
        part = f"{self.cluster.topic}-0"
        brokers = self.cluster.nodes
        if self.backend.name == "local":
            old_dir, new_dir = Path(brokers[old].log_dir) / part, Path(brokers[new].log_dir) / part
        else:
            b_old, b_new = brokers[old], brokers[new]
            old_dir = self._copy_out(b_old.node, f"{b_old.log_dir}/{part}", "old", _COPY_PARTITION)
            new_dir = self._copy_out(b_new.node, f"{b_new.log_dir}/{part}", "new", _COPY_PARTITION)
            old_dir, new_dir = old_dir / "part", new_dir / "part"
        return witness_kafka(old_dir, new_dir, present, node=old)


class OneShot(Protocol):
    """A node that can run a one-shot command beside it (the docker backend's nodes)."""

    name: str

    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str: ...


def own(scratch: Path) -> None:
    """Mark ``scratch`` as this process's (``owner.json``: pid and start time)."""
    pid = os.getpid()
    (scratch / OWNER).write_text(json.dumps({"pid": pid, "start": proc_start(pid)}))


def gc(root: Path | None = None) -> list[str]:
    """Delete the witness scratch directories under ``root`` (the system's temporary
    directory) whose owner process is gone; what was removed, or why it could not be."""
    out: list[str] = []
    for d in sorted(Path(root or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*")):
        try:
            owner = json.loads((d / OWNER).read_text())
            pid, start = int(owner["pid"]), owner.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            pid, start = 0, None  # no owner written: a run died at once, or is writing it
            if not d.is_dir() or time.time() - d.stat().st_mtime < 60:
                continue
        if not d.is_dir() or owner_alive(pid, None if start is None else str(start)):
            continue
        try:
            shutil.rmtree(d)
        except OSError as e:
            out.append(f"witness scratch directory {d}: could not remove ({e.strerror})")
            continue
        out.append(f"witness scratch directory {d}")
    return out


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
    cluster starts: it remembers the first primary (and gives a Patroni topology its
    ``before_rejoin`` hook)."""
    if isinstance(cluster, PostgresCluster | KafkaCluster):
        first = cluster.primary_name if isinstance(cluster, PostgresCluster) else ""
        return WitnessRole(run_dir, scenario, backend, cluster, log, first)
    from rpochaos.patroni.docker_topology import DockerPatroniTopology
    from rpochaos.patroni.topology import PRIMARY, PatroniTopology
    from rpochaos.patroni.watch import LEADERSHIP, read_leadership

    if isinstance(cluster, PatroniTopology | DockerPatroniTopology):
        role = WitnessRole(run_dir, scenario, backend, cluster, log, PRIMARY)
        snaps = Snapshots(
            role.snapshot, lambda: read_leadership(run_dir / LEADERSHIP), log, PRIMARY
        )
        role.snapshots = snaps
        cluster.before_rejoin = snaps.before_rejoin
        return role
    return None
