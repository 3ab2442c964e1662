"""The inventory: what a game day may touch, reviewed once by the team that owns the system.

An ``*.inventory.yaml`` file names the system (``name``, typed to confirm a run; ``system``:
``postgres``, the default, or ``kafka``), its nodes and how to reach each, the Toxiproxy API
and which of its proxies is which directed link, optionally the Docker engine and each node's
container (crash = ``docker kill``, pause = ``docker pause``, restart = ``docker restart``),
what the probe may write to, the limits, and the stop conditions.

- PostgreSQL (``Inventory``): ``nodes`` (a libpq connection string or ``service=NAME`` each;
  never a password), optionally a failover command (none: observe only), ``probe.schema``.
- Kafka (``KafkaInventory``): ``brokers`` named ``broker1``..``brokerN`` (the names plans use)
  each with its ``bootstrap`` address (``host:port``, as the broker advertises it) and its
  ``node_id``; ``probe.topic_prefix`` and the durability of the probe's topic, every knob
  declared (``replication_factor``, ``min_insync_replicas``, ``unclean_leader_election``).
  No failover: Kafka elects its leaders itself.

``load_inventory(path)`` returns the validated inventory or raises ``ScenarioError`` listing
every problem with file and line. Anything not named here is refused before a run starts.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rpochaos.errors import Problem, ScenarioError
from rpochaos.gameday.lines import dotted, line_of, problems_of, read_yaml
from rpochaos.scenario import kafka_link_names
from rpochaos.scenario.units import parse_duration, parse_rate

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
#: a password in a libpq string, either form (key=value or a URI's user:password@)
_SECRET = re.compile(r"(^|\s)(password|passfile)\s*=|://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def _matching(pattern: re.Pattern[str], v: str, expected: str) -> str:
    """``v`` when ``pattern`` matches all of it; else ValueError(``expected``), which pydantic
    reports as the field's problem."""
    if not pattern.fullmatch(v):
        raise ValueError(expected)
    return v


def _finite(v: int | float, expected: str) -> float:
    """``v`` as a float; ValueError(``expected``) for an integer past a float's range or a
    non-finite number (YAML's .inf)."""
    try:
        f = float(v)
    except OverflowError:
        raise ValueError(f"{expected} of ordinary size") from None
    if not math.isfinite(f):
        raise ValueError(expected)
    return f


def _duration(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError("a duration like '30s' or '2m'")
    s = parse_duration(v) if isinstance(v, str) else _finite(v, "a duration like '30s' or '2m'")
    if s <= 0:
        raise ValueError("a duration > 0")
    return s


def _rate(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError("a rate like '200/s'")
    return parse_rate(v) if isinstance(v, str) else _finite(v, "a rate like '200/s'")


Duration = Annotated[float, BeforeValidator(_duration)]
Rate = Annotated[float, BeforeValidator(_rate)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Node(_Part):
    """One PostgreSQL server as the probe reaches it (through its client link, if any)."""

    role: Literal["primary", "replica"]
    conninfo: str = Field(min_length=1)
    container: str | None = None

    @field_validator("conninfo")
    @classmethod
    def _no_secret(cls, v: str) -> str:
        if _SECRET.search(v):
            raise ValueError(
                "a connection string without a password (use PGPASSFILE, a service file "
                "or PGPASSWORD in the environment)"
            )
        return v


class Toxiproxy(_Part):
    api: str = Field(pattern=r"^https?://")
    #: link name as plans write it (``replica1->primary``) -> the proxy's name on the server
    links: dict[str, str] = Field(default_factory=dict)

    @field_validator("links")
    @classmethod
    def _directed(cls, v: dict[str, str]) -> dict[str, str]:
        for link in v:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+->[A-Za-z0-9_.-]+", link):
                raise ValueError(f"link names like 'replica1->primary' (got {link!r})")
        return v


class Docker(_Part):
    #: the engine, as ``docker -H`` takes it; None: the docker CLI's own default
    host: str | None = None


class Failover(_Part):
    """The team's own failover: an argv run once per ``promote`` step, ``{target}`` replaced
    by the node to promote. It must exit 0 within ``timeout``."""

    command: list[str] = Field(min_length=1)
    timeout: Duration = 30.0


class Probe(_Part):
    schema_: str = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _ident(cls, v: str) -> str:
        return _matching(_IDENT, v, "a lower-case SQL identifier (letters, digits, _)")


class Limits(_Part):
    max_fault: Duration
    max_total: Duration
    max_rate: Rate


class SqlStop(_Part):
    """Stop when ``query`` on ``node`` returns true in its first column (or fails)."""

    node: str
    query: str


class HttpStop(_Part):
    """Stop when ``url`` does not answer with a 2xx status within ``timeout``."""

    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 1.0


class PrometheusStop(_Part):
    """Stop when the instant ``query`` against the Prometheus at ``url`` returns a sample above
    ``above`` (or below ``below``; exactly one of the two), or when that Prometheus does not
    answer within ``timeout`` or rejects the query. An empty result is not a stop."""

    url: str = Field(pattern=r"^https?://")
    query: str = Field(min_length=1)
    above: float | None = None
    below: float | None = None
    timeout: Duration = 1.0

    @model_validator(mode="after")
    def _one_threshold(self) -> PrometheusStop:
        if (self.above is None) == (self.below is None):
            raise ValueError("exactly one of above or below (the threshold the query must cross)")
        return self

    @property
    def threshold(self) -> str:
        """The crossing that stops the run, as the plan prints it ("> 0.5")."""
        return f"> {self.above:g}" if self.above is not None else f"< {self.below:g}"


class StopConditions(_Part):
    #: fraction of the writes completed in the last ``window`` that did not succeed
    max_error_rate: float | None = Field(default=None, gt=0, le=1)
    error_window: Duration = 2.0
    #: bytes the named replica's replay is behind the primary's current WAL (via SQL)
    max_lag_bytes: int | None = Field(default=None, gt=0)
    sql: list[SqlStop] = Field(default_factory=list)
    http: list[HttpStop] = Field(default_factory=list)
    prometheus: list[PrometheusStop] = Field(default_factory=list)
    poll: Duration = 0.1


class InventoryBase(_Part):
    """What every system's inventory has: the name, Toxiproxy, Docker, the limits and the stop
    conditions; the system's own model adds its nodes and its probe."""

    name: str
    toxiproxy: Toxiproxy | None = None
    docker: Docker | None = None
    limits: Limits
    stop_conditions: StopConditions = StopConditions()
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _matching(_NAME, v, "a name of letters, digits, '.', '_', '-' (at most 63)")

    @property
    def links(self) -> dict[str, str]:
        return dict(self.toxiproxy.links) if self.toxiproxy else {}

    @property
    def containers(self) -> dict[str, str | None]:
        """Node name -> its container (None: no node action on it), in inventory order."""
        raise NotImplementedError

    def container_of(self, node: str) -> str | None:
        return self.containers.get(node)


class Inventory(InventoryBase):
    """A PostgreSQL system's inventory."""

    system: Literal["postgres"] = "postgres"
    nodes: dict[str, Node]
    failover: Failover | None = None
    probe: Probe

    @model_validator(mode="after")
    def _consistent(self) -> Inventory:
        primaries = [n for n, node in self.nodes.items() if node.role == "primary"]
        if primaries != ["primary"]:
            raise ValueError(
                "exactly one node with role primary, named 'primary' (the name plans use "
                f"for the writable node); got {primaries or 'none'}"
            )
        for stop in self.stop_conditions.sql:
            if stop.node not in self.nodes:
                raise ValueError(f"stop_conditions.sql node {stop.node!r} is not in nodes")
        if any(n.container for n in self.nodes.values()) and self.docker is None:
            raise ValueError("a docker section (host may be empty) when nodes name containers")
        return self

    @property
    def primary(self) -> str:
        return "primary"

    @property
    def replicas(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.role == "replica"]

    @property
    def containers(self) -> dict[str, str | None]:
        return {n: node.container for n, node in self.nodes.items()}


#: a Kafka broker's address: host (a name, an IPv4 address or a bracketed IPv6 one) and port
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$")
#: a topic prefix: Kafka's topic characters, room left for the run id, no internal '__'
_TOPIC_PREFIX = re.compile(r"^(?!__)[A-Za-z0-9._-]{1,200}$")
_BROKER_NAME = re.compile(r"^broker([1-9][0-9]*)$")
#: the largest Kafka system a game day plans for (the scenario package's MAX_BROKERS)
MAX_KAFKA_BROKERS = 9


class Broker(_Part):
    """One Kafka broker as the probe reaches it: ``bootstrap`` is the address the broker
    advertises to clients (through its client proxy, if any, so client faults apply)."""

    bootstrap: str
    node_id: int = Field(ge=0)
    container: str | None = None

    @field_validator("bootstrap")
    @classmethod
    def _address(cls, v: str) -> str:
        m = _ADDRESS.fullmatch(v)
        if m is None or not 1 <= int(m.group(2)) <= 65535:
            raise ValueError("host:port, the address the broker advertises (port 1 to 65535)")
        return v


class KafkaProbe(_Part):
    """Where the Kafka probe writes: one topic ``<topic_prefix><run id>`` with one partition,
    created with these settings (each bounds what an acknowledged write survives, so none is
    defaulted) on the first ``replication_factor`` brokers of the inventory, in its order:
    the first broker is the partition's preferred leader."""

    topic_prefix: str
    replication_factor: int = Field(ge=1)
    min_insync_replicas: int = Field(ge=1)
    unclean_leader_election: bool

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _matching(
            _TOPIC_PREFIX,
            v,
            "a Kafka topic prefix: 1 to 200 of letters, digits, '.', '_', '-', not "
            "starting with '__' (Kafka's internal topics)",
        )

    @model_validator(mode="after")
    def _isr(self) -> KafkaProbe:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) at most replication_factor "
                f"({self.replication_factor}): more could never be in sync"
            )
        return self


class KafkaInventory(InventoryBase):
    """A Kafka system's inventory."""

    system: Literal["kafka"]
    brokers: dict[str, Broker]
    probe: KafkaProbe

    @field_validator("brokers")
    @classmethod
    def _names(cls, v: dict[str, Broker]) -> dict[str, Broker]:
        want = [f"broker{i}" for i in range(1, len(v) + 1)]
        if not v or sorted(v, key=_broker_number) != want:
            raise ValueError(
                "brokers named broker1 .. brokerN, the names plans use (the broker's own "
                f"id goes in node_id); got {', '.join(v) or 'none'}"
            )
        if len(v) > MAX_KAFKA_BROKERS:
            raise ValueError(f"at most {MAX_KAFKA_BROKERS} brokers")
        ids = [b.node_id for b in v.values()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a different node_id for each broker; got {ids}")
        addresses = [b.bootstrap for b in v.values()]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"a different bootstrap address for each broker; got {addresses}")
        return dict(sorted(v.items(), key=lambda kv: _broker_number(kv[0])))

    def cross_problems(self) -> list[tuple[tuple[str, ...], str, str]]:
        """The rules between sections, each as (key path, given, expected); run once every
        section is valid on its own."""
        out: list[tuple[tuple[str, ...], str, str]] = []
        rf = self.probe.replication_factor
        if rf > len(self.brokers):
            out.append(
                (
                    ("probe", "replication_factor"),
                    str(rf),
                    f"at most the number of brokers ({len(self.brokers)})",
                )
            )
        known = kafka_link_names(len(self.brokers))
        for link in self.links:
            if link not in known:
                out.append(
                    (
                        ("toxiproxy", "links", link),
                        link,
                        "a Kafka link: client->brokerA, brokerB->brokerA (B fetching from A) "
                        "or brokerB->controllerA, A and B brokers of the inventory",
                    )
                )
        c = self.stop_conditions
        if c.sql:
            out.append(
                (
                    ("stop_conditions", "sql"),
                    "SQL stop conditions",
                    "none on Kafka: use http or prometheus",
                )
            )
        if c.max_lag_bytes is not None:
            out.append(
                (
                    ("stop_conditions", "max_lag_bytes"),
                    str(c.max_lag_bytes),
                    "none on Kafka (it reads PostgreSQL's replay lag): use prometheus",
                )
            )
        if self.docker is None:
            for n, b in self.brokers.items():
                if b.container:
                    out.append(
                        (
                            ("brokers", n, "container"),
                            b.container,
                            "a docker section too (host may be empty) when brokers name containers",
                        )
                    )
        return out

    @property
    def containers(self) -> dict[str, str | None]:
        return {n: b.container for n, b in self.brokers.items()}

    @property
    def bootstrap(self) -> list[str]:
        return [b.bootstrap for b in self.brokers.values()]

    @property
    def replicas(self) -> list[str]:
        """The brokers the probe's topic is placed on, the preferred leader first."""
        return list(self.brokers)[: self.probe.replication_factor]

    def broker_of(self, node_id: int) -> str | None:
        """The inventory's name of the broker with ``node.id`` ``node_id`` (None: not ours)."""
        return next((n for n, b in self.brokers.items() if b.node_id == node_id), None)


def _broker_number(name: str) -> int:
    m = _BROKER_NAME.fullmatch(name)
    return int(m.group(1)) if m else 10**6


AnyInventory = Inventory | KafkaInventory
SYSTEMS = ("postgres", "kafka")


def loads_inventory(text: str, file: str = "<inventory>") -> AnyInventory:
    data, lines, problems = read_yaml(text, file)
    if problems:
        raise ScenarioError(problems)
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "(file)", repr(data)[:60], "a mapping")])
    system = data.get("system", "postgres")
    if system not in SYSTEMS:
        line = line_of(lines, ("system",))
        raise ScenarioError(
            [Problem(file, line, "system", repr(system)[:60], "postgres (the default) or kafka")]
        )
    model: type[Inventory] | type[KafkaInventory] = (
        KafkaInventory if system == "kafka" else Inventory
    )
    try:
        inv = model.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(problems_of(e, lines, file, data)) from None
    if isinstance(inv, KafkaInventory) and (cross := inv.cross_problems()):
        raise ScenarioError(
            [Problem(file, line_of(lines, k), dotted(k), g, x) for k, g, x in cross]
        )
    return inv


def load_inventory(path: str | Path) -> AnyInventory:
    """Load and validate an inventory file; ScenarioError lists every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([Problem(str(p), None, "(file)", str(e), "a readable file")]) from None
    return loads_inventory(text, str(p)).model_copy(update={"path": p})
