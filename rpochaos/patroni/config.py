"""The declared Patroni settings, and each node's patroni.yml built from them.

Every Patroni setting that bounds loss or failover time is required: there are no defaults
here, because a silent default is a setting nobody chose and no report would show. Patroni 4
quietly *raises* out-of-range timings instead of refusing them (``ttl=10 can't be smaller
than 20, adjusting...``; ``loop_wait`` or ``retry_timeout`` cut down to keep
``loop_wait + 2*retry_timeout <= ttl``), so the configuration a run would measure differs from
the one declared; ``PatroniSettings.problems`` refuses each such value with what was given and
what is allowed instead.

Replication goes through a proxy: Patroni builds ``primary_conninfo`` only from the leader's
``postgresql.connect_address`` in the DCS (a ``primary_conninfo`` given in ``recovery_conf``
is stripped), so ``NodeSpec.pg_connect`` is the listen address of the Toxiproxy proxy that
forwards to the node's real port. When the etcd hosts a node is given are proxies,
``etcd3.use_proxies`` is on, otherwise Patroni refreshes the member list from etcd and
connects to the real members, bypassing the proxies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args

import yaml

from rpochaos.setting_problems import SettingProblem, raise_problems, unknown_keys

#: off: asynchronous; on: ``synchronous_mode: true`` (Patroni empties the synchronous list
#: when the standby goes away, and commits go on alone); strict: also
#: ``synchronous_mode_strict: true`` (commits wait while no standby is synchronous)
SyncMode = Literal["off", "on", "strict"]
SYNC_MODES: tuple[str, ...] = get_args(SyncMode)

#: Patroni 4's own lower bounds (patroni/config.py, _validate_and_adjust_timeouts)
MIN_TTL = 20
MIN_LOOP_WAIT = 1
MIN_RETRY_TIMEOUT = 3


@dataclass(frozen=True, kw_only=True)
class PatroniSettings:
    """Patroni's failover and durability settings (its bootstrap DCS configuration).

    Times are whole seconds (Patroni takes integers), ``maximum_lag_on_failover`` is bytes.
    All fields are required. Construct, then call ``check`` (or read ``problems``) before use;
    ``node_config`` checks again."""

    ttl: int
    loop_wait: int
    retry_timeout: int
    maximum_lag_on_failover: int
    synchronous_mode: SyncMode
    synchronous_node_count: int
    failsafe_mode: bool
    use_pg_rewind: bool

    def problems(self) -> list[SettingProblem]:
        """Every value Patroni would refuse or silently change, in field order."""
        out: list[SettingProblem] = []

        def whole(key: str, value: object, low: int, why: str) -> bool:
            if isinstance(value, bool) or not isinstance(value, int):
                out.append(SettingProblem(key, repr(value), f"a whole number >= {low}{why}"))
                return False
            if value < low:
                out.append(SettingProblem(key, str(value), f"a whole number >= {low}{why}"))
                return False
            return True

        floor = " (Patroni 4 silently raises a smaller value to 20: declare 20 or more)"
        ok_ttl = whole("ttl", self.ttl, MIN_TTL, floor)
        ok_loop = whole("loop_wait", self.loop_wait, MIN_LOOP_WAIT, " seconds")
        ok_retry = whole("retry_timeout", self.retry_timeout, MIN_RETRY_TIMEOUT, " seconds")
        if ok_ttl and ok_loop and ok_retry and self.loop_wait + 2 * self.retry_timeout > self.ttl:
            out.append(
                SettingProblem(
                    "loop_wait",
                    f"loop_wait {self.loop_wait} + 2 * retry_timeout {self.retry_timeout} > "
                    f"ttl {self.ttl}",
                    "loop_wait + 2 * retry_timeout <= ttl (Patroni would cut loop_wait or "
                    "retry_timeout down on its own)",
                )
            )
        whole("maximum_lag_on_failover", self.maximum_lag_on_failover, 0, " bytes")
        if self.synchronous_mode not in SYNC_MODES:
            out.append(
                SettingProblem(
                    "synchronous_mode",
                    repr(self.synchronous_mode),
                    "one of " + ", ".join(SYNC_MODES),
                )
            )
        whole("synchronous_node_count", self.synchronous_node_count, 1, "")
        for key in ("failsafe_mode", "use_pg_rewind"):
            value = getattr(self, key)
            if not isinstance(value, bool):
                out.append(SettingProblem(key, repr(value), "true or false"))
        return out

    def check(self, file: str = "(patroni settings)", path: str = "topology.patroni") -> None:
        """ScenarioError listing every problem (keys as ``<path>.<key>``); nothing if valid."""
        raise_problems(self.problems(), file=file, path=path)

    def dcs(self) -> dict[str, object]:
        """Patroni's ``bootstrap.dcs`` for these settings."""
        return {
            "ttl": self.ttl,
            "loop_wait": self.loop_wait,
            "retry_timeout": self.retry_timeout,
            "maximum_lag_on_failover": self.maximum_lag_on_failover,
            "synchronous_mode": self.synchronous_mode != "off",
            "synchronous_mode_strict": self.synchronous_mode == "strict",
            "synchronous_node_count": self.synchronous_node_count,
            "failsafe_mode": self.failsafe_mode,
            "postgresql": {"use_pg_rewind": self.use_pg_rewind, "use_slots": True},
        }

    def describe(self) -> dict[str, int | str | bool]:
        """The settings as declared, by name, for reports (every field, in field order)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(PatroniSettings))


def declared_settings(patroni: object) -> PatroniSettings:
    """The Patroni settings of a scenario's ``topology.patroni`` (a dataclass that may carry
    more than Patroni's settings, e.g. the DCS's size: those are left out)."""
    return PatroniSettings(**{k: getattr(patroni, k) for k in SETTING_KEYS})


def settings_from_mapping(
    data: Mapping[str, object], *, file: str, path: str = "topology.patroni"
) -> PatroniSettings:
    """Settings from a parsed mapping (e.g. a scenario's ``topology.patroni``). ScenarioError
    listing every missing, unknown or invalid key; no key has a default. A bare YAML
    ``on``/``off``/``true``/``false`` for ``synchronous_mode`` (read as a boolean) means on/off."""
    problems = unknown_keys(data, SETTING_KEYS)

    def add(key: str, given: str, expected: str) -> None:
        problems.append(SettingProblem(key, given, expected))

    ints: dict[str, int] = {}
    bools: dict[str, bool] = {}
    sync: SyncMode = "off"
    for key in SETTING_KEYS:
        if key not in data:
            add(key, "nothing", "a value: every setting that bounds loss or failover is declared")
            continue
        value = data[key]
        if key == "synchronous_mode":
            if isinstance(value, bool):
                sync = "on" if value else "off"
            elif value == "off" or value == "on" or value == "strict":
                sync = value
            else:
                add(key, repr(value), "one of " + ", ".join(SYNC_MODES))
        elif key in ("failsafe_mode", "use_pg_rewind"):
            if isinstance(value, bool):
                bools[key] = value
            else:
                add(key, repr(value), "true or false")
        elif isinstance(value, int) and not isinstance(value, bool):
            ints[key] = value
        else:
            add(key, repr(value), "a whole number")
    raise_problems(problems, file=file, path=path)
    settings = PatroniSettings(
        ttl=ints["ttl"],
        loop_wait=ints["loop_wait"],
        retry_timeout=ints["retry_timeout"],
        maximum_lag_on_failover=ints["maximum_lag_on_failover"],
        synchronous_mode=sync,
        synchronous_node_count=ints["synchronous_node_count"],
        failsafe_mode=bools["failsafe_mode"],
        use_pg_rewind=bools["use_pg_rewind"],
    )
    settings.check(file, path)
    return settings


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """Passwords of the three roles Patroni creates and uses (loopback-only clusters; the
    generated pg_hba trusts 127.0.0.1, so these matter only to Patroni's own pgpass)."""

    superuser: str
    replication: str
    rewind: str


SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
REWIND_USER = "rewinder"


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """Where one node listens and keeps its files. Addresses are ``host:port``.

    ``pg_connect`` is what other nodes connect to for replication (the proxy in front of
    this node, not ``pg_listen``); ``etcd_hosts`` are the etcd client addresses this node
    uses, and ``etcd_proxied`` says they are proxies (``use_proxies: true``). ``hba_hosts``
    are the pg_hba address fields trusted for every role and for replication (loopback for
    local nodes; ``samenet``, the run's private network, for containers)."""

    name: str
    pg_listen: str
    pg_connect: str
    rest_listen: str
    rest_connect: str
    data_dir: Path
    socket_dir: Path
    pgpass: Path
    etcd_hosts: tuple[str, ...]
    etcd_proxied: bool
    hba_hosts: tuple[str, ...] = ("127.0.0.1/32",)


def node_config(
    *,
    scope: str,
    node: NodeSpec,
    settings: PatroniSettings,
    bin_dir: Path,
    credentials: Credentials,
    parameters: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """One node's Patroni configuration (a patroni.yml as a mapping). ``parameters`` are
    extra PostgreSQL settings for this node. ScenarioError if ``settings`` are invalid.

    Bring-up shortcuts that change nothing a run measures: initdb ``--no-sync`` (the new
    cluster's files are not fsynced once at creation) and pg_basebackup ``--checkpoint=fast``
    (replicas are cloned without waiting for a spread checkpoint)."""
    settings.check()
    if not node.etcd_hosts:
        raise ValueError(f"node {node.name}: no etcd hosts given")
    pg_parameters: dict[str, str | int] = {
        "unix_socket_directories": str(node.socket_dir),
        # Patroni rejects max_connections < 25 (and falls back to 100)
        "max_connections": 50,
        "shared_buffers": "32MB",
        "wal_keep_size": "128MB",
        **(parameters or {}),
    }
    etcd3: dict[str, object] = {"hosts": list(node.etcd_hosts)}
    if node.etcd_proxied:
        etcd3["use_proxies"] = True
    return {
        "scope": scope,
        "name": node.name,
        "log": {"level": "INFO"},
        "restapi": {"listen": node.rest_listen, "connect_address": node.rest_connect},
        "etcd3": etcd3,
        "bootstrap": {"dcs": settings.dcs(), "initdb": [{"encoding": "UTF8"}, "no-sync"]},
        "postgresql": {
            "listen": node.pg_listen,
            "connect_address": node.pg_connect,
            "data_dir": str(node.data_dir),
            "bin_dir": str(bin_dir),
            "pgpass": str(node.pgpass),
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": credentials.superuser},
                "replication": {
                    "username": REPLICATION_USER,
                    "password": credentials.replication,
                },
                "rewind": {"username": REWIND_USER, "password": credentials.rewind},
            },
            "pg_hba": [
                "local all all trust",
                *(f"host replication all {h} trust" for h in node.hba_hosts),
                *(f"host all all {h} trust" for h in node.hba_hosts),
            ],
            "parameters": pg_parameters,
        },
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def render(config: Mapping[str, object]) -> str:
    """A configuration as YAML text (keys in the order given)."""
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
