"""A PostgreSQL primary with streaming replicas, every replication link through Toxiproxy.

Bring-up: initdb the primary, start it, create one proxy per link (``<replica>->primary``
to the primary, ``client-><node>`` to each node), create the workload's table, clone each
replica with pg_basebackup *through its proxy* (so primary_conninfo points at the proxy),
start it, and wait until pg_stat_replication shows every replica streaming.

Per-node settings go on the server's command line (``-c``), never into postgresql.conf,
because pg_basebackup copies configuration files from its source. The durability settings
(synchronous_commit, synchronous_standby_names) come from the scenario; fsync and everything
else stay at PostgreSQL's defaults unless the scenario's ``settings`` say otherwise. A
replica runs with synchronous_standby_names='' so that, once promoted, it accepts writes
without waiting for a standby that no longer exists (as Patroni does after a failover).

With ``topology.archive`` the primary also archives its WAL: archive_mode=on,
archive_timeout from the scenario, and an archive_command that copies each finished segment
into the host directory ``wal-archive`` (``backend.host_dir``: under the data root locally,
under the run directory and bind-mounted into the containers on docker; ``test ! -f``
first, so nothing archived is ever overwritten; copied under a temporary name, then renamed,
so a half-copied segment is never restored) -- unless the ``archive_fail`` flag file (in the
host directory ``archive-control``) exists, in which case it fails without copying. Right
after the table is created a base backup is taken with pg_basebackup into the host directory
``base-backup``. ``restore`` later builds a new primary from those two
alone: a copy of the base backup with recovery.signal and a restore_command reading the
archive. The dead primary's own pg_wal is never read, as when its host is gone.
"""

from __future__ import annotations

import re
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from rpochaos.backends.base import Address, Backend, Endpoint, LinkAddress, Node
from rpochaos.errors import TopologyError
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import Topology
from rpochaos.waiting import wait_until

DB_USER = "rpochaos"
DB_NAME = "postgres"
TABLE = "rpochaos_writes"
SCHEMA_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " seq bigint PRIMARY KEY,"
    " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
)
#: settings reported as 'in force' in every result
DURABILITY_SETTINGS = (
    "synchronous_commit",
    "synchronous_standby_names",
    "fsync",
    "wal_sender_timeout",
    "wal_level",
)
#: also reported when the topology archives its WAL
ARCHIVE_SETTINGS = ("archive_mode", "archive_command", "archive_timeout")
#: under the cluster's data directory: the WAL archive, the base backup, archive_fail's flag
ARCHIVE_DIR = "wal-archive"
BASE_BACKUP = "base-backup"
ARCHIVE_CONTROL = "archive-control"
ARCHIVE_FAIL_FLAG = "archive-fail.flag"
#: a WAL segment file name: timeline, then the segment number (8 + 16 hex digits)
_SEGMENT_RE = re.compile(r"[0-9A-F]{24}")


def archive_command(archive_dir: Path, fail_flag: Path) -> str:
    """The primary's archive_command: fail while ``fail_flag`` exists (the archive_fail
    fault); never overwrite an archived segment; copy under a temporary name and rename, so
    the archive only ever holds whole segments."""
    a, f = shlex.quote(str(archive_dir)), shlex.quote(str(fail_flag))
    return f"test ! -f {f} && test ! -f {a}/%f && cp %p {a}/%f.tmp && mv {a}/%f.tmp {a}/%f"


def restore_command(archive_dir: Path) -> str:
    """A restored node's restore_command: copy the segment PostgreSQL asks for from the
    archive; fail when it is not there (which ends archive recovery)."""
    return f"cp {shlex.quote(str(archive_dir))}/%f %p"


@dataclass(frozen=True)
class Restored:
    """What ``PostgresCluster.restore`` recovered: the archive's newest segment of the old
    timeline, how many segments the archive held, the last WAL position replayed, and the
    new timeline the restored primary writes on."""

    node: str
    last_segment: str | None
    segments: int
    replayed_to: str
    timeline: int
    seconds: float  # how long the restore took (copy, recovery, promotion)

    def describe(self) -> str:
        seg = self.last_segment or "none"
        return (
            f"restored {self.node} from the base backup + WAL archive: replayed up to "
            f"{self.replayed_to} (last archived segment {seg}, {self.segments} in the archive), "
            f"now on timeline {self.timeline}, in {self.seconds:.2f} s"
        )


def _wait(what: str, timeout_s: float, probe: Callable[[], Any], log: Callable[[], str]) -> Any:
    """Poll ``probe`` every 50 ms until truthy (psycopg errors count as "not yet")."""
    return wait_until(what, timeout_s, probe, log, psycopg.Error, interval_s=0.05)


def _basebackup_argv(node: Node, source: Address, datadir: str, *extra: str) -> list[str]:
    """pg_basebackup of the server at ``source`` into ``datadir``, with the WAL it needs to be
    consistent (-X stream), a fast checkpoint, no fsync of the copy (``extra``: e.g. -R)."""
    return [
        node.program("pg_basebackup"),
        *("-h", source.host, "-p", str(source.port), "-U", DB_USER, "-D", datadir),
        *extra,
        *("-X", "stream", "--no-sync", "-c", "fast"),
    ]


class PostgresNode:
    """One PostgreSQL server on a backend ``Node`` handle (which knows where it runs)."""

    def __init__(self, name: str, backend: Backend, handle: Node, settings: dict[str, str]):
        self.name = name
        self.backend = backend
        self.handle = handle
        self.settings = settings
        self.env: dict[str, str] = {}  # extra environment for the server (LD_PRELOAD, ...)

    @property
    def host(self) -> str:
        """Where the harness reaches this server directly."""
        return self.handle.address.host

    @property
    def port(self) -> int:
        """Where the harness reaches this server directly (not the port it binds inside a
        container)."""
        return self.handle.address.port

    @property
    def datadir(self) -> str:
        return self.handle.datadir

    @property
    def server(self) -> Node:
        """Deprecated alias of ``handle`` (its ``pid`` is the postmaster's host pid)."""
        return self.handle

    @property
    def conninfo(self) -> str:
        return (
            f"host={self.host} port={self.port} dbname={DB_NAME} user={DB_USER} connect_timeout=2"
        )

    def connect(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.conninfo, autocommit=True)

    def argv(self) -> list[str]:
        argv = [self.handle.program("postgres"), "-D", self.handle.datadir]
        for k, v in self.settings.items():
            argv += ["-c", f"{k}={v}"]
        return argv

    def start(self, timeout_s: float = 30.0) -> None:
        self.handle.start(self.argv(), env=self.env or None)
        _wait(f"{self.name} did not accept connections", timeout_s, self._ready, self._log)

    def _ready(self) -> bool:
        if not self.handle.running():
            raise TopologyError(f"{self.name} exited during start-up\n{self._log()}")
        with self.connect() as c:
            c.execute("SELECT 1")
        return True

    def _log(self) -> str:
        return self.handle.log_tail()

    def running(self) -> bool:
        return self.handle.running()

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once."""
        self.handle.kill()

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then kill if needed."""
        self.handle.stop(timeout_s=15.0, sig=signal.SIGINT)

    def restart(self) -> None:
        if self.running():
            self.stop()
        else:
            self.crash()  # reap leftovers of a killed group
        self.start()

    def pause(self) -> None:
        self.handle.pause()

    def resume(self) -> None:
        self.handle.resume()

    def promote(self, timeout_s: float = 30.0) -> None:
        try:
            with self.connect() as c:
                row = c.execute("SELECT pg_promote(true, %s)", (int(timeout_s),)).fetchone()
        except psycopg.Error as e:
            raise TopologyError(f"promote {self.name} failed: {e}\n{self._log()}") from e
        if not row or not row[0]:
            raise TopologyError(f"promote {self.name} did not finish in {timeout_s:g} s")

    def is_primary(self) -> bool:
        with self.connect() as c:
            row = c.execute("SELECT pg_is_in_recovery()").fetchone()
        return row is not None and not row[0]


class PostgresCluster:
    """The primary, its replicas, and the proxies between them and the workload.

    Backend-neutral: nodes are ``backend.node`` handles and every link's addresses come from
    ``backend.link``, so the same code runs on the local and the docker backend. ``data_dir``
    is only a hint for backends that keep data on the host (local); None lets the backend
    choose.
    """

    def __init__(
        self,
        topology: Topology,
        backend: Backend,
        proxy: Toxiproxy,
        data_dir: Path | None = None,
    ) -> None:
        self.topology = topology
        self.backend = backend
        self.proxy = proxy
        self.data_dir = data_dir
        self.nodes: dict[str, PostgresNode] = {}
        self.links: dict[str, LinkAddress] = {}  # link name -> its addresses
        self.link_ports: dict[str, int] = {}  # link name -> port the proxy listens on
        #: extra environment per node name for its server (LD_PRELOAD shims, FAKETIME...);
        #: set before ``start``. On docker it is the container's environment, so paths in it
        #: must exist inside the node's image.
        self.node_env: dict[str, dict[str, str]] = {}
        self.primary_name = "primary"
        #: the flag file that makes archive_command fail (topology.archive only)
        self.archive_fail_flag: Path | None = None
        self.archive_dir: Path | None = None
        self.base_backup: Path | None = None

    def _archive_settings(self) -> dict[str, str]:
        """archive_mode, archive_command, archive_timeout for a node that archives."""
        assert self.topology.archive is not None
        assert self.archive_dir is not None and self.archive_fail_flag is not None
        return {
            "archive_mode": "on",
            "archive_command": archive_command(self.archive_dir, self.archive_fail_flag),
            "archive_timeout": f"{round(self.topology.archive.timeout)}s",
        }

    def _settings(self, handle: Node, primary: bool) -> dict[str, str]:
        s = {
            "listen_addresses": handle.listen_host,
            "port": str(handle.port),
            "unix_socket_directories": "",
            "cluster_name": handle.name,
            "wal_level": "replica",
            "max_wal_senders": "16",
            "max_replication_slots": "16",
            "hot_standby": "on",
            "synchronous_commit": self.topology.synchronous_commit,
            "synchronous_standby_names": (
                self.topology.synchronous_standby_names if primary else ""
            ),
        }
        s.update(self.topology.settings)
        if primary and self.topology.archive is not None:
            s.update(self._archive_settings())
        return s

    def _handle(self, name: str) -> Node:
        hint = self.data_dir / name if self.data_dir is not None else None
        return self.backend.node(name, data_dir=hint)

    def start(self) -> None:
        if self.topology.archive is not None:
            # host directories first: on docker they are mounted into containers created later
            self.archive_dir = self.backend.host_dir(ARCHIVE_DIR)
            self.base_backup = self.backend.host_dir(BASE_BACKUP)
            self.archive_fail_flag = self.backend.host_dir(ARCHIVE_CONTROL) / ARCHIVE_FAIL_FLAG
        handles = {n: self._handle(n) for n in self.topology.nodes}
        # the primary
        ph = handles["primary"]
        ph.prepare()
        ph.run(
            [
                ph.program("initdb"),
                "-D",
                ph.datadir,
                "-U",
                DB_USER,
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            timeout_s=120,
            what="initdb of primary",
        )
        if ph.hba_hosts:  # trust the backend's networks too (replicas copy the file)
            lines = [
                f"host {db} {DB_USER} {addr} trust"
                for addr in ph.hba_hosts
                for db in ("all", "replication")
            ]
            ph.run(
                ["sh", "-c", 'printf "%s\\n" "$@" >> ' + f"{ph.datadir}/pg_hba.conf", "sh", *lines],
                timeout_s=60,
                what="pg_hba.conf of primary",
            )
        primary = PostgresNode("primary", self.backend, ph, self._settings(ph, True))
        primary.env = dict(self.node_env.get("primary", {}))
        self.nodes["primary"] = primary
        primary.start()
        with primary.connect() as c:
            # no standby is attached yet: don't wait for one to create the table
            c.execute("SET synchronous_commit = local")
            c.execute(SCHEMA_SQL)
        if self.base_backup is not None:
            self._base_backup(ph)
        # one proxy per link
        for link in self.topology.links:
            src, dst = link.split("->")
            addr = self.backend.link(link, handles[dst], harness=src == "client")
            self.proxy.create_proxy(link, addr.listen, addr.upstream)
            self.links[link] = addr
            self.link_ports[link] = addr.listen_port
        # the replicas, cloned through their replication link (pg_basebackup -R writes the
        # proxy's peer address into primary_conninfo)
        for r in self.topology.replicas:
            rh = handles[r.name]
            via = self.links[f"{r.name}->primary"].peer
            rh.prepare()
            rh.run(
                _basebackup_argv(rh, via, rh.datadir, "-R"),
                timeout_s=120,
                what=f"pg_basebackup of {r.name}",
            )
            node = PostgresNode(r.name, self.backend, rh, self._settings(rh, False))
            node.env = dict(self.node_env.get(r.name, {}))
            self.nodes[r.name] = node
            node.start()
        self.wait_streaming()

    def _base_backup(self, ph: Node) -> None:
        """A base backup of the primary into ``base_backup``, taken directly from it (not
        through a proxy), with the WAL it needs to be consistent (-X stream)."""
        assert self.base_backup is not None
        ph.run(
            _basebackup_argv(ph, self.backend.direct(ph), str(self.base_backup)),
            timeout_s=120,
            what="pg_basebackup of primary (the base backup for archive recovery)",
        )

    def archived_segments(self) -> list[str]:
        """The WAL segment files in the archive, in order (timeline, then position)."""
        if self.archive_dir is None or not self.archive_dir.is_dir():
            return []
        return sorted(p.name for p in self.archive_dir.iterdir() if _SEGMENT_RE.fullmatch(p.name))

    def restore(self, name: str = "primary", timeout_s: float = 60.0) -> Restored:
        """Rebuild the dead primary ``name`` from the base backup and the WAL archive alone.

        A copy of the base backup gets recovery.signal and a restore_command reading the
        archive, and starts as a new server (its own data directory and port; its log is
        ``<name>-restored``). PostgreSQL replays every archived segment; when restore_command
        fails for the next one it ends archive recovery, picks a new timeline and accepts
        writes. The new server then *is* ``name``: it replaces the dead one in ``nodes``,
        becomes the primary, and every ``client->name`` link is pointed at it, so the
        workload's connections to ``name`` reach it. Replicas are not re-attached.

        Raises TopologyError when the cluster has no archive, ``name`` still runs, or the
        restored server is not accepting writes within ``timeout_s``.
        """
        t0 = time.monotonic()
        if self.base_backup is None or self.archive_dir is None:
            raise TopologyError("restore needs topology.archive (a base backup and a WAL archive)")
        old = self.nodes[name]
        if old.running():
            raise TopologyError(
                f"restore {name}: {name} is still running; restore rebuilds a lost primary "
                "(crash it first, without 'for')"
            )
        segments = self.archived_segments()  # what the archive holds as recovery begins
        h = self._handle(f"{name}-restored")
        h.prepare()
        h.run(["cp", "-a", f"{self.base_backup}/.", h.datadir], timeout_s=120, what="copy base")
        # "cp -a base/." also copies base's own mode (0777 for a shared host directory)
        h.run(
            ["sh", "-c", 'touch "$1/recovery.signal" && chmod 0700 "$1"', "sh", h.datadir],
            timeout_s=30,
            what="recovery.signal",
        )
        settings = self._settings(h, False)
        settings["cluster_name"] = name
        settings.update(self._archive_settings())
        settings["restore_command"] = restore_command(self.archive_dir)
        node = PostgresNode(name, self.backend, h, settings)
        node.env = dict(self.node_env.get(name, {}))
        node.start(timeout_s)
        _wait(
            f"restored {name} did not leave archive recovery", timeout_s, node.is_primary, node._log
        )
        with node.connect() as c:
            row = c.execute(
                "SELECT pg_last_wal_replay_lsn()::text, pg_walfile_name(pg_current_wal_lsn())"
            ).fetchone()
        assert row is not None
        self.nodes[name] = node
        self.primary_name = name
        for link, addr in list(self.links.items()):
            src, dst = link.split("->")
            if dst != name or src != "client":
                continue
            upstream = str(self.backend.direct(h))
            self.proxy.delete_proxy(link)
            self.proxy.create_proxy(link, addr.listen, upstream)
            self.links[link] = replace(addr, upstream=upstream)
        return Restored(
            node=name,
            last_segment=segments[-1] if segments else None,
            segments=len(segments),
            replayed_to=str(row[0]),
            timeline=int(str(row[1])[:8], 16),
            seconds=time.monotonic() - t0,
        )

    def wait_streaming(self, timeout_s: float = 30.0) -> None:
        want = {r.name for r in self.topology.replicas}
        if not want:
            return
        primary = self.nodes[self.primary_name]

        def probe() -> bool:
            with primary.connect() as c:
                rows = c.execute(
                    "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchall()
            return want <= {r[0] for r in rows}

        def logs() -> str:
            return "\n".join(f"[{n.name}]\n{n._log()}" for n in self.nodes.values())

        _wait(f"replicas {sorted(want)} were not all streaming", timeout_s, probe, logs)

    def client_endpoints(self) -> list[Endpoint]:
        """Where the workload connects: each node through its client-><node> proxy, primary
        first."""
        out = []
        for n in self.topology.nodes:
            at = self.links[f"client->{n}"].harness
            assert at is not None, f"client->{n} was created for the harness"
            out.append(Endpoint(at.host, at.port, n))
        return out

    def durability(self) -> dict[str, object]:
        """The durability settings in force on the primary, read from the server itself."""
        out: dict[str, object] = {}
        with self.nodes[self.primary_name].connect() as c:
            names: tuple[str, ...] = DURABILITY_SETTINGS
            if self.topology.archive is not None:
                names = (*names, *ARCHIVE_SETTINGS)
            for name in names:
                row = c.execute(f"SHOW {name}").fetchone()
                out[name] = row[0] if row else None
        out["replicas"] = {r.name: r.mode for r in self.topology.replicas}
        return out

    def version(self) -> str:
        with self.nodes[self.primary_name].connect() as c:
            row = c.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"

    def links_of(self, name: str) -> list[str]:
        """Every proxied link that starts or ends at node ``name``."""
        return [lk for lk in self.link_ports if name in lk.split("->")]

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None:
        """SIGKILL every process of ``name``; with ``cut_links`` also disable every proxy to
        and from it at once, dropping what was still in flight (the host died with it)."""
        self.nodes[name].crash()
        if on_down is not None:  # every process is dead: nothing more can be acknowledged
            on_down()
        if cut_links:
            self.proxy.set_all_enabled(self.links_of(name), False)

    def recover(self, name: str) -> None:
        """Undo ``crash``: re-enable the node's links and restart it (crash recovery)."""
        self.proxy.set_all_enabled(self.links_of(name), True)
        self.nodes[name].restart()

    def promote(self, name: str) -> None:
        self.nodes[name].promote()
        self.primary_name = name

    def connect(self, name: str) -> psycopg.Connection[TupleRow]:
        """A new autocommit connection straight to node ``name`` (not through a proxy)."""
        return self.nodes[name].connect()

    def signals_processes(self) -> bool:
        """Whether ``pid_of`` can answer on this cluster's backend."""
        return self.backend.signals_processes()

    def pid_of(self, name: str) -> int | None:
        """Host pid of ``name``'s postmaster while it runs and the harness may signal it."""
        return self.nodes[name].handle.pid

    def read_seqs(self, node_name: str) -> frozenset[int]:
        """Every sequence number present on ``node_name``, which must be a primary."""
        node = self.nodes[node_name]
        with node.connect() as c:
            row = c.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and row[0]:
                raise TopologyError(f"{node_name} is a standby, not the surviving primary")
            rows = c.execute(f"SELECT seq FROM {TABLE}").fetchall()
        return frozenset(int(r[0]) for r in rows)

    def kept(self) -> list[str]:
        """How a person reaches each node and proxy of a kept topology."""
        lines = [
            f"kept {n.name}: psql 'host={n.host} port={n.port} user={DB_USER} dbname={DB_NAME}'"
            for n in self.nodes.values()
            if n.running()  # a node the schedule crashed has no server to reach
        ]
        for link, addr in self.links.items():
            where = f"{addr.harness}" if addr.harness else f"{addr.peer} (from the nodes only)"
            lines.append(f"kept proxy {link}: {where}")
        return lines

    def close(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.crash()
