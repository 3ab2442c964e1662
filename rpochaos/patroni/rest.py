"""A thin typed client for one Patroni node's REST API (Patroni 4.1).

Every call has a timeout (default 2 s: a node that does not answer that fast is as good as
down for a harness polling it) and raises PatroniApiError naming the call and the reason.

``/cluster`` is the cluster as *this node* last read it from the DCS, so any live node can
answer for the others; ``/patroni`` is this node's own status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from rpochaos.errors import TopologyError
from rpochaos.http_client import HttpClient

DEFAULT_TIMEOUT_S = 2.0
#: ``GET /patroni`` roles of a node that runs the leading PostgreSQL (Patroni 4 says
#: "primary"; 3.x said "master")
LEADING_ROLES = ("primary", "master", "standby_leader")


class PatroniApiError(TopologyError):
    """A Patroni REST call failed: no answer, an unexpected status, or an unexpected body."""


@dataclass(frozen=True)
class Member:
    """One member of ``GET /cluster``.

    ``role``: leader, standby_leader, sync_standby, quorum_standby or replica. ``state``:
    for the leader its PostgreSQL state (running, starting, stopped, crashed, ...); for the
    others their replication state when known (streaming, in archive recovery) else the same
    PostgreSQL state. ``lag`` is bytes behind the leader's last known WAL position, None
    when Patroni says "unknown" (and for the leader)."""

    name: str
    role: str
    state: str
    api_url: str
    host: str | None
    port: int | None
    timeline: int | None
    lag: int | None

    @property
    def is_leader(self) -> bool:
        return self.role in ("leader", "standby_leader")


@dataclass(frozen=True)
class ClusterView:
    """``GET /cluster``: the members (sorted by name) and whether maintenance mode is on."""

    members: tuple[Member, ...]
    paused: bool

    @property
    def leader(self) -> Member | None:
        return next((m for m in self.members if m.is_leader), None)

    @property
    def replicas(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.is_leader)

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


@dataclass(frozen=True)
class NodeStatus:
    """``GET /patroni``: this node's own view. ``role`` is primary or replica (as PostgreSQL
    reports it), ``state`` its PostgreSQL state."""

    name: str
    role: str
    state: str
    timeline: int | None
    server_version: int | None
    patroni_version: str


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _member(data: object) -> Member:
    if not isinstance(data, dict):
        raise TypeError(f"a member is {type(data).__name__}, not a JSON object")
    host = data.get("host")
    return Member(
        name=str(data["name"]),
        role=str(data.get("role", "")),
        state=str(data.get("state", "")),
        api_url=str(data.get("api_url", "")),
        host=str(host) if host is not None else None,
        port=_int_or_none(data.get("port")),
        timeline=_int_or_none(data.get("timeline")),
        lag=_int_or_none(data.get("lag")),
    )


class PatroniRest(HttpClient):
    """Client for one node's REST API at ``api_url`` (``http://host:port``). Close it, or
    use it as a context manager."""

    user_agent = "rpochaos-patroni-client"
    default_timeout_s = DEFAULT_TIMEOUT_S

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, object] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        call = f"{method} {self.api_url}{path}"
        if self._http.is_closed:
            raise PatroniApiError(f"{call} failed: this client is closed")
        try:
            r = self._http.request(method, path, json=body)
        except httpx.TimeoutException as e:
            raise PatroniApiError(f"{call}: no answer within {self.timeout_s:g} s") from e
        except httpx.HTTPError as e:
            raise PatroniApiError(f"{call}: cannot reach Patroni ({type(e).__name__}: {e})") from e
        if r.status_code not in ok:
            raise PatroniApiError(f"{call}: HTTP {r.status_code}: {r.text.strip()[:300]}")
        return r

    def _object(self, method: str, path: str, r: httpx.Response) -> dict[str, object]:
        try:
            data = r.json()
        except ValueError as e:
            raise PatroniApiError(
                f"{method} {self.api_url}{path}: body is not JSON: {r.text[:200]!r}"
            ) from e
        if not isinstance(data, dict):
            raise PatroniApiError(f"{method} {self.api_url}{path}: expected a JSON object")
        return {str(k): v for k, v in data.items()}

    # -- reads -------------------------------------------------------------------------------

    def cluster(self) -> ClusterView:
        """The cluster as this node last read it from the DCS (GET /cluster)."""
        data = self._object("GET", "/cluster", self._call("GET", "/cluster"))
        raw = data.get("members", [])
        try:
            if not isinstance(raw, list):
                raise TypeError(f"members is {type(raw).__name__}, not a list")
            members = tuple(_member(m) for m in raw)
        except (KeyError, TypeError) as e:
            raise PatroniApiError(f"GET {self.api_url}/cluster: unexpected members: {e}") from e
        return ClusterView(members=members, paused=data.get("pause") is True)

    def status(self) -> NodeStatus:
        """This node's own status (GET /patroni; it answers 200 also when PG is down)."""
        data = self._object("GET", "/patroni", self._call("GET", "/patroni", ok=(200, 503)))
        patroni = data.get("patroni")
        info = patroni if isinstance(patroni, dict) else {}
        return NodeStatus(
            name=str(info.get("name", "")),
            role=str(data.get("role", "")),
            state=str(data.get("state", "")),
            timeline=_int_or_none(data.get("timeline")),
            server_version=_int_or_none(data.get("server_version")),
            patroni_version=str(info.get("version", "")),
        )

    def is_primary(self) -> bool:
        """This node holds the leader lock and runs a writable primary (GET /primary: 200)."""
        return self._call("GET", "/primary", ok=(200, 503)).status_code == 200

    # -- actions -----------------------------------------------------------------------------

    def switchover(self, leader: str, candidate: str | None = None) -> None:
        """Ask for a switchover now (POST /switchover); Patroni answers once it is done."""
        body: dict[str, object] = {"leader": leader}
        if candidate is not None:
            body["candidate"] = candidate
        self._call("POST", "/switchover", body)

    def config(self) -> dict[str, object]:
        """The cluster's dynamic configuration as stored in the DCS (GET /config)."""
        return self._object("GET", "/config", self._call("GET", "/config"))

    def patch_config(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Change the dynamic configuration (PATCH /config; a key set to None is removed);
        returns the new configuration. Each node applies it at its next HA loop."""
        r = self._call("PATCH", "/config", dict(changes))
        return self._object("PATCH", "/config", r)

    def set_maintenance(self, paused: bool) -> None:
        """Maintenance mode on or off for the whole cluster (PATCH /config {"pause": ...}):
        Patroni then neither fails over nor restarts PostgreSQL."""
        self.patch_config({"pause": paused})
