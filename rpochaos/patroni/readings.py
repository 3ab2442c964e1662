"""What a Patroni topology reads from its nodes the same way on every backend: the server
version, the durability settings (PostgreSQL's and Patroni's), the final read, whether a node
still leads, the Patroni version, and ``GET /cluster`` from the first node that answers.

``PatroniReadings`` is a mixin: a topology gives it ``member(name)`` (anything with a
``conninfo`` and a ``rest`` client), ``primary_name``, ``wait_primary``, ``topology`` and
``settings``; the local and the docker topology differ only in how they reach a node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import psycopg

from rpochaos.patroni import deps
from rpochaos.patroni.config import PatroniSettings
from rpochaos.patroni.rest import LEADING_ROLES, ClusterView, PatroniApiError, PatroniRest
from rpochaos.scenario import Topology
from rpochaos.topology.postgres import DURABILITY_SETTINGS, TABLE

#: how long ``recover`` and the final read wait for a node or a leader
WAIT_S = 90.0


def settings_report(settings: PatroniSettings, live: Mapping[str, object]) -> dict[str, object]:
    """``patroni.<setting>`` for each declared setting: the value in ``live`` (Patroni's
    ``GET /config``) or, where it does not report one, the declared value marked
    ``(declared)``."""
    pg = live.get("postgresql")
    pg_live = pg if isinstance(pg, dict) else {}
    sync = live.get("synchronous_mode")
    strict = live.get("synchronous_mode_strict")
    read: dict[str, object] = {
        **{k: live[k] for k in live if k in settings.describe()},
        "use_pg_rewind": pg_live.get("use_pg_rewind"),
    }
    if isinstance(sync, bool):
        read["synchronous_mode"] = "strict" if sync and strict else "on" if sync else "off"
    out: dict[str, object] = {}
    for key, declared in settings.describe().items():
        value = read.get(key)
        out[f"patroni.{key}"] = value if value is not None else f"{declared} (declared)"
    return out


class Member(Protocol):
    """One node as the readings reach it."""

    @property
    def name(self) -> str: ...

    @property
    def conninfo(self) -> str: ...

    @property
    def rest(self) -> PatroniRest: ...

    def patroni_running(self) -> bool: ...


def first_view(members: Iterable[Member], prefer: str | None = None) -> ClusterView:
    """``GET /cluster`` from the first member whose Patroni runs and answers (``prefer``
    first). PatroniApiError naming every failure if none answers."""
    errors: list[str] = []
    for m in sorted(members, key=lambda m: m.name != prefer):
        if not m.patroni_running():
            continue
        try:
            return m.rest.cluster()
        except PatroniApiError as e:
            errors.append(str(e))
    raise PatroniApiError("no Patroni node answered GET /cluster: " + "; ".join(errors))


def ready_view(view: ClusterView, names: Iterable[str]) -> ClusterView | None:
    """``view`` when its members are exactly ``names``, the leader runs and every other
    member streams; else None."""
    if {m.name for m in view.members} != set(names):
        return None
    lead = view.leader
    if lead is None or lead.state != "running":
        return None
    if any(m.state != "streaming" for m in view.replicas):
        return None
    return view


def writable(conninfo: str) -> bool:
    """The PostgreSQL at ``conninfo`` answers and is out of recovery (``pg_is_in_recovery()``
    is false). Patroni's ``GET /primary`` turns 200 as soon as Patroni takes the leader key,
    before PostgreSQL has finished promoting, so it is not enough."""
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] is False


class PatroniReadings:
    topology: Topology
    settings: PatroniSettings

    def member(self, name: str) -> Member:
        raise NotImplementedError

    @property
    def primary_name(self) -> str:
        raise NotImplementedError

    def wait_primary(self, *, timeout_s: float = WAIT_S) -> str:
        raise NotImplementedError

    def version(self) -> str:
        with psycopg.connect(self.member(self.primary_name).conninfo) as c:
            row = c.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"

    def durability(self) -> dict[str, object]:
        """The leader's durability settings as PostgreSQL reports them, then every Patroni
        setting as Patroni's ``GET /config`` reports it (``patroni.<key>``; a setting it
        does not report is shown as declared, marked ``(declared)``), the DCS's size
        (``dcs.etcd_members``) and ``replicas``."""
        out: dict[str, object] = {}
        with psycopg.connect(self.member(self.primary_name).conninfo) as c:
            for name in DURABILITY_SETTINGS:
                row = c.execute(f"SHOW {name}").fetchone()
                out[name] = row[0] if row else None
        out.update(self.patroni_settings())
        assert self.topology.patroni is not None, "validated: manager patroni has its settings"
        out["dcs.etcd_members"] = self.topology.patroni.etcd_members
        out["replicas"] = {r.name: r.mode for r in self.topology.replicas}
        return out

    def patroni_settings(self) -> dict[str, object]:
        """``patroni.<setting>`` for each declared setting, read back from ``GET /config``."""
        try:
            live = self.member(self.primary_name).rest.config()
        except PatroniApiError:
            live = {}
        return settings_report(self.settings, live)

    def read_final(self) -> tuple[str, frozenset[int]]:
        """The leader once one runs a writable primary (waits up to WAIT_S), and every
        sequence number on it."""
        lead = self.wait_primary(timeout_s=WAIT_S)
        with psycopg.connect(self.member(lead).conninfo) as c:
            rows = c.execute(f"SELECT seq FROM {TABLE}").fetchall()
        return lead, frozenset(int(r[0]) for r in rows)

    def leads(self, name: str) -> bool | None:
        """Whether ``name``'s Patroni says it runs a primary that is up (``GET /patroni``: role
        primary, state running). False once it demotes itself (state ``stopping``, then role
        replica), seconds before ``GET /primary`` stops answering 200. None when it does not
        answer (a crashed host)."""
        try:
            st = self.member(name).rest.status()
        except PatroniApiError:
            return None
        return st.role in LEADING_ROLES and st.state == "running"

    def patroni_version(self) -> str:
        return deps.PATRONI_VERSION
