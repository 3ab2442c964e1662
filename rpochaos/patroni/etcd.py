"""The DCS: 1 or 3 etcd members on 127.0.0.1, started as processes of a local backend.

Each member gets a free client port and a free peer port, and its data under the given
directory (``<dir>/<member name>``). The members run as the harness's own user (etcd does not
refuse root) through ``LocalBackend.spawn``, so they are listed in the run's pids.json, die
with the harness (PR_SET_PDEATHSIG) and are killed by ``LocalBackend.close`` too. Healthy
means every running member is ready (``member_ready``: ``GET /health`` says ``"health":
"true"``, which a member says only once the cluster has a raft leader, and its v3 gateway
answers a read).

Debian bookworm ships etcd 3.4.23 (``etcd-server``); Patroni's etcd3 client speaks to it
through the v3 gRPC gateway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx

from rpochaos.backends.local import LocalBackend, LocalServer
from rpochaos.closing import Started
from rpochaos.errors import TopologyError
from rpochaos.patroni import deps
from rpochaos.waiting import wait_until

HOST = "127.0.0.1"


@dataclass
class Member:
    """One etcd member: its name, ports and (once started) its process."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    server: LocalServer | None = None

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:<client port>``, as Patroni's ``etcd3.hosts`` wants it."""
        return f"{HOST}:{self.client_port}"

    def running(self) -> bool:
        return self.server is not None and self.server.running()


def cluster_version_settled(version: object) -> bool:
    """Whether an etcd ``/version`` answer shows the cluster version raised to the server's
    own major.minor (``{"etcdserver": "3.4.30", "etcdcluster": "3.4.0"}``: yes; ``3.0.0`` or
    ``not_decided``: not yet)."""
    if not isinstance(version, dict):
        return False

    def major_minor(text: object) -> tuple[int, ...] | None:
        parts = str(text).split(".")[:2]
        return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None

    server = major_minor(version.get("etcdserver"))
    return server is not None and major_minor(version.get("etcdcluster")) == server


def member_ready(http: httpx.Client, url: str) -> bool:
    """Whether the etcd member at ``url`` is ready for Patroni: ``/health`` says true (the
    cluster has a raft leader) and its v3 gateway answers a range read with a header and grants
    a lease (what Patroni's etcd3 client does first; a member of a cluster still forming can
    pass the first and not the rest), and ``/version`` reports a cluster version of the
    server's own major.minor. A new three-member cluster first reports ``3.0.0`` (or
    ``not_decided``) until its leader raises it; Patroni reads that once at start, picks the
    ``/v3alpha`` gateway, which etcd 3.4 no longer serves, and exits on the "404 page not
    found" it gets back. The lease expires on its own."""
    try:
        r = http.get(f"{url}/health")
        if r.status_code != 200 or json.loads(r.text).get("health") != "true":
            return False
        if not cluster_version_settled(json.loads(http.get(f"{url}/version").text)):
            return False
        r = http.post(f"{url}/v3/kv/range", json={"key": "cnBvY2hhb3M="})  # b64 "rpochaos"
        body = json.loads(r.text)
        if r.status_code != 200 or not isinstance(body, dict) or "header" not in body:
            return False
        r = http.post(f"{url}/v3/lease/grant", json={"TTL": 5})  # Patroni's first write
        body = json.loads(r.text)
        return r.status_code == 200 and isinstance(body, dict) and "ID" in body
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


class Etcd(Started):
    """An etcd cluster of ``members`` (1 or 3) members. ``start`` brings it up and waits
    until it is healthy; ``close`` kills every member (idempotent). Usable as a context
    manager (``with Etcd(...) as dcs``: started on entry, closed on exit)."""

    def __init__(
        self,
        backend: LocalBackend,
        data_dir: Path,
        *,
        members: int = 1,
        prefix: str = "etcd",
        timeout_s: float = 30.0,
    ) -> None:
        if members not in (1, 3):
            raise ValueError(f"an etcd cluster has 1 or 3 members here, got {members!r}")
        self.backend = backend
        self.data_dir = data_dir
        self.timeout_s = timeout_s
        self.members = [
            Member(
                f"{prefix}{i + 1}",
                backend.free_port(),
                backend.free_port(),
                data_dir / f"{prefix}{i + 1}",
            )
            for i in range(members)
        ]
        self._http = httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every member's client address (``127.0.0.1:<port>``)."""
        return tuple(m.host for m in self.members)

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"no etcd member {name!r}; members: {[m.name for m in self.members]}")

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every member that is not running and wait until all running ones are
        healthy. TopologyError (with the members' log tails) if they are not within
        ``timeout_s``."""
        binary = str(deps.etcd())
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        self.backend.prepare_dir(self.data_dir, as_db_user=False)
        for m in self.members:
            if m.running():
                continue
            fresh = not (m.data_dir / "member").exists()
            self.backend.prepare_dir(m.data_dir, as_db_user=False)
            argv = [
                binary,
                "--name",
                m.name,
                "--data-dir",
                str(m.data_dir),
                "--listen-client-urls",
                m.client_url,
                "--advertise-client-urls",
                m.client_url,
                "--listen-peer-urls",
                m.peer_url,
                "--initial-advertise-peer-urls",
                m.peer_url,
                "--initial-cluster",
                initial,
                "--initial-cluster-state",
                "new" if fresh else "existing",
                "--initial-cluster-token",
                f"rpochaos-{self.members[0].client_port}",
                "--logger",
                "zap",
                "--log-level",
                "warn",
            ]
            m.server = self.backend.spawn(m.name, argv, as_db_user=False)
        self.wait_healthy()
        return self

    def healthy(self) -> bool:
        """Every running member answers /health with "true" (and at least one runs)."""
        running = [m for m in self.members if m.running()]
        return bool(running) and all(self._member_healthy(m) for m in running)

    def _member_healthy(self, m: Member) -> bool:
        return member_ready(self._http, m.client_url)

    def wait_healthy(self, timeout_s: float | None = None) -> None:
        """Wait until ``healthy``; TopologyError with the members' log tails otherwise, or at
        once when a member has exited."""

        def probe() -> bool:
            dead = [m.name for m in self.members if m.server is not None and not m.running()]
            if dead:
                raise TopologyError(f"etcd member(s) {', '.join(dead)} exited\n{self.log_tail()}")
            return self.healthy()

        wait_until(
            f"etcd ({len(self.members)} member(s)) did not become healthy",
            self.timeout_s if timeout_s is None else timeout_s,
            probe,
            self.log_tail,
        )

    def kill(self, name: str) -> None:
        """SIGKILL one member (a crash); ``start`` brings it back with its data."""
        m = self.member(name)
        if m.server is not None:
            m.server.kill()

    def close(self) -> None:
        """Kill every member and close the HTTP client. Safe to call more than once."""
        for m in self.members:
            if m.server is not None:
                m.server.kill()
        self._http.close()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {m.name} ---\n{m.server.log_tail(lines) if m.server else '(not started)'}"
            for m in self.members
        )
