"""A scenario's PostgreSQL topology managed by Patroni, as the runner's ``Cluster`` role.

``PatroniTopology(topology, backend, proxy)`` builds, on ``start``: one etcd member (the DCS),
a ``PatroniCluster`` whose nodes are named as in the scenario (``primary`` started alone
first so that it is the initial leader, then the replicas), one client proxy
``client-><node>`` per node forwarding to its PostgreSQL port, and the workload's role and
table (created on the leader, replicated by PostgreSQL).

Links, as the scenario names them, and the Toxiproxy proxy each means:

- ``client-><node>``: the workload's connections to that node (``client-><node>``);
- ``<replica>->primary``: replication from ``primary`` (the proxy ``repl->primary``, the
  primary's ``connect_address``). It carries *every* replica's stream from that node, which is
  why validation allows replication-link faults only with one replica.
- ``<node>->dcs``: the node's Patroni to etcd (the proxies ``<node>->etcd1``...; Patroni
  runs with ``use_proxies: true`` so it never reaches etcd around them).

Node faults: ``crash`` is a host crash (Patroni and the postmaster tree SIGKILLed at once,
then, with ``cut_links``, the node's client and replication proxies disabled); ``recover``
re-enables them and starts Patroni again, returning once the node is a running member again.
``pause`` freezes Patroni and PostgreSQL together (a frozen host); ``resume`` thaws both.
Process faults (the ``roles.PatroniProcesses`` power, delegated to the ``PatroniCluster``):
``crash_postmaster`` (the postmaster tree alone: Patroni restarts it in place),
``pause_patroni``/``resume_patroni`` (Patroni alone: PostgreSQL keeps serving while nobody
renews the leader key).
Failover is Patroni's: ``primary_name`` is the member holding the leader key now.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

import psycopg

from rpochaos import procs
from rpochaos.backends.base import Backend, Endpoint
from rpochaos.backends.local import LocalBackend
from rpochaos.errors import ProxyError, TopologyError
from rpochaos.patroni.cluster import HOST, PatroniCluster
from rpochaos.patroni.config import declared_settings
from rpochaos.patroni.etcd import Etcd
from rpochaos.patroni.readings import WAIT_S, Member, PatroniReadings
from rpochaos.patroni.rest import ClusterView, PatroniApiError
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import Topology
from rpochaos.topology.postgres import (
    DB_NAME,
    DB_USER,
    SCHEMA_SQL,
)
from rpochaos.waiting import wait_until

PRIMARY = "primary"


class PatroniNodeHandle:
    """One node as the runner acts on it (``roles.ClusterNode``): ``pause`` freezes its
    Patroni and PostgreSQL processes, ``resume`` thaws them, ``restart`` is a host crash
    followed by a restart on the same data."""

    def __init__(self, topo: PatroniTopology, name: str) -> None:
        self._topo = topo
        self.name = name
        self._stopped: list[int] = []

    def restart(self) -> None:
        self._topo.crash(self.name, cut_links=False)
        self._topo.recover(self.name)

    def pause(self) -> None:
        pids = self._topo.cluster.node(self.name).processes()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self._stopped.append(pid)
        procs.wait_stopped(pids)

    def resume(self) -> None:
        while self._stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._stopped.pop(), signal.SIGCONT)

    def running(self) -> bool:
        return self._topo.cluster.node(self.name).patroni_running()


class PatroniTopology(PatroniReadings):
    """The ``Cluster`` of a ``manager: patroni`` scenario on the local backend."""

    def __init__(self, topology: Topology, backend: Backend, proxy: Toxiproxy) -> None:
        if not isinstance(backend, LocalBackend):
            raise TopologyError("PatroniTopology is for the local backend; docker has its own")
        assert topology.patroni is not None, "validated: manager patroni has its settings"
        self.topology = topology
        self.backend = backend
        self.proxy = proxy
        self.settings = declared_settings(topology.patroni)
        self.dcs = Etcd(
            backend, backend.data_root() / "etcd", members=topology.patroni.etcd_members
        )
        parameters: dict[str, str | int] = {
            "synchronous_commit": topology.synchronous_commit,
            **topology.settings,
        }
        self.cluster = PatroniCluster(
            backend,
            proxy,
            self.dcs,
            self.settings,
            nodes=list(topology.nodes),
            parameters=parameters,
            timeout_s=WAIT_S,
            dcs_via_proxy=True,
        )
        self._nodes = {n: PatroniNodeHandle(self, n) for n in topology.nodes}
        self._client_ports = {n: backend.free_port() for n in topology.nodes}
        self._last_leader = PRIMARY
        self._created: list[str] = []

    # -- the Cluster role --------------------------------------------------------------------

    @property
    def nodes(self) -> Mapping[str, PatroniNodeHandle]:
        return self._nodes

    @property
    def link_ports(self) -> Mapping[str, int]:
        out = {f"{r.name}->{PRIMARY}": self.cluster.node(PRIMARY).proxy_port
               for r in self.topology.replicas}  # fmt: skip
        out.update({f"client->{n}": p for n, p in self._client_ports.items()})
        for name, node in self.cluster.nodes.items():
            if node.etcd_proxies:
                out[f"{name}->dcs"] = self.proxy_port(node.etcd_proxies[0])
        return out

    def proxy_port(self, proxy: str) -> int:
        """The port a proxy this topology created listens on."""
        return self.cluster.proxy_ports[proxy]

    @property
    def primary_name(self) -> str:
        """The member holding the leader key now (the last one seen when nobody answers or
        nobody leads)."""
        with contextlib.suppress(PatroniApiError, TopologyError):
            lead = self.cluster.leader()
            if lead is not None:
                self._last_leader = lead
        return self._last_leader

    def start(self) -> None:
        self.dcs.start()
        self.cluster.start(first=PRIMARY)
        for name, port in self._client_ports.items():
            node = self.cluster.node(name)
            link = f"client->{name}"
            self.proxy.create_proxy(link, f"{HOST}:{port}", f"{HOST}:{node.pg_port}")
            self._created.append(link)
        with psycopg.connect(self.cluster.node(PRIMARY).conninfo, autocommit=True) as c:
            c.execute(f"CREATE ROLE {DB_USER} LOGIN SUPERUSER")
            c.execute(f"GRANT ALL ON DATABASE {DB_NAME} TO {DB_USER}")
            c.execute(SCHEMA_SQL)
        self.cluster.wait_ready()

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            for link in self._created:
                with contextlib.suppress(ProxyError):
                    self.proxy.delete_proxy(link)
            self._created.clear()
            self.dcs.close()

    def proxies_of(self, name: str) -> list[str]:
        """The proxies a host crash of ``name`` cuts: its clients' and its replication."""
        return [f"client->{name}", self.cluster.node(name).proxy_name]

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None:
        self.cluster.crash_host(name, on_down)
        if cut_links:
            self.proxy.set_all_enabled(self.proxies_of(name), False)

    #: called with the node's name while it is down, before its Patroni starts again (and
    #: may pg_rewind its disk): the witness copies an old leader's disk there
    before_rejoin: Callable[[str], None] | None = None

    def recover(self, name: str) -> None:
        self.proxy.set_all_enabled(self.proxies_of(name), True)
        node = self.cluster.node(name)
        if not node.patroni_running():
            if self.before_rejoin is not None:
                self.before_rejoin(name)
            self.cluster.start_node(name)

        def member_up() -> bool:
            m = self.cluster.view().member(name)
            return m is not None and m.state in ("running", "streaming")

        wait_until(
            f"{name} did not rejoin the Patroni cluster",
            WAIT_S,
            member_up,
            self.cluster.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.2,
        )

    # -- the PatroniProcesses power ---------------------------------------------------------

    def crash_postmaster(self, name: str) -> None:
        """SIGKILL of ``name``'s postmaster tree alone; its Patroni restarts it in place."""
        self.cluster.crash_postmaster(name)

    def pause_patroni(self, name: str) -> None:
        """SIGSTOP of ``name``'s Patroni alone; its PostgreSQL keeps serving clients."""
        self.cluster.pause_patroni(name)

    def resume_patroni(self, name: str) -> None:
        self.cluster.resume_patroni(name)

    def member(self, name: str) -> Member:
        return self.cluster.node(name)

    def wait_primary(self, *, timeout_s: float = WAIT_S) -> str:
        return self.cluster.wait_primary(timeout_s=timeout_s)

    def view(self) -> ClusterView:
        """``GET /cluster`` from the first node that answers (PatroniApiError if none)."""
        return self.cluster.view()

    # -- for the system ----------------------------------------------------------------------

    def client_endpoints(self) -> list[Endpoint]:
        """Each node through its ``client-><node>`` proxy, primary first."""
        return [Endpoint(HOST, p, n) for n, p in self._client_ports.items()]

    def link_proxies(self, link: str) -> list[str]:
        """The Toxiproxy proxies a scenario link names."""
        if link.startswith("client->"):
            return [link]
        if link.endswith("->dcs"):
            return list(self.cluster.node(link.split("->", 1)[0]).etcd_proxies)
        _, source = link.split("->", 1)
        return [self.cluster.node(source).proxy_name]

    def logs(self) -> dict[str, Path]:
        """Each node's Patroni log file (nodes started so far)."""
        return {
            n: node.server.log_path
            for n, node in self.cluster.nodes.items()
            if node.server is not None
        }
