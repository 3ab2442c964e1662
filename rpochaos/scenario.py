"""Scenario files: load, validate, and the resolved model.

A scenario is data, validated before anything starts. ``load(path)`` returns a ``Scenario``
or raises ``ScenarioError`` listing *every* problem at once, each with file, line, key,
what was given and what was expected.

File format (YAML)::

    # comment: what this demonstrates and what outcome to expect
    name: pg-async-partition-crash      # optional, defaults to the file's stem
    description: ...                    # optional
    system: postgres                    # required; only "postgres" for now
    seed: 7                             # optional int, default 0
    topology:
      synchronous_commit: "on"          # required: off | local | remote_write | on | remote_apply
                                        #   (YAML's bare on/off booleans are accepted as "on"/"off")
      num_sync: 1                       # optional int >= 1: FIRST n (sync) or ANY n (quorum); default 1
      replicas:                         # required list (may be empty)
        - name: replica1                # [a-z][a-z0-9_]*, unique, not "primary" or "client"
          mode: async                   # required: async | sync | quorum (no mixing sync and quorum)
      settings:                         # optional map of extra PostgreSQL settings (str/int/float)
        wal_sender_timeout: 10s
    workload:
      rate: 500/s                       # required: N/s or N/m, > 0
      concurrency: 4                    # optional int >= 1, default 1
      duration: 12s                     # required duration > 0
      commit_timeout: 1s                # optional duration: the client cancels a commit still
                                        #   waiting after this long (PostgreSQL cancel request)
      connect_timeout: 1s               # optional duration, default 1s
    schedule:                           # list of steps; each has exactly one action key
      - at: 3s                          # required duration, < workload.duration
        partition: replica1->primary    # action: target
        mode: blackhole                 # partition only: blackhole | reset (required)
        direction: both                 # partition only: both | upstream | downstream (default both)
        for: 5s                         # optional duration; without it the fault lasts to the end
      - at: 4s
        latency: client->primary
        delay: 200ms                    # latency only, required
        jitter: 0ms                     # latency only, optional
      - at: 5s
        bandwidth: replica1->primary
        rate: 64KB/s                    # bandwidth only, required, KB/s > 0
      - at: 8s
        crash: primary                  # crash | restart | promote take a node name
        outage: true                    # exactly one step must declare the outage
      - at: 8500ms
        promote: replica1               # promote takes a replica
    expect:
      rpo: 1s                           # required duration >= 0
      max_lost: 0                       # optional int assertions
      min_lost: 1
      max_rto: 5s                       # optional duration

Links are named by direction: ``<replica>->primary`` for each replica's replication link and
``client-><node>`` for the workload's path to each node. Durations: ``250ms``, ``5s``, ``1.5s``,
``2m`` (a bare number is an error). Rates: ``1000/s``, ``60/m``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ReplicationMode = Literal["async", "sync", "quorum"]
SyncCommit = Literal["off", "local", "remote_write", "on", "remote_apply"]
Action = Literal["partition", "latency", "bandwidth", "crash", "restart", "promote"]
#: actions whose target is a link ("a->b"); the others target a node
LINK_ACTIONS: frozenset[str] = frozenset({"partition", "latency", "bandwidth"})
NODE_ACTIONS: frozenset[str] = frozenset({"crash", "restart", "promote"})


@dataclass(frozen=True)
class Replica:
    name: str
    mode: ReplicationMode


@dataclass(frozen=True)
class Topology:
    synchronous_commit: SyncCommit
    replicas: tuple[Replica, ...]
    num_sync: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # values rendered as strings

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node name, primary first."""
        return ("primary", *(r.name for r in self.replicas))

    @property
    def links(self) -> tuple[str, ...]:
        """Every faultable link: each replica's replication link, then client->node."""
        return (
            *(f"{r.name}->primary" for r in self.replicas),
            *(f"client->{n}" for n in self.nodes),
        )

    @property
    def synchronous_standby_names(self) -> str:
        """The value PostgreSQL gets: '' (all async), 'FIRST n (a, b)' or 'ANY n (a, b)'."""
        sync = [r.name for r in self.replicas if r.mode == "sync"]
        quorum = [r.name for r in self.replicas if r.mode == "quorum"]
        if quorum:
            return f"ANY {self.num_sync} ({', '.join(quorum)})"
        if sync:
            return f"FIRST {self.num_sync} ({', '.join(sync)})"
        return ""


@dataclass(frozen=True)
class Workload:
    rate: float  # writes per second
    duration: float  # seconds
    concurrency: int = 1
    commit_timeout: float | None = None  # seconds
    connect_timeout: float = 1.0  # seconds


@dataclass(frozen=True)
class Step:
    """One scheduled action. ``params`` holds the action's own keys, already parsed:
    partition: mode (str), direction (str); latency: delay (s, float), jitter (s, float);
    bandwidth: rate_kbps (float). Node actions have no params."""

    index: int  # position in the schedule list, 0-based
    at: float  # seconds after the workload starts
    action: Action
    target: str  # link ("replica1->primary") or node ("primary")
    duration: float | None = None  # 'for', seconds; None = until the end of the run
    outage: bool = False
    params: dict[str, str | float] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class Expect:
    rpo: float  # seconds
    max_lost: int | None = None
    min_lost: int | None = None
    max_rto: float | None = None  # seconds


@dataclass(frozen=True)
class Scenario:
    name: str
    system: Literal["postgres"]
    topology: Topology
    workload: Workload
    schedule: tuple[Step, ...]  # sorted by 'at', ties in file order
    expect: Expect
    seed: int = 0
    description: str = ""
    path: Path | None = None  # the file it came from, if any

    @property
    def outage_step(self) -> Step:
        """The step that declares the outage (validation guarantees exactly one)."""
        return next(s for s in self.schedule if s.outage)


def parse_duration(text: str) -> float:
    """'250ms' -> 0.25, '5s' -> 5.0, '1.5s' -> 1.5, '2m' -> 120.0. Raises ValueError otherwise."""
    raise NotImplementedError


def parse_rate(text: str) -> float:
    """'1000/s' -> 1000.0, '60/m' -> 1.0 (per second). Raises ValueError otherwise."""
    raise NotImplementedError


def loads(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``source`` names it in error messages."""
    raise NotImplementedError


def load(path: str | Path) -> Scenario:
    """Load and validate one scenario file. Raises ScenarioError listing every problem."""
    raise NotImplementedError


def to_dict(scenario: Scenario) -> dict[str, object]:
    """The resolved scenario as plain JSON-able data (seconds as floats), for the run record."""
    raise NotImplementedError


def from_dict(data: dict[str, object]) -> Scenario:
    """Inverse of ``to_dict`` (used by ``analyze`` on a stored run)."""
    raise NotImplementedError
