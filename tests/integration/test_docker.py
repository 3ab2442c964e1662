"""The docker backend on a real engine: bring-up and streaming, node actions in containers,
labels, cleanup after SIGKILL of the owner (gc), and the compose game-day file.

Without an engine (or the Docker SDK, or the images and the tools to build them) these tests
skip with the install hint; under CI=true they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from rpochaos.backends import engine
from rpochaos.errors import MissingDependency
from rpochaos.scenario import Replica, Topology
from tests.helpers import ROOT, require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

COMPOSE_FILE = ROOT / "compose" / "pg-primary-replica.yml"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = require(engine.client)
    yield c
    c.close()


@pytest.fixture(scope="module")
def images(client: Any) -> Any:
    """The images a docker run would use (building the local ones when missing)."""
    from rpochaos.images import resolve_images

    return require(lambda: resolve_images(client=client))


def _labelled(client: Any, run_id: str) -> list[str]:
    flt = {"label": f"rpochaos.run={run_id}"}
    return sorted(
        [
            *(f"container {c.name}" for c in client.containers.list(all=True, filters=flt)),
            *(f"network {n.name}" for n in client.networks.list(filters=flt)),
            *(f"volume {v.name}" for v in client.volumes.list(filters=flt)),
        ]
    )


def _topology(replicas: int = 1) -> Topology:
    return Topology(
        synchronous_commit="on",
        replicas=tuple(Replica(name=f"replica{i + 1}", mode="async") for i in range(replicas)),
    )


@contextlib.contextmanager
def _cluster(tmp_path: Path, client: Any, images: Any, replicas: int = 1) -> Iterator[Any]:
    from rpochaos.backends.docker import DockerBackend
    from rpochaos.topology.postgres import PostgresCluster

    backend = DockerBackend(tmp_path, images=images, client=client)
    proxy = None
    cluster = None
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "hello").write_text("from the host")
    backend.share_host_dir(shared)
    try:
        proxy = backend.start_proxy()
        cluster = PostgresCluster(_topology(replicas), backend, proxy)
        cluster.start()
        yield cluster
    finally:
        if cluster is not None:
            cluster.close()
        if proxy is not None:
            proxy.close()
        backend.close()


def _wait(what: str, cond: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = cond()
            if got:
                return got
        except (psycopg.Error, OSError) as e:
            last = e
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout_s:g} s (last error: {last})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- bring-up, wiring, node actions -----------------------------------------------------------


def test_primary_and_replica_stream_through_toxiproxy(
    tmp_path: Path, client: Any, images: Any
) -> None:
    with _cluster(tmp_path, client, images) as cluster:
        backend = cluster.backend
        run_id = backend.run_id
        primary, replica = cluster.nodes["primary"], cluster.nodes["replica1"]
        assert primary.host == "127.0.0.1" and replica.host == "127.0.0.1"

        # the replica streams, through the proxy: its WAL sender's peer is the proxy container
        proxy_ip = client.containers.get(f"rpochaos-{run_id}-toxiproxy").attrs["NetworkSettings"][
            "Networks"
        ][backend.network_name]["IPAddress"]
        with primary.connect() as c:
            rows = c.execute(
                "SELECT application_name, state, host(client_addr) FROM pg_stat_replication"
            ).fetchall()
        assert rows == [("replica1", "streaming", proxy_ip)]
        with replica.connect() as c:
            row = c.execute("SELECT sender_host, sender_port FROM pg_stat_wal_receiver").fetchone()
        assert row is not None and row[0] == "toxiproxy"
        assert cluster.links["replica1->primary"].harness is None  # not published

        # the workload's endpoints are the published client->node proxies
        ends = {e.node: e for e in cluster.client_endpoints()}
        assert {e.host for e in ends.values()} == {"127.0.0.1"}
        with psycopg.connect(
            f"host=127.0.0.1 port={ends['primary'].port} user=rpochaos dbname=postgres",
            autocommit=True,
        ) as c:
            c.execute("INSERT INTO rpochaos_writes (seq) VALUES (1), (2), (3)")

        def replicated() -> bool:
            with psycopg.connect(
                f"host=127.0.0.1 port={ends['replica1'].port} user=rpochaos dbname=postgres",
                autocommit=True,
            ) as c:
                row = c.execute("SELECT count(*) FROM rpochaos_writes").fetchone()
            return row is not None and row[0] == 3

        _wait("rows replicated to replica1", replicated)

        # every object of the run carries the labels
        objects = [
            *client.containers.list(all=True, filters={"label": f"rpochaos.run={run_id}"}),
        ]
        assert {c.labels["rpochaos.role"] for c in objects} == {"node", "sandbox", "toxiproxy"}
        for c in objects:
            assert c.labels["rpochaos.owner_pid"] == str(os.getpid())
            assert c.labels["rpochaos.session"] == backend.session
        net = client.networks.get(backend.network_name)
        assert net.attrs["Labels"]["rpochaos.run"] == run_id
        vols = client.volumes.list(filters={"label": f"rpochaos.run={run_id}"})
        assert sorted(v.name for v in vols) == sorted(
            f"rpochaos-{run_id}-{n}" for n in ("primary", "replica1")
        )
        # published on loopback only
        for c in objects:
            for bindings in (c.attrs["HostConfig"]["PortBindings"] or {}).values():
                assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}

        # a shared host directory is visible in the node at the same path
        out = client.containers.get(f"rpochaos-{run_id}-primary").exec_run(
            ["cat", str((tmp_path / "shared" / "hello").resolve())], user="postgres"
        )
        assert (out.exit_code, out.output) == (0, b"from the host")

        # crash: every server process dies at once; the address stays (refused, not hanging)
        server = client.containers.get(f"rpochaos-{run_id}-primary")
        assert primary.handle.pid is not None
        cluster.crash("primary", cut_links=False)
        server.reload()
        assert server.status == "exited" and not primary.running()
        t = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(primary.conninfo)
        assert time.monotonic() - t < 2.0
        # restart: crash recovery on the same data
        primary.restart()
        with primary.connect() as c:
            row = c.execute("SELECT count(*) FROM rpochaos_writes").fetchone()
        assert row == (3,)
        cluster.wait_streaming()

        # pause = cgroup freezer; resume thaws
        replica.pause()
        assert client.containers.get(f"rpochaos-{run_id}-replica1").status == "paused"
        assert replica.running()
        replica.resume()
        assert client.containers.get(f"rpochaos-{run_id}-replica1").status == "running"
        # a paused node can be crashed
        replica.pause()
        replica.crash()
        assert not replica.running()

    assert _labelled(client, run_id) == []
    log = (tmp_path / "logs" / "primary.log").read_text()
    assert "initdb" in log and "database system is ready to accept connections" in log
    assert "database system was interrupted" in log  # the crash recovery after restart
    assert (tmp_path / "logs" / "replica1.log").exists()
    assert "Started proxy" in (tmp_path / "logs" / "toxiproxy.log").read_text()


# -- cleanup after SIGKILL --------------------------------------------------------------------

_OWNER = """
import sys, time
from pathlib import Path
from rpochaos.backends.docker import DockerBackend
from rpochaos.images import Images
from rpochaos.scenario import Replica, Topology
from rpochaos.topology.postgres import PostgresCluster

backend = DockerBackend(Path(sys.argv[1]), images=Images(sys.argv[2], sys.argv[3]))
proxy = backend.start_proxy()
topology = Topology(synchronous_commit="on", replicas=(Replica(name="replica1", mode="async"),))
PostgresCluster(topology, backend, proxy).start()
print("UP", backend.run_id, flush=True)
time.sleep(600)
"""


def test_gc_removes_everything_of_a_run_killed_with_sigkill(
    tmp_path: Path, client: Any, images: Any
) -> None:
    from rpochaos.backends.docker import gc

    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(tmp_path), images.postgres, images.toxiproxy],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("UP "), line + (proc.stderr.read() if proc.stderr else "")
        run_id = line.split()[1]
        before = _labelled(client, run_id)
        assert len([x for x in before if x.startswith("container")]) == 5  # 2x(node+net)+proxy
        assert any(x.startswith("network") for x in before)
        assert len([x for x in before if x.startswith("volume")]) == 2
        # the owner lives: gc leaves its run alone
        gc(client=client)
        assert _labelled(client, run_id) == before
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # the owner is dead; its containers still run until gc
    assert _labelled(client, run_id) == before
    removed = gc(client=client)
    assert any(run_id in r for r in removed), removed
    assert _labelled(client, run_id) == []


def test_owner_alive_checks_pid_and_start_time() -> None:
    from rpochaos.backends.docker import (
        LABEL_OWNER,
        LABEL_OWNER_START,
        _proc_start,
        owner_alive,
    )

    me = os.getpid()
    start = _proc_start(me)
    assert start is not None
    assert owner_alive({LABEL_OWNER: str(me), LABEL_OWNER_START: start})
    assert not owner_alive({LABEL_OWNER: str(me), LABEL_OWNER_START: "1"})  # pid reused
    assert not owner_alive({LABEL_OWNER: "0"})
    assert not owner_alive({LABEL_OWNER: "not-a-pid"})


def test_make_backend_rejects_unknown_names(tmp_path: Path) -> None:
    from rpochaos.backends import make_backend
    from rpochaos.errors import ScenarioError

    with pytest.raises(ScenarioError, match="one of local, docker"):
        make_backend("moon", tmp_path)


# -- images -----------------------------------------------------------------------------------


def test_debian_sources_parse_both_apt_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rpochaos.images import DEFAULT_MIRROR, debian_mirror, debian_sources

    monkeypatch.delenv("RPOCHAOS_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    (d / "other.list").write_text("deb [arch=amd64] https://elsewhere.example/apt cloud main\n")
    assert debian_sources(tmp_path) == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
        ("http://mirror.example/debian-security", "bookworm-security"),
    ]
    (d / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb http://old.example/debian/ bookworm main\n")
    assert debian_mirror(tmp_path) == "http://old.example/debian"
    (tmp_path / "sources.list").unlink()
    assert debian_mirror(tmp_path) == DEFAULT_MIRROR
    monkeypatch.setenv("RPOCHAOS_DEBIAN_MIRROR", "http://env.example/debian")
    assert debian_mirror(tmp_path) == "http://env.example/debian"


def test_an_explicit_image_that_cannot_be_had_is_an_error(client: Any) -> None:
    from rpochaos.images import resolve_images

    with pytest.raises(MissingDependency, match="rpochaos-test/no-such-image:1"):
        resolve_images("rpochaos-test/no-such-image:1", client=client)


def test_local_toxiproxy_binary_is_static(client: Any, images: Any, tmp_path: Path) -> None:
    from rpochaos.images import LOCAL_TOXIPROXY_IMAGE, is_static

    if images.toxiproxy != LOCAL_TOXIPROXY_IMAGE:
        pytest.skip(f"this engine uses {images.toxiproxy}")
    c = client.containers.create(LOCAL_TOXIPROXY_IMAGE)
    try:
        bits, _ = c.get_archive("/toxiproxy")
        tar = tmp_path / "t.tar"
        tar.write_bytes(b"".join(bits))
        subprocess.run(["tar", "-xf", str(tar), "-C", str(tmp_path)], check=True)
    finally:
        c.remove(force=True)
    assert is_static(tmp_path / "toxiproxy")
    assert not is_static(Path(sys.executable).resolve())


# -- the compose game-day file ----------------------------------------------------------------


def _compose_available() -> None:
    out = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if out.returncode != 0:
        raise MissingDependency(
            "the docker compose v2 plugin", "scripts/docker-setup.sh (builds it with go install)"
        )


def test_compose_file_brings_up_a_replica_streaming_through_toxiproxy(images: Any) -> None:
    require(_compose_available)
    api, cp, cr = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "RPOCHAOS_PG_IMAGE": images.postgres,
        "RPOCHAOS_TOXIPROXY_IMAGE": images.toxiproxy,
        "RPOCHAOS_TOXIPROXY_API_PORT": str(api),
        "RPOCHAOS_CLIENT_PRIMARY_PORT": str(cp),
        "RPOCHAOS_CLIENT_REPLICA_PORT": str(cr),
    }
    compose = ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", f"rpochaos-test-{os.getpid()}"]

    def dc(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    try:
        up = dc("up", "-d", "--wait")
        assert up.returncode == 0, up.stdout + up.stderr + dc("logs").stdout[-3000:]
        primary = f"host=127.0.0.1 port={cp} user=rpochaos dbname=postgres connect_timeout=3"
        replica = f"host=127.0.0.1 port={cr} user=rpochaos dbname=postgres connect_timeout=3"
        with psycopg.connect(primary, autocommit=True) as c:
            rows = c.execute("SELECT application_name, state FROM pg_stat_replication").fetchall()
            assert rows == [("replica1", "streaming")]
            assert c.execute("SHOW synchronous_standby_names").fetchone() == ("",)
            assert c.execute("SHOW synchronous_commit").fetchone() == ("on",)
            c.execute("CREATE TABLE gameday (seq bigint PRIMARY KEY)")
            c.execute("INSERT INTO gameday VALUES (1)")
        with psycopg.connect(replica, autocommit=True) as c:
            row = c.execute("SELECT sender_host, sender_port FROM pg_stat_wal_receiver").fetchone()
            assert row == ("toxiproxy", 21000)

        def count() -> int:
            with psycopg.connect(replica, autocommit=True) as c:
                got = c.execute("SELECT count(*) FROM gameday").fetchone()
            return int(got[0]) if got else -1

        _wait("the first row on the replica", lambda: count() == 1)

        # a blackhole on the replication link, as docs/gamedays.md does it with curl
        link = f"http://127.0.0.1:{api}/proxies/replica1-%3Eprimary/toxics"
        with httpx.Client(timeout=10, trust_env=False) as http:
            for stream in ("upstream", "downstream"):
                r = http.post(
                    link,
                    json={
                        "name": f"blackhole-{stream}",
                        "type": "timeout",
                        "stream": stream,
                        "attributes": {"timeout": 0},
                    },
                )
                assert r.status_code == 200, r.text
            with psycopg.connect(primary, autocommit=True) as c:
                c.execute("INSERT INTO gameday VALUES (2)")
            time.sleep(1.5)
            assert count() == 1  # held back by the blackhole
            for stream in ("upstream", "downstream"):
                assert http.delete(f"{link}/blackhole-{stream}").status_code == 204
        _wait("the second row after healing", lambda: count() == 2, timeout_s=60)
    finally:
        dc("down", "-v", "--timeout", "5")


def test_doctor_reports_the_engine_and_the_images_in_use(images: Any) -> None:
    from rpochaos.images import doctor

    checks = {c.name: c for c in doctor()}
    assert checks["docker-engine"].found and "API" in checks["docker-engine"].detail
    assert checks["image-postgres"].found and images.postgres in checks["image-postgres"].detail
    assert checks["image-toxiproxy"].found
    assert images.toxiproxy in checks["image-toxiproxy"].detail
    assert checks["image-kafka"].found, checks["image-kafka"].detail  # ./dev test builds it
