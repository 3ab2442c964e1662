"""MariaDB on the docker backend, without an engine: the node's explicit command lines and
accounts, the cluster's link wiring through ``Backend.link``, the image recipe and the
official-image fallback, and the backends ``system: mariadb`` accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from rpochaos.backends.base import Address, LinkAddress
from rpochaos.errors import ScenarioError
from rpochaos.mariadb.cluster import MariaDBCluster
from rpochaos.mariadb.docker_server import HOME, SOCKET, DockerMariaDBServer
from rpochaos.mariadb.server import Credentials
from rpochaos.mariadb.settings import settings_from_mapping
from rpochaos.scenario import loads
from rpochaos.systems import MariaDBSystem

SETTINGS = {
    "semi_sync": {"replica1": True},
    "rpl_semi_sync_master_timeout": 2000,
    "rpl_semi_sync_master_wait_point": "AFTER_SYNC",
    "rpl_semi_sync_master_wait_no_slave": True,
    "sync_binlog": 1,
    "innodb_flush_log_at_trx_commit": 1,
}


@dataclass
class FakeNode:
    name: str
    port: int = 3306
    address: Address = field(default_factory=lambda: Address("127.0.0.1", 0))
    started: list[tuple[list[str], Mapping[str, str] | None]] = field(default_factory=list)
    ran: list[list[str]] = field(default_factory=list)
    container_name: str = ""

    def program(self, name: str) -> str:
        return name

    def prepare(self) -> None:
        pass

    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str:
        self.ran.append(argv)
        return ""

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.started.append((argv, env))

    def running(self) -> bool:
        return False


class FakeDockerBackend:
    """Just what DockerMariaDBServer asks of the docker backend."""

    name = "docker"

    def __init__(self) -> None:
        self.nodes: dict[str, FakeNode] = {}
        self.links: list[tuple[str, str, bool]] = []
        self._next = 20000

    def node(self, name: str, *, kind: str = "postgres") -> FakeNode:
        assert kind == "mariadb"
        self._next += 1
        n = FakeNode(name, address=Address("127.0.0.1", 40000 + self._next))
        n.container_name = f"rpochaos-x-{name}"
        self.nodes[name] = n
        return n

    def direct(self, dst: FakeNode, port: int | None = None) -> Address:
        return Address(dst.name, port or dst.port)

    def link(self, name: str, dst: FakeNode, *, harness: bool) -> LinkAddress:
        self.links.append((name, dst.name, harness))
        self._next += 1
        return LinkAddress(
            listen=f"0.0.0.0:{self._next}",
            upstream=str(self.direct(dst)),
            peer=Address("toxiproxy", self._next),
            harness=Address("127.0.0.1", 50000 + self._next) if harness else None,
        )

    def signals_processes(self) -> bool:
        return True


def _server(role: str = "replica") -> tuple[DockerMariaDBServer, FakeNode]:
    backend: Any = FakeDockerBackend()
    settings = settings_from_mapping(SETTINGS, file="t.yaml", path="topology")
    s = DockerMariaDBServer(backend, "replica1", 2, settings, Credentials(), role=role)
    return s, backend.nodes["replica1"]


def test_the_server_command_line_is_explicit_and_binds_every_address() -> None:
    s, node = _server()
    argv = s.argv()
    assert argv[:2] == ["mariadbd", "--no-defaults"]
    assert "--bind-address=0.0.0.0" in argv
    assert not any(a == "--bind-address=127.0.0.1" for a in argv)
    assert f"--socket={SOCKET}" in argv and f"--datadir={HOME}/db" in argv
    assert "--port=3306" in argv and "--server-id=2" in argv and "--read-only=ON" in argv
    assert not any("/run/mysqld" in a for a in argv)
    # the declared settings, as on the local backend
    assert "--rpl-semi-sync-slave-enabled=ON" in argv
    assert "--rpl-semi-sync-master-timeout=2000" in argv
    assert "--rpl-semi-sync-master-wait-point=AFTER_SYNC" in argv
    s.role = "primary"
    assert "--read-only=OFF" in s.argv()
    s.start()
    assert node.started[-1][0] == s.argv()


def test_prepare_installs_the_data_directory_in_a_one_shot_with_the_accounts() -> None:
    s, node = _server()
    s.prepare()
    (argv,) = node.ran
    assert argv[:2] == ["sh", "-c"] and "exec mariadb-install-db --no-defaults" in argv[2]
    init = argv[4]
    assert "'rpochaos'@'%'" in init and "'repl'@'%'" in init and "'writer'@'%'" in init
    assert "@'127.0.0.1'" not in init
    assert "--auth-root-authentication-method=socket" in argv[5:]


def test_the_local_accounts_stay_on_loopback() -> None:
    init = Credentials().init_sql()
    assert "'writer'@'127.0.0.1'" in init and "'%'" not in init


class FakeProxy:
    def __init__(self) -> None:
        self.proxies: dict[str, tuple[str, str]] = {}

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        self.proxies[name] = (listen, upstream)

    def delete_proxy(self, name: str) -> None:
        del self.proxies[name]


def test_the_cluster_wires_links_through_the_backend() -> None:
    backend: Any = FakeDockerBackend()
    proxy: Any = FakeProxy()
    settings = settings_from_mapping(SETTINGS, file="t.yaml", path="topology")
    c = MariaDBCluster(settings, backend, proxy)
    c._add_link("client->primary", "client", "primary")
    at = c._add_link("replica1->primary", "replica1", "primary")
    assert backend.links == [
        ("client->primary", "primary", True),
        ("replica1->primary", "primary", False),
    ]
    assert proxy.proxies["replica1->primary"] == (at.listen, "primary:3306")
    assert at.peer.host == "toxiproxy"  # what MASTER_HOST becomes
    client = c.client_endpoint()
    assert client.host == "127.0.0.1" and client.port > 50000
    assert c.link_ports["client->primary"] == client.port
    assert c.link_ports["replica1->primary"] == at.listen_port
    c._repoint_client("replica1")
    assert proxy.proxies["client->primary"][1] == "replica1:3306"
    assert c.client_endpoint() == client, "the writer keeps its address across a failover"
    assert c.signals_processes()


def test_the_image_recipe_and_the_official_fallback() -> None:
    from rpochaos.images.build import _BUILDERS
    from rpochaos.images.names import DEFAULT_MARIADB_IMAGE, LOCAL_EQUIVALENT, LOCAL_MARIADB_IMAGE
    from rpochaos.images.recipes import MARIADB_DOCKERFILE, _recipes

    assert (
        LOCAL_EQUIVALENT[DEFAULT_MARIADB_IMAGE] == LOCAL_MARIADB_IMAGE == "rpochaos/mariadb:10.11"
    )
    assert LOCAL_MARIADB_IMAGE in _BUILDERS and LOCAL_MARIADB_IMAGE in _recipes()
    assert "FROM rpochaos/debian:bookworm" in MARIADB_DOCKERFILE
    assert "mariadb-server mariadb-client" in MARIADB_DOCKERFILE
    assert "ENTRYPOINT" not in MARIADB_DOCKERFILE


SCENARIO = """\
system: mariadb
topology:
  replicas: [{name: replica1, semi_sync: true}]
  rpl_semi_sync_master_timeout: 2000
  rpl_semi_sync_master_wait_point: AFTER_SYNC
  rpl_semi_sync_master_wait_no_slave: true
  sync_binlog: 1
  innodb_flush_log_at_trx_commit: 1
workload: {rate: 20/s, duration: 5s}
schedule: [{at: 1s, crash: primary, outage: true}]
expect: {rpo: 1s}
"""


def test_kubernetes_is_refused_before_anything_starts() -> None:
    system = MariaDBSystem(loads(SCENARIO))
    with pytest.raises(ScenarioError) as info:
        system.preflight("kubernetes")
    (p,) = info.value.problems
    assert p.key == "backend" and "local or docker" in p.expected
