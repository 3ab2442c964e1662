"""A scenario's Patroni-managed PostgreSQL on the docker backend, as the runner's ``Cluster``.

Containers (all of ``rpochaos/patroni:4.1.5``, or $RPOCHAOS_PATRONI_IMAGE, on the run's
network, labelled as every container of the run, so ``close``, a SIGINT and ``rpochaos gc``
remove them): one etcd member ``etcd`` (the DCS, its data on its own volume), and per
scenario node ``<node>`` a ``backends.docker_patroni.ServiceNode`` whose PID 1 is Patroni
(as ``postgres``; its configuration in the environment variable ``PATRONI_CONFIGURATION``),
managing the node's PostgreSQL on its volume (/var/lib/rpochaos/data). PostgreSQL (5432)
and the REST API (8008) are published on 127.0.0.1 for the harness; peers use the REST API
as ``<node>:8008``.

Links, each a proxy in the run's Toxiproxy container (``DockerBackend.link``), as on the
local backend:

- ``client-><node>``: the workload's connections (a client-link port published on
  127.0.0.1);
- ``repl-><node>``: ``toxiproxy:<port>`` forwarding to ``<node>:5432``, the node's
  ``postgresql.connect_address``, so every replica of this node replicates through it (the
  scenario link ``<replica>->primary``; one replica per cut link, as validation says);
- ``<node>->etcd``: the node's Patroni to etcd (``etcd3.hosts`` is the proxy,
  ``use_proxies: true``), the scenario link ``<node>->dcs``.

Node faults: ``crash`` = on a local engine, SIGSTOP then SIGKILL of every process of the
node's container from the host (below the host pid of its PID 1, as the local host crash
does: a SIGKILL of PID 1 alone let PostgreSQL acknowledge a commit 25 ms later, before the
kernel tore the PID namespace down), the outage declared right then, then ``docker kill``
(elsewhere: ``docker kill`` alone); the sandbox keeps the address, so peers see refused
connections; then with ``cut_links`` the node's client and replication proxies disabled;
``recover`` = proxies back, ``docker start`` of the same container (Patroni finds its data,
rejoins, pg_rewind when it led a diverged timeline and ``use_pg_rewind`` is on; the
``before_rejoin`` hook runs first, for the witness's copy of an old leader's volume), returning
once it is a running member; ``pause``/``resume`` = ``docker pause``/``unpause`` (Patroni
and PostgreSQL frozen together). Failover is Patroni's: ``primary_name`` is the member
holding the leader key now.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg

from rpochaos.backends.base import Endpoint, LinkAddress
from rpochaos.backends.docker import DATADIR, DockerBackend
from rpochaos.backends.docker_patroni import ServiceNode
from rpochaos.errors import ProxyError, TopologyError
from rpochaos.patroni.cluster import stop_and_kill
from rpochaos.patroni.config import (
    SUPERUSER,
    Credentials,
    NodeSpec,
    declared_settings,
    node_config,
    render,
)
from rpochaos.patroni.etcd import member_ready
from rpochaos.patroni.readings import (
    WAIT_S,
    Member,
    PatroniReadings,
    first_view,
    ready_view,
    writable,
)
from rpochaos.patroni.rest import ClusterView, PatroniApiError, PatroniRest
from rpochaos.patroni.topology import PRIMARY
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import Topology
from rpochaos.topology.postgres import DB_NAME, DB_USER, SCHEMA_SQL
from rpochaos.waiting import wait_until

PG_PORT = 5432
REST_PORT = 8008
ETCD_PORT = 2379
ETCD = "etcd"
#: the PostgreSQL binaries and the socket directory of the image (rpochaos/postgres:15)
BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SOCKET_DIR = Path("/var/run/postgresql")
PGPASS = Path("/tmp/pgpass")
T = TypeVar("T")


@dataclass
class DockerPatroniNode:
    """One node: its container, REST client and the proxies in front of it (replication,
    clients, and one to each etcd member)."""

    name: str
    server: ServiceNode
    rest: PatroniRest
    repl: LinkAddress
    client: LinkAddress
    dcs: tuple[LinkAddress, ...]
    etcd_proxies: tuple[str, ...]
    argv: list[str]
    env: dict[str, str]

    @property
    def proxy_name(self) -> str:
        return f"repl->{self.name}"

    @property
    def conninfo(self) -> str:
        """libpq conninfo to this node's PostgreSQL (its published port, no proxy)."""
        a = self.server.harness(PG_PORT)
        return f"host={a.host} port={a.port} dbname=postgres user={SUPERUSER} connect_timeout=2"

    def patroni_running(self) -> bool:
        return self.server.running()


class DockerPatroniNodeHandle:
    """One node as the runner acts on it (``roles.ClusterNode``)."""

    def __init__(self, topo: DockerPatroniTopology, name: str) -> None:
        self._topo = topo
        self.name = name

    def restart(self) -> None:
        self._topo.crash(self.name, cut_links=False)
        self._topo.recover(self.name)

    def pause(self) -> None:
        self._topo.node(self.name).server.pause()

    def resume(self) -> None:
        self._topo.node(self.name).server.resume()

    def running(self) -> bool:
        return self._topo.node(self.name).patroni_running()


class DockerPatroniTopology(PatroniReadings):
    """The ``Cluster`` of a ``manager: patroni`` scenario on the docker backend (see the
    module docstring). Constructing it resolves (and builds when missing) the image; nothing
    runs until ``start``."""

    def __init__(self, topology: Topology, backend: DockerBackend, proxy: Toxiproxy) -> None:
        from rpochaos.images import resolve_patroni_image

        assert topology.patroni is not None, "validated: manager patroni has its settings"
        self.topology = topology
        self.backend = backend
        self.proxy = proxy
        self.settings = declared_settings(topology.patroni)
        self.settings.check()
        self.image = resolve_patroni_image(client=backend.client)
        self.parameters: dict[str, str | int] = {
            "synchronous_commit": topology.synchronous_commit,
            **topology.settings,
        }
        self.credentials = Credentials(
            superuser=secrets.token_hex(8),
            replication=secrets.token_hex(8),
            rewind=secrets.token_hex(8),
        )
        self._names = list(topology.nodes)
        self._nodes: dict[str, DockerPatroniNode] = {}
        self._handles = {n: DockerPatroniNodeHandle(self, n) for n in self._names}
        assert topology.patroni is not None
        n = topology.patroni.etcd_members
        self._etcd_names = [ETCD] if n == 1 else [f"{ETCD}{i + 1}" for i in range(n)]
        self._etcd: list[ServiceNode] = []
        self._http = httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False)
        self._created: list[str] = []
        self._last_leader = PRIMARY

    # -- the Cluster role --------------------------------------------------------------------

    @property
    def nodes(self) -> Mapping[str, DockerPatroniNodeHandle]:
        return self._handles

    @property
    def link_ports(self) -> Mapping[str, int]:
        if PRIMARY not in self._nodes:
            return {}
        out = {f"{r.name}->{PRIMARY}": self._nodes[PRIMARY].repl.listen_port
               for r in self.topology.replicas}  # fmt: skip
        out.update({f"client->{n}": node.client.listen_port for n, node in self._nodes.items()})
        out.update({f"{n}->dcs": node.dcs[0].listen_port for n, node in self._nodes.items()})
        return out

    @property
    def primary_name(self) -> str:
        with contextlib.suppress(PatroniApiError, TopologyError):
            lead = self.view().leader
            if lead is not None:
                self._last_leader = lead.name
        return self._last_leader

    def node(self, name: str) -> DockerPatroniNode:
        try:
            return self._nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r}; nodes: {', '.join(self._nodes)}") from None

    def start(self) -> None:
        """etcd, then every node's proxies and container (``primary`` alone until it leads
        a writable primary), then the workload's role and table; returns once every replica
        streams. TopologyError with the containers' log tails otherwise."""
        self._start_etcd()
        for name in self._names:
            self._make_node(name)
        self.node(PRIMARY).server.start(self.node(PRIMARY).argv, self.node(PRIMARY).env)
        lead = self.wait_primary()
        if lead != PRIMARY:
            raise TopologyError(f"{lead} took the leader key, not {PRIMARY}")
        for name in self._names:
            if name != PRIMARY:
                n = self.node(name)
                n.server.start(n.argv, n.env)
        with psycopg.connect(self.node(PRIMARY).conninfo, autocommit=True) as c:
            c.execute(f"CREATE ROLE {DB_USER} LOGIN SUPERUSER")
            c.execute(f"GRANT ALL ON DATABASE {DB_NAME} TO {DB_USER}")
            c.execute(SCHEMA_SQL)
        self.wait_ready()

    def _proxy(self, link: str, dst: ServiceNode, port: int, *, harness: bool) -> LinkAddress:
        addr = self.backend.link(link, dst, harness=harness, port=port)
        self.proxy.create_proxy(link, addr.listen, addr.upstream)
        self._created.append(link)
        return addr

    def _start_etcd(self) -> None:
        """Every etcd member's container (``etcd``, or ``etcd1``..``etcd3``: peers reach each
        other by container name), then wait until each says it is healthy."""
        initial = ",".join(f"{m}=http://{m}:2380" for m in self._etcd_names)
        for name in self._etcd_names:
            etcd = ServiceNode(self.backend, name, image=self.image, ports=(ETCD_PORT,))
            self.backend.adopt(etcd)
            self._etcd.append(etcd)
            etcd.prepare()
            etcd.start(
                [
                    "etcd",
                    "--name", name,
                    "--data-dir", DATADIR,
                    "--listen-client-urls", f"http://0.0.0.0:{ETCD_PORT}",
                    "--advertise-client-urls", f"http://{name}:{ETCD_PORT}",
                    "--listen-peer-urls", "http://0.0.0.0:2380",
                    "--initial-advertise-peer-urls", f"http://{name}:2380",
                    "--initial-cluster", initial,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", "rpochaos",
                    "--logger", "zap",
                    "--log-level", "warn",
                ]
            )  # fmt: skip

        def healthy() -> bool:
            for etcd in self._etcd:
                if not etcd.running():
                    raise TopologyError(f"{etcd.name} exited\n{etcd.log_tail()}")
                if not member_ready(self._http, f"http://{etcd.harness(ETCD_PORT)}"):
                    return False
            return True

        def tails() -> str:
            return "\n".join(f"--- {e.name} ---\n{e.log_tail()}" for e in self._etcd)

        wait_until("etcd did not become healthy", 30.0, healthy, tails)
        time.sleep(0.5)  # a cluster just formed may still change leader: ready twice
        wait_until("etcd did not stay healthy", 30.0, healthy, tails)

    def _make_node(self, name: str) -> None:
        assert self._etcd, "etcd starts first"
        server = ServiceNode(self.backend, name, image=self.image, ports=(PG_PORT, REST_PORT))
        self.backend.adopt(server)
        server.prepare()
        repl = self._proxy(f"repl->{name}", server, PG_PORT, harness=False)
        client = self._proxy(f"client->{name}", server, PG_PORT, harness=True)
        links = tuple(f"{name}->{e.name}" for e in self._etcd)
        dcs = tuple(
            self._proxy(link, e, ETCD_PORT, harness=False)
            for link, e in zip(links, self._etcd, strict=True)
        )
        spec = NodeSpec(
            name=name,
            pg_listen=f"0.0.0.0:{PG_PORT}",
            pg_connect=str(repl.peer),
            rest_listen=f"0.0.0.0:{REST_PORT}",
            rest_connect=f"{name}:{REST_PORT}",
            data_dir=Path(DATADIR),
            socket_dir=SOCKET_DIR,
            pgpass=PGPASS,
            etcd_hosts=tuple(str(d.peer) for d in dcs),
            etcd_proxied=True,
            hba_hosts=("samenet",),
        )
        config = node_config(
            scope="rpochaos",
            node=spec,
            settings=self.settings,
            bin_dir=BIN_DIR,
            credentials=self.credentials,
            parameters={"cluster_name": name, **self.parameters},
        )
        self._nodes[name] = DockerPatroniNode(
            name=name,
            server=server,
            rest=PatroniRest(f"http://{server.harness(REST_PORT)}"),
            repl=repl,
            client=client,
            dcs=dcs,
            etcd_proxies=links,
            argv=["patroni"],
            env={"PATRONI_CONFIGURATION": render(config), "HOME": "/tmp"},
        )

    def close(self) -> None:
        """Kill every container this topology started and delete its proxies (the backend
        removes the containers and volumes at its own ``close``). Idempotent."""
        for node in self._nodes.values():
            with contextlib.suppress(Exception):
                node.server.kill()
            node.rest.close()
        for etcd in self._etcd:
            with contextlib.suppress(Exception):
                etcd.kill()
        for link in self._created:
            with contextlib.suppress(ProxyError):
                self.proxy.delete_proxy(link)
        self._created.clear()
        self._http.close()

    def proxies_of(self, name: str) -> list[str]:
        """The proxies a host crash of ``name`` cuts: its clients' and its replication."""
        return [f"client->{name}", self.node(name).proxy_name]

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None:
        server = self.node(name).server
        pid = server.host_pid()
        if pid is not None:
            stop_and_kill([pid])  # every process of the container, at once
        if on_down is not None and pid is not None:
            on_down()
        server.kill()  # docker kill (only a wait, after the above), the engine sees the exit
        if on_down is not None and pid is None:
            on_down()
        if cut_links:
            self.proxy.set_all_enabled(self.proxies_of(name), False)

    #: called with the node's name while it is down, before its container starts again (and
    #: Patroni may pg_rewind its disk): the witness copies an old leader's disk there
    before_rejoin: Callable[[str], None] | None = None

    def recover(self, name: str) -> None:
        self.proxy.set_all_enabled(self.proxies_of(name), True)
        node = self.node(name)
        if not node.patroni_running():
            if self.before_rejoin is not None:
                self.before_rejoin(name)
            node.server.start(node.argv, node.env)

        def member_up() -> bool:
            m = self.view().member(name)
            return m is not None and m.state in ("running", "streaming")

        wait_until(
            f"{name} did not rejoin the Patroni cluster",
            WAIT_S,
            member_up,
            self.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.2,
        )

    def member(self, name: str) -> Member:
        return self.node(name)

    def view(self) -> ClusterView:
        """``GET /cluster`` from the first node whose container runs and answers."""
        return first_view(self._nodes.values(), self._last_leader)

    def ready(self) -> ClusterView | None:
        return ready_view(self.view(), self._names)

    def wait_ready(self, timeout_s: float = WAIT_S) -> ClusterView:
        return wait_until(
            "Patroni cluster had no running leader with every replica streaming",
            timeout_s,
            self._checked(self.ready),
            self.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.2,
        )

    def writable(self, name: str) -> bool:
        """The node's PostgreSQL answers and is out of recovery."""
        return writable(self.node(name).conninfo)

    def wait_primary(self, *, timeout_s: float = WAIT_S) -> str:
        """Wait until some node holds the leader key and its PostgreSQL is writable."""

        def probe() -> str | None:
            lead = self.view().leader
            if lead is None or lead.name not in self._nodes:
                return None
            node = self._nodes[lead.name]
            return lead.name if node.patroni_running() and self.writable(lead.name) else None

        return wait_until(
            "no Patroni leader ran a writable primary",
            timeout_s,
            self._checked(probe),
            self.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.1,
        )

    def _checked(self, probe: Callable[[], T]) -> Callable[[], T]:
        def checked() -> T:
            if self._nodes and not any(n.patroni_running() for n in self._nodes.values()):
                raise TopologyError(f"every Patroni container has exited\n{self.log_tail()}")
            return probe()

        return checked

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(
            f"--- {n.name} ---\n{n.server.log_tail(lines)}" for n in self._nodes.values()
        )

    # -- for the system ----------------------------------------------------------------------

    def client_endpoints(self) -> list[Endpoint]:
        """Each node through its ``client-><node>`` proxy, primary first."""
        out = []
        for name in self._names:
            h = self.node(name).client.harness
            assert h is not None, "client links are published"
            out.append(Endpoint(h.host, h.port, name))
        return out

    def link_proxies(self, link: str) -> list[str]:
        if link.startswith("client->"):
            return [link]
        if link.endswith("->dcs"):
            return list(self.node(link.split("->", 1)[0]).etcd_proxies)
        _, source = link.split("->", 1)
        return [self.node(source).proxy_name]

    def logs(self) -> dict[str, Path]:
        """Each started node's container output so far, written to
        ``<run dir>/logs/<node>.patroni.txt`` (for the refused-failover reasons)."""
        out: dict[str, Path] = {}
        for name, node in self._nodes.items():
            if node.server.container is None:
                continue
            path = self.backend.logs / f"{name}.patroni.txt"
            with contextlib.suppress(OSError):
                path.write_text(node.server.log_tail(100000))
                out[name] = path
        return out
