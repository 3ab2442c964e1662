"""etcd readiness against a real three-member etcd that forms slowly.

A new etcd cluster whose third member starts late is healthy (``/health`` true, reads and
leases work) while its cluster version is still ``3.0.0``; Patroni started then picks the
``/v3alpha`` gateway, which etcd 3.4 does not serve, and exits (seen once in CI on docker).
``member_ready`` must say "not ready" until the cluster version is the server's own.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from rpochaos.backends.kubernetes_host import free_port
from rpochaos.patroni import deps
from rpochaos.patroni.etcd import member_ready
from rpochaos.waiting import wait_until
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@dataclass
class Members:
    """Three etcd members' command lines and client URLs; ``start(i)`` runs member ``i``."""

    argv: list[list[str]]
    urls: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, i: int) -> None:
        out = subprocess.DEVNULL
        self.procs.append(subprocess.Popen(self.argv[i], stdout=out, stderr=out))


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Members]:
    """Three etcd members, none started; every started one is killed at the end."""
    binary = str(require(deps.etcd))
    peers = [free_port() for _ in range(3)]
    clients = [free_port() for _ in range(3)]
    initial = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, p in enumerate(peers))
    m = Members([], [])
    for i in range(3):
        client = f"http://127.0.0.1:{clients[i]}"
        peer = f"http://127.0.0.1:{peers[i]}"
        argv = [binary, "--name", f"m{i}", "--data-dir", str(tmp_path / f"m{i}")]
        argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
        argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        argv += ["--initial-cluster", initial, "--initial-cluster-state", "new"]
        m.argv.append(argv)
        m.urls.append(client)
    yield m
    for p in m.procs:
        p.kill()
        p.wait()


def test_a_member_is_not_ready_until_the_cluster_version_is_decided(
    members: Members,
) -> None:
    first = members.urls[0]
    with httpx.Client(timeout=2.0) as http:
        members.start(0)
        members.start(1)

        def healthy() -> bool:
            try:
                return bool(http.get(f"{first}/health").json().get("health") == "true")
            except (httpx.HTTPError, ValueError):
                return False

        wait_until("two of three etcd members did not elect a leader", 20.0, healthy, str)
        version = http.get(f"{first}/version").json()
        assert version["etcdcluster"] == "3.0.0", version  # the trap: healthy, version 3.0
        assert not member_ready(http, first)

        members.start(2)
        t0 = time.monotonic()
        ready = lambda: member_ready(http, first)  # noqa: E731
        wait_until("the cluster version was never raised", 20.0, ready, str)
        version = http.get(f"{first}/version").json()
        assert version["etcdcluster"].split(".")[:2] == version["etcdserver"].split(".")[:2]
        print(f"\ncluster version settled {time.monotonic() - t0:.2f} s after the third member")
