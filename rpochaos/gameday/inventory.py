"""The inventory: what a game day may touch, reviewed once by the team that owns the system.

An ``*.inventory.yaml`` file names the system (``name``, typed to confirm a run), its nodes
(how to reach each: a libpq connection string or ``service=NAME``; never a password), the
Toxiproxy API and which of its proxies is which directed link, optionally the Docker engine
and each node's container (crash = ``docker kill``, pause = ``docker pause``, restart =
``docker restart``), optionally a failover command (none: observe only), the schema the probe
may write in, the limits, and the stop conditions. ``load_inventory(path)`` returns the
validated ``Inventory`` or raises ``ScenarioError`` listing every problem with file and line.
Anything not named here is refused before a run starts.
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
from rpochaos.gameday.lines import problems_of, read_yaml
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


class Inventory(_Part):
    name: str
    system: Literal["postgres"] = "postgres"
    nodes: dict[str, Node]
    toxiproxy: Toxiproxy | None = None
    docker: Docker | None = None
    failover: Failover | None = None
    probe: Probe
    limits: Limits
    stop_conditions: StopConditions = StopConditions()
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _matching(_NAME, v, "a name of letters, digits, '.', '_', '-' (at most 63)")

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
    def links(self) -> dict[str, str]:
        return dict(self.toxiproxy.links) if self.toxiproxy else {}


def loads_inventory(text: str, file: str = "<inventory>") -> Inventory:
    data, lines, problems = read_yaml(text, file)
    if problems:
        raise ScenarioError(problems)
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "(file)", repr(data)[:60], "a mapping")])
    try:
        return Inventory.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(problems_of(e, lines, file, data)) from None


def load_inventory(path: str | Path) -> Inventory:
    """Load and validate an inventory file; ScenarioError lists every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([Problem(str(p), None, "(file)", str(e), "a readable file")]) from None
    return loads_inventory(text, str(p)).model_copy(update={"path": p})
