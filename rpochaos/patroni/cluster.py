"""N Patroni nodes as local processes, replication through Toxiproxy.

Per node ``<name>``, under ``<data root>/<name>`` (owned by the database user):
``patroni.yml``, ``pgdata`` (PostgreSQL's data directory, made by Patroni: initdb on the
node that wins the initial leader race, pg_basebackup on the others), ``sock`` (the Unix
socket directory) and ``pgpass``. Ports, all on 127.0.0.1: the PostgreSQL port, the REST API
port, and the listen port of the Toxiproxy proxy ``repl->{name}`` that forwards to the
PostgreSQL port. That proxy's address is the node's ``postgresql.connect_address``, so every
replica of this node replicates through it (Patroni builds ``primary_conninfo`` from the
leader's connect_address). With ``dcs_via_proxy`` each node also reaches every etcd member
through its own proxy ``{name}->{member}`` (and ``use_proxies: true``), so a node can be cut
off from the DCS alone.

Processes: Patroni runs as the database user through ``LocalBackend.spawn`` (own session,
listed in pids.json, PR_SET_PDEATHSIG). Patroni starts the postmaster *detached* (a
``setsid`` launcher process that exits), so the postmaster is neither Patroni's descendant
nor covered by PR_SET_PDEATHSIG: this module finds it by its command line
(``postgres -D <data dir>``). ``close`` kills both; a harness killed with SIGKILL leaves the
postmasters running (Patroni itself dies with it).

Faults: ``crash_host`` (SIGKILL of Patroni and the postmaster tree, frozen first so neither
sees the other go), ``crash_postmaster`` (the postmaster tree alone: Patroni restarts it in
place), ``pause_patroni``/``resume_patroni`` (SIGSTOP/SIGCONT of Patroni alone; PostgreSQL
keeps serving), ``start_node`` (bring a crashed node back with its data).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, TypeVar

from rpochaos import deps as rp_deps
from rpochaos import procs
from rpochaos.backends.local import LocalBackend, LocalServer
from rpochaos.closing import Started
from rpochaos.errors import ProxyError, TopologyError
from rpochaos.patroni import deps
from rpochaos.patroni.config import (
    SUPERUSER,
    Credentials,
    NodeSpec,
    PatroniSettings,
    node_config,
    render,
)
from rpochaos.patroni.etcd import Etcd
from rpochaos.patroni.readings import first_view, ready_view, writable
from rpochaos.patroni.rest import ClusterView, PatroniApiError, PatroniRest
from rpochaos.proxy import Toxiproxy
from rpochaos.waiting import wait_until

HOST = "127.0.0.1"
T = TypeVar("T")


@dataclass
class PatroniNode:
    """One node: its ports, files, proxies and (once started) its Patroni process."""

    name: str
    home: Path
    pg_port: int
    proxy_port: int
    rest_port: int
    rest: PatroniRest
    etcd_proxies: tuple[str, ...] = ()
    server: LocalServer | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def config_path(self) -> Path:
        return self.home / "patroni.yml"

    @property
    def proxy_name(self) -> str:
        """The Toxiproxy proxy every replica of this node replicates through."""
        return f"repl->{self.name}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    @property
    def conninfo(self) -> str:
        """libpq conninfo straight to this node's PostgreSQL (not through a proxy)."""
        return f"host={HOST} port={self.pg_port} dbname=postgres user={SUPERUSER} connect_timeout=2"

    def patroni_running(self) -> bool:
        return self.server is not None and self.server.running()

    def postmasters(self) -> list[int]:
        """PIDs of live processes running ``postgres -D <this node's data dir>``."""
        return _postmasters(str(self.data_dir))

    def processes(self) -> list[int]:
        """Every live process of this node: Patroni, its descendants, the postmaster and
        its descendants."""
        pids: list[int] = []
        if self.server is not None and self.server.running():
            pids.extend(procs.descendants(self.server.pid))
        for pm in self.postmasters():
            pids.extend(procs.descendants(pm))
        return [p for p in dict.fromkeys(pids) if procs.alive(p)]

    def log_tail(self, lines: int = 25) -> str:
        return self.server.log_tail(lines) if self.server is not None else "(not started)"


def _postmasters(data_dir: str) -> list[int]:
    """PIDs of live postmasters (``postgres -D DIR``) running on exactly ``data_dir``."""
    return procs.postmasters_where(lambda d: d == data_dir)


def _pid_file(path: Path) -> int | None:
    """The pid on the first line of a PostgreSQL ``postmaster.pid`` if it is alive."""
    try:
        pid = int(path.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if procs.alive(pid) else None


def _children(pid: int) -> list[int] | None:
    """``pid``'s children from /proc/<pid>/task/*/children (no scan of /proc); None where
    the kernel does not offer that file."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    out: list[int] = []
    for task in tasks:
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except FileNotFoundError:
            return None
        except OSError:
            continue
    return out


def _trees(roots: Sequence[int]) -> list[int]:
    """Every process at or below ``roots`` (parents first): walked down the kernel's
    children lists, which is fast enough for a host crash that must not let a backend
    acknowledge a write meanwhile; one pass over /proc where those lists are missing."""
    out: list[int] = []
    todo = list(roots)
    while todo:
        p = todo.pop(0)
        if p in out:
            continue
        kids = _children(p)
        if kids is None:
            return procs.trees(roots)
        out.append(p)
        todo.extend(kids)
    return out


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_and_kill(roots: Sequence[int]) -> None:
    """A host crash of the processes at or below ``roots``: SIGSTOP the roots, then every
    process below them (walked down the kernel's children lists: fast), list them again
    (nobody forks while stopped) and SIGKILL them all, children first."""
    _signal_all(roots, signal.SIGSTOP)
    tree = _trees(roots)
    _signal_all(tree, signal.SIGSTOP)
    tree = list(dict.fromkeys([*tree, *_trees(roots)]))
    _signal_all(list(reversed(tree)), signal.SIGKILL)


def _kill_frozen(roots: Sequence[int]) -> None:
    """SIGKILL every process below ``roots`` at once: freeze the trees, list them again
    (nobody can fork while frozen), kill children before parents."""
    first = [p for r in roots for p in procs.descendants(r)]
    _signal_all(first, signal.SIGSTOP)
    pids = list(dict.fromkeys([*first, *(p for r in roots for p in procs.descendants(r))]))
    _signal_all(list(reversed(pids)), signal.SIGKILL)


class PatroniCluster(Started):
    """A Patroni cluster of ``nodes`` (names, or a count: n1..nN) on a local backend.

    The caller owns ``backend``, ``proxy`` (a Toxiproxy client of a running server) and
    ``dcs`` (a started Etcd); ``close`` stops this cluster's processes and deletes its
    proxies, not those. ``start`` returns once ``wait_ready`` holds."""

    def __init__(
        self,
        backend: LocalBackend,
        proxy: Toxiproxy,
        dcs: Etcd,
        settings: PatroniSettings,
        *,
        nodes: int | Sequence[str] = 2,
        scope: str = "rpochaos",
        dcs_via_proxy: bool = False,
        parameters: Mapping[str, str | int] | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        settings.check()
        names = [f"n{i + 1}" for i in range(nodes)] if isinstance(nodes, int) else list(nodes)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"nodes must be distinct names (at least one), got {names!r}")
        self.backend = backend
        self.proxy = proxy
        self.dcs = dcs
        self.settings = settings
        self.scope = scope
        self.dcs_via_proxy = dcs_via_proxy
        self.parameters = dict(parameters or {})
        self.timeout_s = timeout_s
        self.credentials = Credentials(
            superuser=secrets.token_hex(8),
            replication=secrets.token_hex(8),
            rewind=secrets.token_hex(8),
        )
        self._proxies: list[str] = []
        #: every proxy this cluster created -> the port it listens on
        self.proxy_ports: dict[str, int] = {}
        self.nodes: dict[str, PatroniNode] = {}
        for name in names:
            rest_port = backend.free_port()
            self.nodes[name] = PatroniNode(
                name=name,
                home=backend.data_root() / name,
                pg_port=backend.free_port(),
                proxy_port=backend.free_port(),
                rest_port=rest_port,
                rest=PatroniRest(f"http://{HOST}:{rest_port}"),
            )

    # -- bring-up ----------------------------------------------------------------------------

    def start(self, first: str | None = None) -> Self:
        """Create the proxies, write every node's configuration, start every Patroni at
        once (or ``first`` alone until it leads a writable primary, so that it is the
        initial leader, then the others), and wait until ``wait_ready``. TopologyError with
        the nodes' log tails if the cluster is not ready within ``timeout_s``."""
        bin_dir = rp_deps.pg_bindir()
        patroni = str(deps.patroni())
        for node in self.nodes.values():
            self._create_proxy(node.proxy_name, node.proxy_port, node.pg_port)
            hosts = self.dcs.hosts
            if self.dcs_via_proxy:
                names, hosts_via = [], []
                for m in self.dcs.members:
                    pname = f"{node.name}->{m.name}"
                    port = self.backend.free_port()
                    self._create_proxy(pname, port, m.client_port)
                    names.append(pname)
                    hosts_via.append(f"{HOST}:{port}")
                node.etcd_proxies, hosts = tuple(names), tuple(hosts_via)
            self._write_config(node, bin_dir, hosts)
        if first is not None:
            self._spawn(self.node(first), patroni)
            lead = self.wait_primary()
            if lead != first:
                raise TopologyError(f"{lead} took the leader key, not {first}")
        for node in self.nodes.values():
            if node.name != first:
                self._spawn(node, patroni)
        self.wait_ready()
        return self

    def _create_proxy(self, name: str, port: int, upstream_port: int) -> None:
        self.proxy.create_proxy(name, f"{HOST}:{port}", f"{HOST}:{upstream_port}")
        self._proxies.append(name)
        self.proxy_ports[name] = port

    def _write_config(self, node: PatroniNode, bin_dir: Path, etcd_hosts: tuple[str, ...]) -> None:
        self.backend.prepare_dir(node.home)
        sock = self.backend.prepare_dir(node.home / "sock")
        spec = NodeSpec(
            name=node.name,
            pg_listen=f"{HOST}:{node.pg_port}",
            pg_connect=f"{HOST}:{node.proxy_port}",
            rest_listen=f"{HOST}:{node.rest_port}",
            rest_connect=f"{HOST}:{node.rest_port}",
            data_dir=node.data_dir,
            socket_dir=sock,
            pgpass=node.home / "pgpass",
            etcd_hosts=etcd_hosts,
            etcd_proxied=self.dcs_via_proxy,
        )
        text = render(
            node_config(
                scope=self.scope,
                node=spec,
                settings=self.settings,
                bin_dir=bin_dir,
                credentials=self.credentials,
                parameters={"cluster_name": node.name, **self.parameters},
            )
        )
        node.config_path.write_text(text)
        os.chmod(node.config_path, 0o600)  # it holds the passwords
        if self.backend.user is not None:
            os.chown(node.config_path, self.backend.user.pw_uid, self.backend.user.pw_gid)

    def _spawn(self, node: PatroniNode, patroni: str) -> None:
        node.server = self.backend.spawn(
            f"patroni-{node.name}", [patroni, str(node.config_path)], as_db_user=True
        )

    def start_node(self, name: str) -> None:
        """Start a node's Patroni again (after ``crash_host``); it finds its data and
        rejoins (pg_rewind when it led a diverged timeline and use_pg_rewind is on)."""
        node = self.node(name)
        if node.patroni_running():
            raise TopologyError(f"{name}: Patroni is already running")
        self._spawn(node, str(deps.patroni()))

    # -- observing ---------------------------------------------------------------------------

    def node(self, name: str) -> PatroniNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r}; nodes: {', '.join(self.nodes)}") from None

    def view(self, prefer: str | None = None) -> ClusterView:
        """``GET /cluster`` from the first node whose Patroni runs and answers (``prefer``
        first). PatroniApiError if none answers."""
        return first_view(self.nodes.values(), prefer)

    def leader(self) -> str | None:
        """The member holding the leader key, as the DCS says (None: no leader now)."""
        lead = self.view().leader
        return lead.name if lead is not None else None

    def ready(self) -> ClusterView | None:
        """The view when every node is a member, the leader runs and every other member
        streams; else None."""
        return ready_view(self.view(), self.nodes)

    def wait_ready(self, timeout_s: float | None = None) -> ClusterView:
        """Wait until ``ready``. TopologyError with every node's log tail otherwise."""
        return wait_until(
            f"Patroni cluster {self.scope!r} had no running leader with every replica streaming",
            self.timeout_s if timeout_s is None else timeout_s,
            self._probe(self.ready),
            self.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.2,
        )

    def writable(self, name: str) -> bool:
        """The node's PostgreSQL answers and is out of recovery (``pg_is_in_recovery()`` is
        false; ``readings.writable``)."""
        return writable(self.node(name).conninfo)

    def wait_primary(self, *, other_than: str | None = None, timeout_s: float | None = None) -> str:
        """Wait until some node other than ``other_than`` holds the leader key and its
        PostgreSQL is writable (``writable``); return its name."""

        def probe() -> str | None:
            lead = self.view().leader
            if lead is None or lead.name == other_than or lead.name not in self.nodes:
                return None
            ok = self.nodes[lead.name].patroni_running() and self.writable(lead.name)
            return lead.name if ok else None

        return wait_until(
            "no new Patroni leader ran a writable primary",
            self.timeout_s if timeout_s is None else timeout_s,
            self._probe(probe),
            self.log_tail,
            retry_on=PatroniApiError,
            interval_s=0.1,
        )

    def _probe(self, probe: Callable[[], T]) -> Callable[[], T]:
        """``probe``, failing at once when every Patroni process has exited."""

        def checked() -> T:
            if not any(n.patroni_running() for n in self.nodes.values()):
                raise TopologyError(f"every Patroni process has exited\n{self.log_tail()}")
            return probe()

        return checked

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(f"--- {n.name} ---\n{n.log_tail(lines)}" for n in self.nodes.values())

    def apply_settings(self, settings: PatroniSettings) -> None:
        """Make ``settings`` the cluster's dynamic configuration (PATCH /config through the
        first running node; every setting here is dynamic in Patroni). Nodes act on it from
        their next HA loop (within ``loop_wait``)."""
        settings.check()
        errors: list[str] = []
        for node in self.nodes.values():
            if not node.patroni_running():
                continue
            try:
                node.rest.patch_config(settings.dcs())
            except PatroniApiError as e:
                errors.append(str(e))
                continue
            self.settings = settings
            return
        raise PatroniApiError("no Patroni node took the new settings: " + "; ".join(errors))

    # -- faults ------------------------------------------------------------------------------

    def crash_host(self, name: str, on_down: Callable[[], None] | None = None) -> None:
        """A host crash: SIGKILL of the node's Patroni and its postmaster tree at once.

        Fast on purpose (the moment it returns is when the outage took effect): Patroni and
        the postmaster (its pid from ``postmaster.pid``) are frozen first, then the frozen
        trees are listed from one pass over /proc and killed, children first; ``on_down``
        is called right after the SIGKILLs, before reaping."""
        node = self.node(name)
        roots: list[int] = []
        if node.server is not None and node.server.running():
            roots.append(node.server.pid)
        pm = _pid_file(node.data_dir / "postmaster.pid")
        roots.extend([pm] if pm is not None else node.postmasters())
        _signal_all(roots, signal.SIGSTOP)
        tree = _trees(roots)
        _signal_all(tree, signal.SIGSTOP)
        tree = list(dict.fromkeys([*tree, *_trees(roots)]))
        _signal_all(list(reversed(tree)), signal.SIGKILL)
        if on_down is not None:
            on_down()
        for pid in node.postmasters():  # one that was not in postmaster.pid (a restart)
            _kill_frozen([pid])
        if node.server is not None:
            node.server.kill()  # reaps it

    def crash_postmaster(self, name: str) -> None:
        """SIGKILL of the node's postmaster tree alone (Patroni keeps running)."""
        node = self.node(name)
        pms = node.postmasters()
        if not pms:
            raise TopologyError(f"{name}: no postmaster is running\n{node.log_tail()}")
        _kill_frozen(pms)

    def pause_patroni(self, name: str) -> None:
        """SIGSTOP the node's Patroni (not PostgreSQL): it stops renewing the leader key."""
        server = self.node(name).server
        if server is not None:
            server.pause()

    def resume_patroni(self, name: str) -> None:
        server = self.node(name).server
        if server is not None:
            server.resume()

    def processes(self) -> dict[str, list[int]]:
        """Live processes of each node (Patroni, postmaster, and their descendants)."""
        return {name: node.processes() for name, node in self.nodes.items()}

    # -- teardown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every node's Patroni and PostgreSQL (Patroni first, so it cannot restart
        PostgreSQL), wait until they are gone, and delete this cluster's proxies. Safe to
        call more than once. TopologyError if a process is still alive after 10 s."""
        for node in self.nodes.values():
            if node.server is not None:
                node.server.resume()
                node.server.kill()
        for node in self.nodes.values():
            pms = node.postmasters()
            if pms:
                _kill_frozen(pms)
            node.rest.close()
        for name in self._proxies:
            with contextlib.suppress(ProxyError):
                self.proxy.delete_proxy(name)
        self._proxies.clear()
        deadline = time.monotonic() + 10.0
        while (left := {k: v for k, v in self.processes().items() if v}) and (
            time.monotonic() < deadline
        ):
            for pids in left.values():
                _signal_all(pids, signal.SIGKILL)
            time.sleep(0.05)
        if left:
            raise TopologyError(f"processes still alive after close: {left}")
