"""Preflight: everything a game day will touch answers, and nothing is changed on the way.

PostgreSQL: every node answers in its declared role, every replica has caught up with the
primary, the probe can create and drop a table of its own in the allowed schema. Kafka:
every broker answers at its bootstrap address and the cluster advertises exactly the
inventory's addresses (else clients would go around the proxies), and the probe can create
and delete a topic of its own under the prefix. Both: Toxiproxy and every
named proxy, every container, every Prometheus stop condition.

``preflight(plan)`` returns one ``Check`` per thing checked, in order; ``ok(checks)`` says
whether a run may start.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass

import httpx
import psycopg
from psycopg import sql

from rpochaos.errors import ProxyError, first_line
from rpochaos.gameday.actions import TOXIC_PREFIX, ActionError, DockerCli
from rpochaos.gameday.inventory import Inventory, InventoryBase, KafkaInventory
from rpochaos.gameday.plan import Plan
from rpochaos.gameday.probe import connect
from rpochaos.gameday.stops import prometheus_check
from rpochaos.proxy import Toxiproxy


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


def preflight(plan: Plan) -> list[Check]:
    inv = plan.inventory
    if isinstance(inv, KafkaInventory):
        from rpochaos.gameday.kafka_preflight import kafka_checks

        return kafka_checks(inv) + common_checks(inv)
    checks = _postgres_checks(inv)
    checks += common_checks(inv)
    if inv.failover is not None:
        exe = inv.failover.command[0]
        found = shutil.which(exe)
        checks.append(
            Check(f"failover command {exe}", found is not None, found or "not found on PATH")
        )
    return checks


def _postgres_checks(inv: Inventory) -> list[Check]:
    checks: list[Check] = []
    for name, node in inv.nodes.items():
        try:
            with connect(node.conninfo, 2.0) as c:
                row = c.execute("SELECT pg_is_in_recovery(), current_setting('server_version')")
                got = row.fetchone()
            assert got is not None
            standby = bool(got[0])
            role_ok = standby == (node.role == "replica")
            checks.append(
                Check(
                    f"node {name} reachable",
                    role_ok,
                    f"PostgreSQL {got[1]}, {'standby' if standby else 'writable'}"
                    + ("" if role_ok else f" (the inventory says {node.role})"),
                )
            )
        except psycopg.Error as e:
            checks.append(Check(f"node {name} reachable", False, first_line(e)))
    checks += [
        _caught_up(inv.nodes["primary"].conninfo, n, inv.nodes[n].conninfo) for n in inv.replicas
    ]
    schema = inv.probe.schema_
    test = sql.Identifier(schema, f"rpochaos_preflight_{secrets.token_hex(3)}")
    try:
        with connect(inv.nodes["primary"].conninfo, 2.0) as c:
            c.execute(sql.SQL("CREATE TABLE {} (seq bigint PRIMARY KEY)").format(test))
            c.execute(sql.SQL("DROP TABLE {}").format(test))
        checks.append(Check(f"probe can create and drop a table in {schema}", True, "ok"))
    except psycopg.Error as e:
        checks.append(Check(f"probe can create and drop a table in {schema}", False, first_line(e)))
    return checks


def common_checks(inv: InventoryBase) -> list[Check]:
    """Toxiproxy and each named proxy (enabled, no rpochaos toxic left), each container
    running, each Prometheus stop condition answering and not already crossed."""
    checks: list[Check] = []
    if inv.toxiproxy is not None:
        try:
            with Toxiproxy(inv.toxiproxy.api) as tp:
                version = tp.version()
                proxies = tp.proxies()
            checks.append(Check(f"Toxiproxy {inv.toxiproxy.api}", True, f"version {version}"))
            for link, proxy in inv.links.items():
                info = proxies.get(proxy)
                if info is None:
                    checks.append(Check(f"proxy {proxy!r} ({link})", False, "no such proxy"))
                    continue
                stale = [t for t in info.toxics if t.startswith(TOXIC_PREFIX)]
                checks.append(
                    Check(
                        f"proxy {proxy!r} ({link})",
                        info.enabled and not stale,
                        f"listen {info.listen}, upstream {info.upstream}"
                        + ("" if info.enabled else ", DISABLED")
                        + (f", rpochaos toxics left: {stale} (run heal)" if stale else ""),
                    )
                )
        except ProxyError as e:
            checks.append(Check(f"Toxiproxy {inv.toxiproxy.api}", False, first_line(e)))
    if inv.docker is not None:
        docker = DockerCli(inv.docker.host, timeout_s=10)
        for name, container in inv.containers.items():
            if container is None:
                continue
            try:
                state = docker.state(container)
            except ActionError as e:
                state, why = None, first_line(e)
            else:
                why = "no such container" if state is None else f"state {state}"
            checks.append(Check(f"container {container} ({name})", state == "running", why))
    if inv.stop_conditions.prometheus:
        with httpx.Client(trust_env=False) as http:
            for pq in inv.stop_conditions.prometheus:
                reason = prometheus_check(http, pq)  # one that holds already: no start
                checks.append(
                    Check(
                        f"Prometheus stop {pq.query!r}",
                        reason is None,
                        f"{pq.url} answers, not {pq.threshold}" if reason is None else reason,
                    )
                )
    return checks


#: how long the preflight waits for a replica to replay what the primary has written
CATCH_UP_S = 10.0


def _caught_up(primary: str, name: str, conninfo: str, within_s: float = CATCH_UP_S) -> Check:
    """Whether replica ``name`` replays the primary's current WAL position within
    ``within_s``: a game day that starts with a replica already behind (still cut off by an
    earlier fault, or its wal receiver not yet reconnected) would measure that, not the plan."""
    what = f"{name} replays the primary's WAL"
    try:
        with connect(primary, 2.0) as c:
            row = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = str(row[0])
        deadline = time.monotonic() + within_s
        t0 = time.monotonic()
        with connect(conninfo, 2.0) as c:
            while True:
                got = c.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, pg_last_wal_replay_lsn()::text",
                    (target,),
                ).fetchone()
                if got is not None and got[0]:
                    return Check(what, True, f"caught up in {time.monotonic() - t0:.1f}s")
                if time.monotonic() >= deadline:
                    at = got[1] if got is not None else None
                    return Check(
                        what,
                        False,
                        f"replayed up to {at or 'nothing'}, the primary is at {target}, after "
                        f"{within_s:g}s: wait for it to catch up (or heal what cuts it off)",
                    )
                time.sleep(0.1)
    except psycopg.Error as e:
        return Check(what, False, first_line(e))


def ok(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)
