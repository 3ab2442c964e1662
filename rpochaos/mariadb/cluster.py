"""A MariaDB primary and N replicas on the local or the docker backend, replication through
Toxiproxy.

Nodes: ``primary`` (server id 1) and the replicas the settings name (ids 2, 3, ...): local
processes (``server.MariaDBServer``) on the local backend, containers
(``docker_server.DockerMariaDBServer``) on the docker one. Links, each a Toxiproxy proxy:
``<replica>-><source>`` for each replica's replication connection (its ``MASTER_HOST`` and
``MASTER_PORT`` are the proxy's peer address, never the source's own), and
``client->primary``, which always forwards to the node that takes writes now (the writer
connects through it). Locally a proxy listens on a free port of 127.0.0.1; on docker it is
in the Toxiproxy container, replicas reach it as ``toxiproxy:<port>`` and the harness
through a published port (``Backend.link``).

Bring-up (``start``): install every data directory in parallel, start every server, create
``rpochaos.writes`` on the primary, point every replica at its link (``MASTER_USE_GTID=
slave_pos``), wait until every replica's IO and SQL threads run and it has the primary's
GTID position, and only then turn ``rpl_semi_sync_master_enabled`` on at the primary (when
some replica is semi-sync) and wait until ``Rpl_semi_sync_master_status`` is ON with every
semi-sync replica connected. Turning it on earlier makes the first commit wait out the
timeout and switch semi-sync off before the run begins.

Failover is rpochaos's own (``promote``): no HA manager. The replica first applies its
whole relay log (a semi-sync acknowledgement means "received", not "applied", and
``RESET SLAVE ALL`` deletes the relay log: skipping this step loses acknowledged commits the
replica had). The old primary cannot follow the
new one afterwards: it holds transactions the new primary never got, so its IO thread stops
with error 1236 ("... which is not in the master's binlog"). ``recover`` of a demoted
primary records that (``rejoins``) instead of pretending it rejoined; it would have to be
cloned again.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pymysql

from rpochaos.backends.base import Address, Backend, LinkAddress
from rpochaos.backends.local import LocalBackend
from rpochaos.closing import Started
from rpochaos.errors import ProxyError, TopologyError
from rpochaos.mariadb import gtid
from rpochaos.mariadb.server import (
    REPL_USER,
    TABLE,
    Credentials,
    MariaDBNode,
    MariaDBServer,
    wait_gone,
)
from rpochaos.mariadb.settings import PRIMARY, MariaDBSettings
from rpochaos.proxy import Toxiproxy
from rpochaos.waiting import wait_until

CLIENT_LINK = f"client->{PRIMARY}"


@dataclass(frozen=True)
class Rejoin:
    """What happened when a demoted primary was pointed at the new one."""

    node: str
    source: str
    errno: int | None  # 1236 when it cannot follow
    error: str
    following: bool

    def as_dict(self) -> dict[str, object]:
        """Every field by name, in field order (the run record's ``rejoins``)."""
        return asdict(self)


def _port(at: LinkAddress) -> int:
    """A link's port: the harness's (client links) or the proxy's listening one."""
    return at.harness.port if at.harness is not None else at.listen_port


def _errno(state: Mapping[str, str], thread: str) -> int | None:
    """``Last_IO_Errno`` or ``Last_SQL_Errno`` of a SHOW SLAVE STATUS row (None: no error)."""
    value = state.get(f"Last_{thread}_Errno", "")
    return int(value) if value.isdigit() and int(value) else None


class MariaDBCluster(Started):
    """The topology (module docstring). The caller owns ``backend`` and ``proxy`` (a client
    of a running Toxiproxy server); ``close`` kills this cluster's servers and deletes its
    proxies, not those. ``data_root`` (local backend only) defaults to the backend's."""

    def __init__(
        self,
        settings: MariaDBSettings,
        backend: Backend,
        proxy: Toxiproxy,
        data_root: Path | None = None,
        *,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        settings.check()
        self.settings = settings
        self.backend = backend
        self.proxy = proxy
        self.timeout_s = timeout_s
        self.credentials = Credentials()
        env = node_env or {}
        self.servers: dict[str, MariaDBNode] = {}
        for i, name in enumerate([PRIMARY, *settings.replicas], start=1):
            role = "primary" if name == PRIMARY else "replica"
            if isinstance(backend, LocalBackend):
                root = data_root if data_root is not None else backend.data_root()
                self.servers[name] = MariaDBServer(
                    backend,
                    name,
                    i,
                    root / f"mariadb-{name}",
                    settings,
                    self.credentials,
                    role=role,
                    env=env.get(name),
                )
            else:
                from rpochaos.mariadb.docker_server import DockerMariaDBServer

                self.servers[name] = DockerMariaDBServer(
                    backend, name, i, settings, self.credentials, role=role, env=env.get(name)
                )
        self._primary = PRIMARY
        #: replica -> the node it replicates from
        self.sources: dict[str, str] = dict.fromkeys(settings.replicas, PRIMARY)
        self._links: dict[str, tuple[LinkAddress, str, str]] = {}  # name -> (where, from, to)
        self.demoted: list[str] = []
        self.rejoins: list[Rejoin] = []
        self.promotions: list[dict[str, object]] = []

    # -- the role contract -------------------------------------------------------------------

    @property
    def nodes(self) -> Mapping[str, MariaDBNode]:
        return dict(self.servers)

    @property
    def link_ports(self) -> Mapping[str, int]:
        """Each link's port: where the harness connects (client link) or the proxy listens."""
        return {name: _port(a) for name, (a, _s, _d) in self._links.items()}

    @property
    def primary_name(self) -> str:
        return self._primary

    @property
    def by_server_id(self) -> dict[int, str]:
        return {s.server_id: name for name, s in self.servers.items()}

    def client_endpoint(self) -> Address:
        """Where the writer connects: the ``client->primary`` proxy."""
        at = self._links[CLIENT_LINK][0].harness
        assert at is not None, "the client link is made for the harness"
        return at

    def node(self, name: str) -> MariaDBNode:
        try:
            return self.servers[name]
        except KeyError:
            raise TopologyError(
                f"no MariaDB node {name!r}; nodes: {', '.join(self.servers)}"
            ) from None

    def start(self) -> None:
        """Bring every node up and return once ``wait_ready`` holds (TopologyError with the
        nodes' log tails otherwise). ``with cluster:`` starts it (``Started``)."""
        errors: list[BaseException] = []

        def prepare(s: MariaDBNode) -> None:
            try:
                s.prepare()
            except BaseException as e:  # reported below, from this thread
                errors.append(e)

        threads = [threading.Thread(target=prepare, args=(s,)) for s in self.servers.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        for s in self.servers.values():
            s.start()
        for s in self.servers.values():
            s.wait_accepting(self.timeout_s)
        primary = self.node(PRIMARY)
        self._add_link(CLIENT_LINK, "client", PRIMARY)
        for replica in self.settings.replicas:
            self._add_link(f"{replica}->{PRIMARY}", replica, PRIMARY)
        primary.query(f"CREATE DATABASE IF NOT EXISTS {TABLE.split('.')[0]}")
        primary.query(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq BIGINT PRIMARY KEY) ENGINE=InnoDB")
        for replica in self.settings.replicas:
            self._follow(replica, PRIMARY)
        self.wait_ready()

    def _add_link(self, name: str, src: str, dst: str) -> LinkAddress:
        at = self.node(dst).new_link(name, harness=src == "client")
        self.proxy.create_proxy(name, at.listen, at.upstream)
        self._links[name] = (at, src, dst)
        return at

    def _follow(self, replica: str, source: str, use_gtid: str = "slave_pos") -> None:
        """Point ``replica`` at ``source`` through the link ``replica->source`` (made if it
        is not there yet) and start replicating from its GTID position ``use_gtid``:
        ``slave_pos`` (what it applied as a replica) or ``current_pos`` (also what it wrote
        itself as a primary)."""
        link = f"{replica}->{source}"
        if link not in self._links:
            self._add_link(link, replica, source)
        peer = self._links[link][0].peer
        node = self.node(replica)
        with node.connect() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            cur.execute(
                "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                f"MASTER_PASSWORD=%s, MASTER_USE_GTID={use_gtid}, MASTER_CONNECT_RETRY=1",
                (peer.host, peer.port, REPL_USER, self.credentials.repl),
            )
            cur.execute("START SLAVE")
        self.sources[replica] = source

    def replica_state(self, name: str) -> dict[str, str]:
        """SHOW SLAVE STATUS of ``name`` (empty when it replicates from nobody)."""
        return self.node(name).status("SHOW SLAVE STATUS")

    def semi_sync_status(self, name: str | None = None) -> dict[str, str]:
        """The ``Rpl_semi_sync_master_*`` status of ``name`` (default: the primary)."""
        return self.node(name or self._primary).status(
            "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_%'"
        )

    def _streaming(self, replica: str, gtid: str | None) -> bool:
        st = self.replica_state(replica)
        if st.get("Slave_IO_Running") != "Yes" or st.get("Slave_SQL_Running") != "Yes":
            return False
        if gtid is None:
            return True
        pos = self.node(replica).query("SELECT @@gtid_slave_pos")[0][0]
        return str(pos) == gtid

    def followers(self) -> list[str]:
        """Replicas following the current primary (a demoted primary is not one)."""
        return [r for r, s in self.sources.items() if s == self._primary and r not in self.demoted]

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Every follower's IO and SQL threads run and it has the primary's GTID position;
        then master semi-sync on at the primary when a running follower is semi-sync, and
        its status ON with every such follower connected."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        primary = self.node(self._primary)
        followers = [r for r in self.followers() if self.node(r).running()]
        gtid = str(primary.query("SELECT @@gtid_binlog_pos")[0][0])
        for replica in followers:
            wait_until(
                f"replica {replica} did not stream from {self._primary} (IO and SQL threads "
                f"running, at GTID {gtid or '(empty)'})",
                limit,
                functools.partial(self._streaming, replica, gtid),
                functools.partial(self.log_tail, replica),
                retry_on=pymysql.Error,
            )
        semi = [r for r in followers if self.settings.semi_sync.get(r)]
        primary.query(f"SET GLOBAL rpl_semi_sync_master_enabled={'ON' if semi else 'OFF'}")
        if not semi:
            return

        def on() -> bool:
            st = self.semi_sync_status()
            return st.get("Rpl_semi_sync_master_status") == "ON" and int(
                st.get("Rpl_semi_sync_master_clients", "0")
            ) >= len(semi)

        wait_until(
            f"semi-sync did not come ON at {self._primary} with {len(semi)} replica(s)",
            limit,
            on,
            lambda: self.log_tail(self._primary),
            retry_on=pymysql.Error,
            interval_s=0.05,
        )

    # -- links -------------------------------------------------------------------------------

    def links_of(self, name: str) -> list[str]:
        """Every link to or from node ``name`` (``client->primary`` while it is primary)."""
        return [ln for ln, (_at, a, b) in self._links.items() if name in (a, b)]

    def set_links(self, names: list[str], enabled: bool) -> None:
        for ln in names:
            self.proxy.set_enabled(ln, enabled)

    def _repoint_client(self, to: str) -> None:
        """``client->primary`` forwards to ``to`` from now on, on the same port: the proxy
        is deleted and created again (its open connections are closed)."""
        at = self._links[CLIENT_LINK][0]
        upstream = self.node(to).upstream
        with contextlib.suppress(ProxyError):
            self.proxy.delete_proxy(CLIENT_LINK)
        self.proxy.create_proxy(CLIENT_LINK, at.listen, upstream)
        self._links[CLIENT_LINK] = (
            LinkAddress(listen=at.listen, upstream=upstream, peer=at.peer, harness=at.harness),
            "client",
            to,
        )

    # -- faults ------------------------------------------------------------------------------

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None:
        """SIGKILL of the node's mariadbd; returns once it is dead. ``on_down`` is called
        then, before ``cut_links`` disables every link to and from the node."""
        self.node(name).kill()
        if on_down is not None:
            on_down()
        if cut_links:
            self.set_links(self.links_of(name), False)

    def recover(self, name: str) -> None:
        """Links back, server started again on its data (InnoDB crash recovery), ready again.
        A demoted primary is pointed at the current primary and its failure to follow is
        recorded in ``rejoins`` (it returns once the IO thread has either run or stopped)."""
        node = self.node(name)
        self.set_links(self.links_of(name), True)
        if node.running():
            node.stop()
        node.start()
        node.wait_accepting(self.timeout_s)
        if name in self.demoted:
            self.rejoins.append(self._rejoin(name))
        else:
            self.wait_ready()

    def _rejoin(self, name: str) -> Rejoin:
        source = self._primary
        self._follow(name, source, use_gtid="current_pos")

        def settled() -> dict[str, str] | None:
            st = self.replica_state(name)
            if _errno(st, "IO") or _errno(st, "SQL"):
                return st
            if st.get("Slave_IO_Running") == "Yes" and st.get("Slave_SQL_Running") == "Yes":
                primary_pos = str(self.node(source).query("SELECT @@gtid_binlog_pos")[0][0])
                mine = str(self.node(name).query("SELECT @@gtid_current_pos")[0][0])
                return st if gtid.behind(primary_pos, mine) == 0 else None
            return None

        st = wait_until(
            f"{name} neither followed {source} nor failed to",
            self.timeout_s,
            settled,
            lambda: self.log_tail(name),
            retry_on=pymysql.Error,
        )
        kind = "IO" if _errno(st, "IO") else "SQL"
        errno = _errno(st, kind)
        return Rejoin(
            node=name,
            source=source,
            errno=errno,
            error=st.get(f"Last_{kind}_Error", "") if errno else "",
            following=errno is None,
        )

    def pause(self, name: str) -> None:
        self.node(name).pause()

    def resume(self, name: str) -> None:
        self.node(name).resume()

    def signals_processes(self) -> bool:
        """Local processes: the harness signals them directly; containers: when their pids
        are this host's (a local engine)."""
        return isinstance(self.backend, LocalBackend) or self.backend.signals_processes()

    def pid_of(self, name: str) -> int | None:
        """The host pid of node ``name``'s mariadbd while it runs."""
        return self.node(name).pid

    def kept(self) -> list[str]:
        """How to reach what ``--keep-topology`` left: one line per node and link."""
        lines = [s.kept_line() for s in self.servers.values() if s.running()]
        lines += [
            f"kept link {ln}: {at.harness or at.peer}" for ln, (at, _a, _b) in self._links.items()
        ]
        return lines

    # -- failover ----------------------------------------------------------------------------

    #: what ``received_position`` counts
    position_unit = "transaction"

    def received_position(self, name: str) -> int | None:
        """How many of the primary's transactions replica ``name`` has received
        (``Gtid_IO_Pos``, summed over domains; received, not applied: a promotion applies
        the relay log first), or None when it does not answer."""
        try:
            st = self.replica_state(name)
        except (pymysql.Error, TopologyError):
            return None
        return sum(gtid.seqs(st.get("Gtid_IO_Pos", "")).values())

    def promote(self, name: str) -> None:
        """Make replica ``name`` the primary: stop and forget its replication, read_only off,
        master semi-sync moved to it (and off at the old primary when that still answers),
        every other follower pointed at it, the client link pointed at it. Returns once it
        accepts writes; TopologyError otherwise."""
        if name == self._primary:
            raise TopologyError(f"{name} is already the primary")
        node = self.node(name)
        old = self._primary
        t0 = time.monotonic()
        relay_wait = self._apply_relay_log(name)
        with node.connect() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            cur.execute("SET GLOBAL read_only=OFF")
            cur.execute("SET GLOBAL rpl_semi_sync_master_enabled=OFF")
            cur.execute("SELECT @@gtid_binlog_pos")
            row = cur.fetchone()
        node.role = "primary"
        self.sources.pop(name, None)
        old_node = self.node(old)
        old_node.role = "replica"
        self.demoted.append(old)
        if old_node.running():
            with contextlib.suppress(pymysql.Error):
                old_node.query("SET GLOBAL rpl_semi_sync_master_enabled=OFF")
                old_node.query("SET GLOBAL read_only=ON")
        self._primary = name
        repointed = []
        for replica in [r for r in self.sources if r != name and r not in self.demoted]:
            if self.node(replica).running():
                self._follow(replica, name)
                repointed.append(replica)
        self._repoint_client(name)
        semi = [r for r in repointed if self.settings.semi_sync.get(r)]
        if semi:
            node.query("SET GLOBAL rpl_semi_sync_master_enabled=ON")
        wait_until(
            f"{name} did not accept writes after promotion",
            self.timeout_s,
            lambda: str(node.query("SELECT @@read_only")[0][0]) == "0",
            lambda: self.log_tail(name),
            retry_on=pymysql.Error,
        )
        self.promotions.append(
            {
                "node": name,
                "from": old,
                "gtid_binlog_pos": str(row[0]) if row else "",
                "repointed": repointed,
                "relay_log_applied_s": round(relay_wait, 3),
                "seconds": round(time.monotonic() - t0, 3),
            }
        )

    def _apply_relay_log(self, name: str) -> float:
        """Stop ``name``'s IO thread and wait until its SQL thread has applied everything it
        received (``@@gtid_slave_pos`` covers ``Gtid_IO_Pos``): an acknowledged semi-sync
        commit may be in the relay log only, and RESET SLAVE ALL deletes the relay log.
        Returns the seconds it took; TopologyError if the SQL thread stopped short."""
        node = self.node(name)
        t0 = time.monotonic()
        node.query("STOP SLAVE IO_THREAD")

        def applied() -> bool:
            st = self.replica_state(name)
            received = st.get("Gtid_IO_Pos", "")
            done = str(node.query("SELECT @@gtid_slave_pos")[0][0])
            if gtid.behind(received, done) == 0:
                return True
            if st.get("Slave_SQL_Running") != "Yes":
                raise TopologyError(
                    f"{name}: the SQL thread stopped before applying what it received "
                    f"({done} of {received}): {st.get('Last_SQL_Error', '')}"
                )
            return False

        wait_until(
            f"{name} did not apply its relay log",
            self.timeout_s,
            applied,
            lambda: self.log_tail(name),
            retry_on=pymysql.Error,
            interval_s=0.02,
        )
        return time.monotonic() - t0

    # -- reading -----------------------------------------------------------------------------

    def read_seqs(self, name: str | None = None) -> frozenset[int]:
        """Every sequence number in ``rpochaos.writes`` on ``name`` (default: the primary)."""
        rows = self.node(name or self._primary).query(f"SELECT seq FROM {TABLE}")
        return frozenset(int(str(r[0])) for r in rows)

    def version(self) -> str:
        return str(self.node(self._primary).query("SELECT VERSION()")[0][0])

    def durability(self) -> dict[str, object]:
        """The declared settings, the primary's values read back from the server, and what
        failover did (promotions, rejoins that failed)."""
        names = (
            "rpl_semi_sync_master_enabled",
            "rpl_semi_sync_master_timeout",
            "rpl_semi_sync_master_wait_point",
            "rpl_semi_sync_master_wait_no_slave",
            "sync_binlog",
            "innodb_flush_log_at_trx_commit",
        )
        server: dict[str, str] = {}
        with contextlib.suppress(pymysql.Error):
            row = self.node(self._primary).query("SELECT " + ", ".join(f"@@{n}" for n in names))
            server = {n: str(v) for n, v in zip(names, row[0], strict=True)}
        return {
            "declared": self.settings.describe(),
            "server": server,
            "promotions": list(self.promotions),
            "rejoins": [r.as_dict() for r in self.rejoins],
        }

    def log_tail(self, name: str | None = None, lines: int = 20) -> str:
        names = [name] if name else list(self.servers)
        return "\n".join(f"--- {n} ---\n{self.servers[n].log_tail(lines)}" for n in names)

    def processes(self) -> dict[str, int]:
        """Running servers by node name."""
        return {n: s.pid for n, s in self.servers.items() if s.pid is not None}

    # -- teardown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every server (resumed first), delete this cluster's proxies. Idempotent.
        TopologyError if a server still runs after 10 s."""
        for s in self.servers.values():
            s.resume()
            s.kill()
        for ln in list(self._links):
            with contextlib.suppress(ProxyError):
                self.proxy.delete_proxy(ln)
        self._links.clear()
        left = wait_gone(list(self.servers.values()))
        if left:
            raise TopologyError(f"mariadbd still running after close: pids {left}")
