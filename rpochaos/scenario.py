"""Scenario files: load, validate, and the resolved model.

A scenario is data, validated before anything starts. ``load(path)`` returns a ``Scenario``
or raises ``ScenarioError`` listing *every* problem at once, each with file, line, key,
what was given and what was expected. docs/scenarios.md is the user's guide to this format.

File format (YAML)::

    # comment: what this demonstrates and what outcome to expect
    name: pg-async-partition-crash      # optional, defaults to the file's stem
    description: ...                    # optional
    system: postgres                    # required: postgres | kafka (Kafka: see the end)
    seed: 7                             # optional int, default 0: drives every random choice
    time_scale: 60                      # optional number >= 1, default 1; see below
    topology:
      synchronous_commit: "on"          # required: off | local | remote_write | on | remote_apply
                                        #   (YAML's bare on/off booleans are accepted as "on"/"off")
      num_sync: 1                       # optional int >= 1, default 1: FIRST n / ANY n
      replicas:                         # required list (may be empty)
        - name: replica1                # [a-z][a-z0-9_]*, unique; not primary, client or
                                        #   most_up_to_date (reserved)
          mode: async                   # required: async | sync | quorum (no sync+quorum mix)
      settings:                         # optional map of extra PostgreSQL settings (str/int/float)
        wal_sender_timeout: 10s
      archive:                          # optional: WAL archiving + a base backup
        timeout: 60s                    #   required: archive_timeout; divided by time_scale it
                                        #   must be whole seconds >= 1
    workload:
      rate: 500/s                       # required: N/s or N/m, > 0
      concurrency: 4                    # optional int >= 1, default 1
      duration: 12s                     # required duration > 0
      commit_timeout: 1s                # optional duration: the client cancels a commit still
                                        #   waiting after this long (PostgreSQL cancel request;
                                        #   Kafka: the producer's delivery timeout, >= 5s)
      connect_timeout: 1s               # optional duration, default 1s
    schedule:                           # list of steps; each has exactly one action key
      - name: cut                       # optional step name, [a-z][a-z0-9_-]*, unique
        at: 3s                          # duration; the step must start before workload.duration
        partition: replica1->primary    # action: target
        mode: blackhole                 # partition only: blackhole | reset (required)
        direction: both                 # partition: both | upstream | downstream (default both)
        for: 5s                         # optional duration; without it the fault lasts to the end
      - after: cut.end                  # 'at' is relative to step 'cut''s start (or .end: its
        at: 500ms                       #   start + for); 'at' defaults to 0s with 'after'
        latency: client->primary
        delay: 200ms                    # latency only, required
        jitter: 0ms                     # latency only, optional
      - at: {between: [2s, 4s]}         # random, drawn with the seed (also for 'for')
        bandwidth: {choose: [replica1->primary, client->primary]}   # random target, any action
        rate: 64KB/s                    # bandwidth only, required, KB/s > 0
        for: 1s
        every: 2s                       # with repeat: N >= 2, the step happens N times, at
        repeat: 3                       #   at, at+every, ...; 'for' must be <= every
      - at: 1s
        pause: replica1                 # SIGSTOP, then SIGCONT when it ends ('for' allowed)
        process: walreceiver            # pause only, optional: walreceiver | walsender | startup
                                        #   | walwriter | checkpointer | background_writer
                                        #   (default: every process of the node)
      - at: 8s
        crash: primary                  # crash | restart | pause take a node name
        links: cut                      # crash only: cut (default) | keep; see below
        outage: true                    # exactly one step must declare the outage; it may
                                        #   not repeat
      - at: 8500ms
        promote: most_up_to_date        # a replica's name, or the one with the highest
        candidates: [replica1]          #   received LSN among candidates (only with
                                        #   most_up_to_date; default every replica)
        max_lag: 16MB                   # optional: refuse the failover when the chosen replica
                                        #   is more than this much WAL behind (B, kB, MB, GB;
                                        #   1kB = 1024 B as in postgresql.conf)
      - at: 2s
        archive_fail: primary           # needs topology.archive: archive_command fails while it
                                        #   lasts ('for' allowed); target primary only
      - at: 9s
        restore: primary                # needs topology.archive: a new primary from the base
                                        #   backup + WAL archive (instant; at most one)
    expect:
      rpo: 1s                           # required duration >= 0
      max_lost: 100                     # optional int assertions (min_lost <= max_lost)
      min_lost: 1
      max_rto: 5s                       # optional duration

A crash kills every process of the node at once (SIGKILL). With ``links: cut`` (the default)
it also cuts, at the same instant, every proxied link to and from the node, dropping what is
still in flight through them: the node's host and its network die together, as in a machine
or zone loss. With ``links: keep`` only the processes die; the kernel still delivers what
they had already handed to their sockets (a process crash on a live host).

Links are named by direction: ``<replica>->primary`` for each replica's replication link and
``client-><node>`` for the workload's path to each node. Durations: ``250ms``, ``5s``, ``1.5s``,
``2m`` (a bare number is an error). Rates: ``1000/s``, ``60/m``.

``time_scale: N`` says the file is written in real incident time and the run replays it N
times faster: every timeline duration (step at/for/every and their ``between`` bounds,
workload.duration, expect.rpo, expect.max_rto) is divided by N and workload.rate multiplied
by N. Link properties (latency delay/jitter, bandwidth), commit_timeout, connect_timeout,
max_lag and settings are not scaled. The ``Scenario`` holds the run's (scaled) values;
``Scenario.declared`` gives the file's own.

Random choices (``between``, ``choose``) are resolved by ``rpochaos.schedule.resolve`` with
``random.Random(seed)``, in file order: for each step its ``at``, then for each repetition
its ``for`` and its target. Whether a file is valid never depends on the seed: every check on
times uses the bounds of the random ranges.

Kafka nodes are ``broker1`` .. ``brokerN`` (KRaft, each both broker and controller). A node
action (crash, restart, pause, io_stall, clock_skew) takes a broker or ``leader``: the
leader of partition 0 at the moment the step runs. Kafka has no promote (it elects leaders
itself) and its pause takes no ``process``. Its links are ``client->brokerA``,
``brokerB->brokerA`` (follower B fetching from A) and ``brokerB->controllerA`` (node B to A's
controller role), in ``rpochaos.kafka.cluster.link_names`` order. A link action also takes a
group, kept as written in ``Step.target`` and expanded by the runner when the step runs, NODE
being a broker or ``leader``:

- ``fetch-from:NODE``: every ``brokerX->NODE``, the followers' fetches from NODE;
- ``quorum-of:NODE``: NODE's controller-quorum links, both directions (for NODE = brokerN,
  ``brokerN->controllerX`` and ``brokerX->controllerN``);
- ``all-of:NODE``: every link to or from NODE, ``client->NODE`` included (isolates NODE).

fetch-from and quorum-of need at least 2 brokers.

Kafka (``system: kafka``)::

    system: kafka
    topology:
      brokers: 3                        # required int, 1 to 9
      replication_factor: 3             # required int, 1 to brokers
      min_insync_replicas: 2            # required int, 1 to replication_factor: a durability
                                        #   knob, never defaulted
      unclean_leader_election: false    # required bool: a durability knob, never defaulted
      partitions: 1                     # optional int >= 1, default 1
      topic: rpochaos                   # optional Kafka topic name, default rpochaos
      settings:                         # optional broker properties (str/int/float/bool,
        replica.lag.time.max.ms: 10000  #   booleans rendered true/false); not the ones the
                                        #   cluster sets (the knobs above, node.id, listeners,
                                        #   the quorum, log.dirs, num.partitions, ...)
    workload:
      rate: 200/s
      concurrency: 4
      duration: 16s
      acks: all                         # required: 0 | 1 | all (the client's defaults changed
      enable_idempotence: true          #   between versions); required bool, true needs acks all
      commit_timeout: 10s               # optional: the producer's delivery timeout, >= 5s
    schedule:
      - at: 3s
        partition: fetch-from:leader    # a Kafka link, or a group: fetch-from: | quorum-of: |
        mode: blackhole                 #   all-of: + a broker or leader
      - at: 6s
        crash: leader                   # a broker, or leader (of partition 0, when it runs)
        outage: true
    expect:
      rpo: 1s
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal, TypeVar, cast, get_args

import yaml

from rpochaos.errors import Problem, ScenarioError

ReplicationMode = Literal["async", "sync", "quorum"]
SyncCommit = Literal["off", "local", "remote_write", "on", "remote_apply"]
#: the systems under test
SystemName = Literal["postgres", "kafka"]
SYSTEMS: tuple[str, ...] = get_args(SystemName)
Action = Literal[
    "partition",
    "latency",
    "bandwidth",
    "crash",
    "restart",
    "promote",
    "pause",
    "io_stall",
    "clock_skew",
    "archive_fail",
    "restore",
]
#: a parsed action parameter (see ``Step``)
ParamValue = str | int | float | list[str]
#: actions whose target is a link ("a->b"); the others target a node
LINK_ACTIONS: frozenset[str] = frozenset({"partition", "latency", "bandwidth"})
NODE_ACTIONS: frozenset[str] = frozenset(
    {"crash", "restart", "promote", "pause", "io_stall", "clock_skew", "archive_fail", "restore"}
)
#: actions that need ``topology.archive`` and act on the primary only
ARCHIVE_ACTIONS: frozenset[str] = frozenset({"archive_fail", "restore"})
#: the most repetitions one step may have
MAX_REPEAT = 10_000
#: promote's target meaning "the replica with the highest received LSN"
MOST_UP_TO_DATE = "most_up_to_date"
PAUSE_PROCESSES: tuple[str, ...] = (
    "walreceiver",
    "walsender",
    "startup",
    "walwriter",
    "checkpointer",
    "background_writer",
)


@dataclass(frozen=True)
class Replica:
    name: str
    mode: ReplicationMode


@dataclass(frozen=True)
class Archive:
    """WAL archiving on the primary (``topology.archive``): archive_mode=on, an
    archive_command copying each finished segment into the run's archive directory, and
    ``archive_timeout`` = ``timeout``: run seconds (the file's value / time_scale), a whole
    number >= 1, since PostgreSQL counts it in whole seconds."""

    timeout: float


@dataclass(frozen=True)
class Topology:
    synchronous_commit: SyncCommit
    replicas: tuple[Replica, ...]
    num_sync: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # values rendered as strings
    #: WAL archiving and a base backup at bring-up; None: no archive
    archive: Archive | None = None

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


#: Kafka: the largest cluster a scenario may declare (each broker is a JVM and a quorum voter)
MAX_BROKERS = 9
#: Kafka: a step target meaning "the leader of partition 0 when the step runs"
LEADER = "leader"
#: Kafka link groups, ``GROUP:NODE``; the runner expands them when the step runs
LINK_GROUPS: tuple[str, ...] = ("fetch-from", "quorum-of", "all-of")
#: Kafka producer acks, as the scenario holds them
KAFKA_ACKS: tuple[str, ...] = ("0", "1", "all")
#: Kafka: the producer's request timeout (s); delivery.timeout.ms may not be shorter
KAFKA_REQUEST_TIMEOUT_S = 5.0


def kafka_link_names(brokers: int) -> tuple[str, ...]:
    """Every proxied link of a Kafka cluster of ``brokers`` nodes (what
    ``rpochaos.kafka.cluster.link_names`` creates; it lives here because validation must not
    need kafka-python): ``client->brokerA`` for each A, then for each A and each B != A,
    ``brokerB->brokerA`` (follower B fetching from A) and ``brokerB->controllerA`` (node B
    to A's controller role)."""
    ids = range(1, brokers + 1)
    out = [f"client->broker{a}" for a in ids]
    for a in ids:
        for b in ids:
            if a != b:
                out.append(f"broker{b}->broker{a}")
                out.append(f"broker{b}->controller{a}")
    return tuple(out)


@dataclass(frozen=True)
class KafkaTopology:
    """A Kafka cluster in KRaft combined mode: ``brokers`` nodes, one topic."""

    brokers: int
    replication_factor: int
    min_insync_replicas: int
    unclean_leader_election: bool
    partitions: int = 1
    topic: str = "rpochaos"
    settings: dict[str, str] = field(default_factory=dict)  # broker properties, as strings

    @property
    def nodes(self) -> tuple[str, ...]:
        """``broker1`` .. ``brokerN``."""
        return tuple(f"broker{i}" for i in range(1, self.brokers + 1))

    @property
    def links(self) -> tuple[str, ...]:
        """Every faultable link (``rpochaos.kafka.cluster.link_names`` order)."""
        return kafka_link_names(self.brokers)


@dataclass(frozen=True)
class Workload:
    rate: float  # writes per second
    duration: float  # seconds
    concurrency: int = 1
    #: seconds. PostgreSQL: the client cancels a commit still waiting after this long.
    #: Kafka: the producer's delivery timeout (delivery.timeout.ms).
    commit_timeout: float | None = None
    connect_timeout: float = 1.0  # seconds
    acks: str | None = None  # Kafka only: "0", "1" or "all" (None for PostgreSQL)
    enable_idempotence: bool | None = None  # Kafka only (None for PostgreSQL)

    @property
    def producer_acks(self) -> int | str | None:
        """``acks`` as a Kafka client takes it: 0, 1 or "all" (None for PostgreSQL)."""
        if self.acks is None or self.acks == "all":
            return self.acks
        return int(self.acks)


@dataclass(frozen=True)
class Step:
    """One scheduled action, resolved: fixed time, fixed target, in run (scaled) seconds.

    ``params`` holds the action's own keys, already parsed:

    - partition: mode (str), direction (str)
    - latency: delay (s, float), jitter (s, float) -- never scaled by time_scale
    - bandwidth: rate_kbps (float)
    - crash: links (str: cut | keep)
    - pause: process (str, one of PAUSE_PROCESSES); absent = every process of the node
    - promote: policy (str: named | most_up_to_date), candidates (list[str]: the one target
      for named, else the replicas to choose among), max_lag_bytes (int, only when declared)
    - restart: nothing
    """

    index: int  # unique in the resolved schedule: file order, each repetition in turn
    at: float  # seconds after the workload starts
    action: Action
    #: as written: a link ("replica1->primary", "broker2->broker1") or Kafka link group
    #: ("fetch-from:leader"), a node ("primary", "broker2", or Kafka's "leader"), or
    #: most_up_to_date (promote); the runner resolves "leader" and groups when the step runs
    target: str
    duration: float | None = None  # 'for', seconds; None = until the end of the run
    outage: bool = False
    params: dict[str, ParamValue] = field(default_factory=dict)
    line: int | None = None
    #: the step's name; NAME#k (or step<source_index>#k if unnamed) for repetition k of N >= 2
    name: str | None = None
    #: position of the step in the file's schedule list (0-based); -1 here means ``index``
    source_index: int = -1

    def __post_init__(self) -> None:
        if self.source_index < 0:
            object.__setattr__(self, "source_index", self.index)

    def str_param(self, key: str, default: str | None = None) -> str:
        """``params[key]`` as text (KeyError without a default, TypeError if not text)."""
        v = self.params.get(key, default)
        if v is None:
            raise KeyError(key)
        if not isinstance(v, str):
            raise TypeError(f"step {self.index} param {key} is {v!r}, not text")
        return v

    def float_param(self, key: str, default: float | None = None) -> float:
        """``params[key]`` as a number (KeyError without a default, TypeError if not one)."""
        v = self.params.get(key, default)
        if v is None:
            raise KeyError(key)
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise TypeError(f"step {self.index} param {key} is {v!r}, not a number")
        return float(v)

    def list_param(self, key: str) -> list[str]:
        """``params[key]`` as a list of text ([] when absent; TypeError if not a list)."""
        v = self.params.get(key, [])
        if not isinstance(v, list):
            raise TypeError(f"step {self.index} param {key} is {v!r}, not a list")
        return list(v)


@dataclass(frozen=True)
class Between:
    """A random duration drawn uniformly from [low, high] seconds (as declared)."""

    low: float
    high: float


@dataclass(frozen=True)
class Choose:
    """A random target: one of ``options``."""

    options: tuple[str, ...]


@dataclass(frozen=True)
class StepSpec:
    """One step as written in the file: declared (unscaled) seconds, random choices unmade.

    ``rpochaos.schedule.resolve`` turns specs into ``Step``s. ``params`` are the resolved
    step's params, except that a named promote gets ``candidates`` at resolution.
    """

    source_index: int
    action: Action
    target: str | Choose
    at: float | Between = 0.0  # offset from 'after' when given, else from the workload start
    duration: float | Between | None = None  # 'for'
    after: str | None = None  # a step's name
    after_end: bool = False  # 'after: NAME.end': relative to that step's start + its 'for'
    every: float | None = None
    repeat: int = 1
    outage: bool = False
    params: dict[str, ParamValue] = field(default_factory=dict)
    name: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Expect:
    rpo: float  # seconds
    max_lost: int | None = None
    min_lost: int | None = None
    max_rto: float | None = None  # seconds


@dataclass(frozen=True)
class Declared:
    """The file's own timeline values: real incident time, before time_scale compressed them."""

    time_scale: float
    workload: Workload
    expect: Expect


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. ``workload``, ``expect`` and ``schedule`` are in run time: the
    file's timeline divided by ``time_scale`` (and the rate multiplied by it)."""

    name: str
    system: SystemName
    topology: Topology | KafkaTopology
    workload: Workload
    schedule: tuple[Step, ...]  # resolved: sorted by 'at', ties by index (file order)
    expect: Expect
    seed: int = 0
    description: str = ""
    path: Path | None = None  # the file it came from, if any
    time_scale: float = 1.0  # 1 s of this run stands for time_scale s of the incident
    #: the steps as written, to re-resolve with another seed; () = the schedule's own steps
    specs: tuple[StepSpec, ...] = ()
    #: the backend the file asks for (local | docker), if any; see run.resolve_backend
    backend: str | None = None

    @property
    def outage_step(self) -> Step:
        """The step that declares the outage (validation guarantees exactly one)."""
        return next(s for s in self.schedule if s.outage)

    @property
    def declared(self) -> Declared:
        """The workload and expectations in the file's own (real incident) time."""
        n, w, e = self.time_scale, self.workload, self.expect
        if n == 1:
            return Declared(1.0, w, e)
        return Declared(
            time_scale=n,
            workload=replace(w, rate=w.rate / n, duration=w.duration * n),
            expect=replace(e, rpo=e.rpo * n, max_rto=None if e.max_rto is None else e.max_rto * n),
        )

    def real(self, seconds: float) -> float:
        """Run seconds -> the incident's real seconds (``seconds * time_scale``)."""
        return seconds * self.time_scale

    def with_seed(self, seed: int) -> Scenario:
        """This scenario with another seed: its random choices drawn again from it."""
        from rpochaos.schedule import resolve

        return replace(self, seed=seed, schedule=resolve(self, seed))


# --------------------------------------------------------------------------------------------
# Durations and rates

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_T = TypeVar("_T")
_DURATION_RE = re.compile(_NUMBER + r"(ms|s|m)")
_RATE_RE = re.compile(_NUMBER + r"/(s|m)")
_BANDWIDTH_RE = re.compile(_NUMBER + r"(KB|kB|MB)/s")
_DURATION_UNITS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
}
_RATE_UNITS: dict[str, Fraction] = {"s": Fraction(1), "m": Fraction(1, 60)}
#: KB per unit; 1 MB/s = 1000 KB/s
_BANDWIDTH_UNITS: dict[str, Fraction] = {"KB": Fraction(1), "kB": Fraction(1), "MB": Fraction(1000)}


def _to_float(value: Fraction, text: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{text!r} is too large") from None


def parse_duration(text: str) -> float:
    """'250ms' -> 0.25, '5s' -> 5.0, '1.5s' -> 1.5, '2m' -> 120.0. Raises ValueError otherwise."""
    m = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '250ms', '5s' or '2m'")
    return _to_float(Fraction(m.group(1)) * _DURATION_UNITS[m.group(2)], text)


def parse_rate(text: str) -> float:
    """'1000/s' -> 1000.0, '60/m' -> 1.0 (per second). Raises ValueError otherwise."""
    m = _RATE_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a rate like '1000/s' or '60/m'")
    value = Fraction(m.group(1)) * _RATE_UNITS[m.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} is not a rate > 0")
    return _to_float(value, text)


def _parse_bandwidth(text: str) -> float:
    """'64KB/s' -> 64.0, '1MB/s' -> 1000.0 (KB/s). Raises ValueError otherwise."""
    m = _BANDWIDTH_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a bandwidth like '64KB/s'")
    value = Fraction(m.group(1)) * _BANDWIDTH_UNITS[m.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} is not a bandwidth > 0")
    return _to_float(value, text)


_SIZE_RE = re.compile(_NUMBER + r"(B|kB|KB|MB|GB)")
#: bytes per unit, binary as in postgresql.conf (16MB is one WAL segment)
_SIZE_UNITS: dict[str, int] = {"B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_size(text: str) -> int:
    """'16MB' -> 16777216, '512kB' -> 524288, '0B' -> 0 (1kB = 1024 B). Raises ValueError."""
    m = _SIZE_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a size like '16MB', '512kB' or '0B'")
    value = Fraction(m.group(1)) * _SIZE_UNITS[m.group(2)]
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


# --------------------------------------------------------------------------------------------
# The YAML tree, with lines

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_STEP_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*")
_AFTER_RE = re.compile(r"([a-z][a-z0-9_-]*)(\.end)?")
_SCENARIO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: settings rpochaos sets itself (from the topology, or to run the cluster)
_MANAGED_SETTINGS = frozenset(
    {
        "synchronous_commit",
        "synchronous_standby_names",
        "port",
        "listen_addresses",
        "unix_socket_directories",
        "cluster_name",
    }
)
#: settings topology.archive decides (archive_mode is on exactly when it is declared)
_ARCHIVE_SETTINGS = frozenset(
    {"archive_mode", "archive_command", "archive_library", "archive_timeout", "restore_command"}
)
_RESERVED_NAMES: tuple[str, ...] = ("primary", "client", MOST_UP_TO_DATE)
_REPLICATION_MODES: tuple[str, ...] = get_args(ReplicationMode)
_SYNC_COMMITS: tuple[str, ...] = get_args(SyncCommit)
_ACTIONS: tuple[str, ...] = get_args(Action)
_ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "partition": ("mode", "direction"),
    "latency": ("delay", "jitter"),
    "bandwidth": ("rate",),
    "crash": ("links",),
    "restart": (),
    "promote": ("candidates", "max_lag"),
    "pause": ("process",),
    "io_stall": (),
    "clock_skew": ("offset", "drift_ppm"),
    "archive_fail": (),
    "restore": (),
}
#: actions that last ('for') until healed; restart, promote and restore are instantaneous
LASTING_ACTIONS: frozenset[str] = frozenset(
    {
        "partition",
        "latency",
        "bandwidth",
        "crash",
        "pause",
        "io_stall",
        "clock_skew",
        "archive_fail",
    }
)
_PARTITION_MODES: tuple[str, ...] = ("blackhole", "reset")
_DIRECTIONS: tuple[str, ...] = ("both", "upstream", "downstream")
#: keys of a step besides its action and the action's own parameters
_TIMING_KEYS: tuple[str, ...] = ("name", "at", "after", "every", "repeat")
_STEP_KEYS: tuple[str, ...] = (
    *_TIMING_KEYS,
    *_ACTIONS,
    "mode",
    "direction",
    "delay",
    "jitter",
    "rate",
    "links",
    "process",
    "candidates",
    "max_lag",
    "offset",
    "drift_ppm",
    "for",
    "outage",
)
_CRASH_LINKS: tuple[str, ...] = ("cut", "keep")
_TOP_KEYS = (
    "name",
    "description",
    "system",
    "backend",
    "seed",
    "time_scale",
    "topology",
    "workload",
    "schedule",
    "expect",
)
_TOPOLOGY_KEYS = ("synchronous_commit", "num_sync", "replicas", "settings", "archive")
_ARCHIVE_KEYS = ("timeout",)
_REPLICA_KEYS = ("name", "mode")
_WORKLOAD_KEYS = ("rate", "concurrency", "duration", "commit_timeout", "connect_timeout")
_KAFKA_TOPOLOGY_KEYS = (
    "brokers",
    "replication_factor",
    "min_insync_replicas",
    "unclean_leader_election",
    "partitions",
    "topic",
    "settings",
)
_KAFKA_TOPOLOGY_REQUIRED = (
    "brokers",
    "replication_factor",
    "min_insync_replicas",
    "unclean_leader_election",
)
_KAFKA_WORKLOAD_KEYS = (*_WORKLOAD_KEYS, "acks", "enable_idempotence")
#: keys that belong to the other system's section, and what to say about them
_POSTGRES_ONLY = "system: postgres"
_KAFKA_ONLY = "system: kafka"
_KAFKA_SETTING_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")
_DECLARE = "declare it: the client's defaults changed between versions"
#: broker properties the Kafka cluster sets itself, and what to use instead
_KAFKA_MANAGED_SETTINGS: dict[str, str] = {
    "min.insync.replicas": "use topology.min_insync_replicas",
    "unclean.leader.election.enable": "use topology.unclean_leader_election",
    "default.replication.factor": "use topology.replication_factor",
    "num.partitions": "use topology.partitions",
    **{
        k: "rpochaos wires nodes, listeners and the quorum through its proxies"
        for k in (
            "node.id",
            "broker.id",
            "process.roles",
            "listeners",
            "advertised.listeners",
            "listener.security.protocol.map",
            "inter.broker.listener.name",
            "controller.listener.names",
            "controller.quorum.voters",
            "controller.quorum.bootstrap.servers",
            "log.dirs",
            "log.dir",
        )
    },
}
_EXPECT_KEYS = ("rpo", "max_lost", "min_lost", "max_rto")

_DURATION = "a duration like '250ms', '5s' or '2m'"
_OFFSET = "a signed duration like '30s', '+30s' or '-2m'"
_POSITIVE_DURATION = "a duration > 0 like '250ms', '5s' or '2m'"
_RATE = "a rate > 0 like '500/s' or '60/m'"
_BANDWIDTH = "a bandwidth > 0 like '64KB/s', '64kB/s' or '1MB/s'"
_SIZE = "a size like '16MB', '512kB' or '0B' (whole bytes; 1kB = 1024 B)"
_BETWEEN = "{between: [LOW, HIGH]}"
_MISSING = "nothing"


def _one_of(options: Sequence[str]) -> str:
    return "one of " + ", ".join(options)


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class _Y:
    """A composed YAML node: a scalar (``value``), a mapping (``entries``) or a list (``items``)."""

    kind: Literal["scalar", "map", "seq"]
    line: int
    value: object = None
    raw: str = ""
    items: list[_Y] = field(default_factory=list)
    #: key -> (line of the key, value); the first occurrence of a duplicated key wins
    entries: dict[str, tuple[int, _Y]] = field(default_factory=dict)


def _given(y: _Y | None) -> str:
    """How a value is shown in a problem: what was written in the file."""
    if y is None:
        return _MISSING
    if y.kind == "map":
        return "a mapping" if y.entries else "an empty mapping"
    if y.kind == "seq":
        return "a list" if y.items else "an empty list"
    v = y.value
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return y.raw if y.raw else "an empty value"
    return y.raw if y.raw else repr(v)


class _Checker:
    """Walks the tree, collecting every problem, and builds the model if there are none."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.run_for: float | None = None  # workload.duration, once known to be valid
        #: whose rules apply: the declared system, or (when that is missing or wrong) the
        #: one the topology looks like
        self.system: SystemName = "postgres"
        self.scale = 1.0  # time_scale, once known (1 when missing or invalid)
        #: whether topology.archive is declared (None: the topology has problems of its own)
        self.archive: bool | None = None

    def add(self, line: int | None, key: str, given: str, expected: str) -> None:
        self.problems.append(Problem(self.file, line, key, given, expected))

    # -- tree building ----------------------------------------------------------------------

    def tree(self, text: str) -> _Y | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else None
            what = " ".join(str(s) for s in (e.context, e.problem) if s) or "invalid YAML"
            self.add(line, "(file)", f"invalid YAML ({what})", "well-formed YAML")
            return None
        except yaml.YAMLError as e:
            self.add(None, "(file)", f"invalid YAML ({e})", "well-formed YAML")
            return None
        except RecursionError:
            self.add(None, "(file)", "YAML nested too deeply", "a scenario of ordinary depth")
            return None
        if root is None:
            self.add(1, "(file)", "an empty file", "a mapping with keys " + ", ".join(_TOP_KEYS))
            return None
        loader = yaml.SafeLoader("")
        try:
            return self._convert(root, "", loader, {}, set())
        except RecursionError:
            self.add(None, "(file)", "YAML nested too deeply", "a scenario of ordinary depth")
            return None
        finally:
            loader.dispose()

    def _convert(
        self,
        node: yaml.Node,
        path: str,
        loader: yaml.SafeLoader,
        done: dict[int, _Y],
        active: set[int],
    ) -> _Y:
        line = node.start_mark.line + 1
        if id(node) in done:  # an alias of a node already converted
            return done[id(node)]
        if id(node) in active:
            self.add(
                line, path or "(file)", "a recursive alias", "a value that does not contain itself"
            )
            return _Y("scalar", line)
        if isinstance(node, yaml.ScalarNode):
            try:
                value = loader.construct_object(node, deep=True)
            except yaml.YAMLError:
                self.add(
                    line, path or "(file)", f"{node.value!r} tagged {node.tag}", "a plain value"
                )
                value = None
            y = _Y("scalar", line, value=value, raw=str(node.value))
        elif isinstance(node, yaml.SequenceNode):
            active.add(id(node))
            y = _Y("seq", line)
            for i, item in enumerate(node.value):
                y.items.append(self._convert(item, f"{path}[{i}]", loader, done, active))
            active.discard(id(node))
        else:
            assert isinstance(node, yaml.MappingNode)
            active.add(id(node))
            y = _Y("map", line)
            for knode, vnode in node.value:
                kline = knode.start_mark.line + 1
                key: object = None
                if isinstance(knode, yaml.ScalarNode):
                    try:
                        key = loader.construct_object(knode, deep=True)
                    except yaml.YAMLError:
                        key = None
                if not isinstance(key, str):
                    shown = knode.value if isinstance(knode, yaml.ScalarNode) else "a collection"
                    self.add(kline, _join(path, str(shown)), f"key {shown!r}", "a text key")
                    continue
                kpath = _join(path, key)
                if key in y.entries:
                    first = y.entries[key][0]
                    self.add(
                        kline,
                        kpath,
                        f"{key!r} a second time",
                        f"each key once (first at line {first})",
                    )
                    continue
                y.entries[key] = (kline, self._convert(vnode, kpath, loader, done, active))
            active.discard(id(node))
        done[id(node)] = y
        return y

    # -- structure --------------------------------------------------------------------------

    def mapping(
        self,
        y: _Y | None,
        path: str,
        line: int | None,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        elsewhere: Sequence[str] = (),
        elsewhere_note: str = "",
    ) -> dict[str, tuple[int, _Y]] | None:
        """Check that ``y`` is a mapping with known keys and every required key.

        ``line`` is where the mapping is named (its key's line). Returns the entries, or None
        if ``y`` is missing or not a mapping (having reported it when it is not). An unknown
        key in ``elsewhere`` (another system's key) is explained with ``elsewhere_note``.
        """
        if y is None:
            return None
        if y.kind != "map":
            self.add(
                y.line, path or "(file)", _given(y), "a mapping with keys " + ", ".join(allowed)
            )
            return None
        for key, (kline, _) in y.entries.items():
            if key not in allowed:
                hint = f" ({key} belongs to {elsewhere_note})" if key in elsewhere else ""
                self.add(
                    kline,
                    _join(path, key),
                    repr(key),
                    "a known key: " + ", ".join(allowed) + (hint or _suggest(key, allowed)),
                )
        for key in required:
            if key not in y.entries:
                self.add(line, _join(path, key), _MISSING, self._describe(path, key))
        return {k: v for k, v in y.entries.items() if k in allowed}

    def _describe(self, path: str, key: str) -> str:
        kafka = self.system == "kafka"
        topology_keys = _KAFKA_TOPOLOGY_KEYS if kafka else _TOPOLOGY_KEYS
        workload_keys = _KAFKA_WORKLOAD_KEYS if kafka else _WORKLOAD_KEYS
        return {
            "system": "'postgres' or 'kafka'",
            "topology": "a mapping with keys " + ", ".join(topology_keys),
            "workload": "a mapping with keys " + ", ".join(workload_keys),
            "brokers": f"an integer from 1 to {MAX_BROKERS}: the number of brokers",
            "replication_factor": "an integer from 1 to topology.brokers",
            "min_insync_replicas": "an integer from 1 to topology.replication_factor: declare "
            "it, it is a durability knob (Kafka's default is 1)",
            "unclean_leader_election": "true or false: declare it, it is a durability knob "
            "(Kafka's default is false)",
            "acks": f"one of 0, 1, all: {_DECLARE} (kafka-python 2.x: 1, 3.x: all)",
            "enable_idempotence": f"true or false: {_DECLARE} (kafka-python 2.x: false, 3.x: true)",
            "expect": "a mapping with keys " + ", ".join(_EXPECT_KEYS),
            "schedule": "a list of steps, exactly one with outage: true",
            "synchronous_commit": _one_of(_SYNC_COMMITS),
            "replicas": "a list of replicas (may be empty)",
            "mode": _one_of(_REPLICATION_MODES),
            "name": "a name like 'replica1' ([a-z][a-z0-9_]*)",
            "rate": _RATE,
            "duration": _POSITIVE_DURATION,
            "at": _DURATION,
            "rpo": _DURATION,
            "between": "[LOW, HIGH]: two durations",
            "choose": "a list of targets to choose from",
            "timeout": "a duration > 0 like '60s': archive_timeout (declare it: it bounds what "
            "archive recovery loses)",
        }.get(key, "a value")

    # -- scalars ----------------------------------------------------------------------------

    def string(self, y: _Y | None, path: str, expected: str = "text") -> str | None:
        if y is None:
            return None
        if y.kind != "scalar" or not isinstance(y.value, str):
            self.add(y.line, path, _given(y), expected)
            return None
        return y.value

    def choice(self, y: _Y | None, path: str, options: Sequence[str]) -> str | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, str) or v not in options:
            self.add(y.line, path, _given(y), _one_of(options))
            return None
        return v

    def integer(self, y: _Y | None, path: str, minimum: int | None) -> int | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, int) or isinstance(v, bool) or (minimum is not None and v < minimum):
            expected = "an integer" if minimum is None else f"an integer >= {minimum}"
            self.add(y.line, path, _given(y), expected)
            return None
        return v

    def duration(
        self, y: _Y | None, path: str, positive: bool = False, alternative: str = ""
    ) -> float | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            seconds = parse_duration(v)
        except ValueError:
            seconds = None
        if seconds is None or (positive and seconds <= 0):
            expected = _POSITIVE_DURATION if positive else _DURATION
            self.add(
                y.line, path, _given(y), expected + (f", or {alternative}" if alternative else "")
            )
            return None
        return seconds

    def offset(self, y: _Y | None, path: str) -> float | None:
        """A signed duration: '30s', '+30s', '-2m'."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            sign = -1.0 if v.startswith("-") else 1.0
            return sign * parse_duration(v[1:] if v[:1] in "+-" else v)
        except ValueError:
            self.add(y.line, path, _given(y), _OFFSET)
            return None

    def time_value(self, y: _Y | None, path: str, positive: bool) -> float | Between | None:
        """A duration, or ``{between: [LOW, HIGH]}`` (a random one)."""
        if y is None:
            return None
        if y.kind != "map":
            return self.duration(y, path, positive, alternative=_BETWEEN + " for a random one")
        entries = self.mapping(y, path, y.line, ("between",), ("between",))
        if entries is None or "between" not in entries:
            return None
        b = entries["between"][1]
        bpath = f"{path}.between"
        low_text = "0 < LOW" if positive else "LOW"
        expected = f"two durations [LOW, HIGH] with {low_text} <= HIGH, like [2s, 4s]"
        if b.kind != "seq" or len(b.items) != 2:
            given = f"a list of {len(b.items)}" if b.kind == "seq" else _given(b)
            self.add(b.line, bpath, given, expected)
            return None
        low = self.duration(b.items[0], f"{bpath}[0]", positive)
        high = self.duration(b.items[1], f"{bpath}[1]", positive)
        if low is None or high is None:
            return None
        if low > high:
            self.add(b.line, bpath, f"[{b.items[0].raw}, {b.items[1].raw}]", expected)
            return None
        return Between(low, high)

    def size(self, y: _Y | None, path: str) -> int | None:
        return self.parsed(y, path, parse_size, _SIZE)

    def number(self, y: _Y | None, path: str, minimum: float, expected: str) -> float | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or not float("-inf") < v < float("inf")
            or v < minimum
        ):
            self.add(y.line, path, _given(y), expected)
            return None
        return float(v)

    def parsed(
        self, y: _Y | None, path: str, parse: Callable[[str], _T], expected: str
    ) -> _T | None:
        """A text value run through ``parse``; a problem (and None) when it is not text or
        ``parse`` raises ValueError."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            return parse(v)
        except ValueError:
            self.add(y.line, path, _given(y), expected)
            return None

    def rate(self, y: _Y | None, path: str) -> float | None:
        return self.parsed(y, path, parse_rate, _RATE)

    def bandwidth(self, y: _Y | None, path: str) -> float | None:
        return self.parsed(y, path, _parse_bandwidth, _BANDWIDTH)

    def boolean(self, y: _Y | None, path: str) -> bool | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, bool):
            self.add(y.line, path, _given(y), "true or false")
            return None
        return v

    def bounded(self, y: _Y | None, path: str, high: int | None, expected: str) -> int | None:
        """An integer from 1 to ``high`` (no upper bound when None)."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if (
            not isinstance(v, int)
            or isinstance(v, bool)
            or v < 1
            or (high is not None and v > high)
        ):
            self.add(y.line, path, _given(y), expected)
            return None
        return v

    # -- sections ---------------------------------------------------------------------------

    def topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[Topology | KafkaTopology | None, list[str] | None]:
        """The topology, and the names to check targets against (None: unknown): the replicas
        of a PostgreSQL topology, the brokers of a Kafka one."""
        if self.system == "kafka":
            return self.kafka_topology(y, line)
        return self.postgres_topology(y, line)

    def kafka_topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[KafkaTopology | None, list[str] | None]:
        path = "topology"
        entries = self.mapping(
            y,
            path,
            line,
            _KAFKA_TOPOLOGY_KEYS,
            _KAFKA_TOPOLOGY_REQUIRED,
            elsewhere=_TOPOLOGY_KEYS,
            elsewhere_note=_POSTGRES_ONLY,
        )
        if entries is None:
            return None, None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        b_y, rf_y, isr_y = get("brokers"), get("replication_factor"), get("min_insync_replicas")
        brokers = self.bounded(b_y, f"{path}.brokers", MAX_BROKERS, self._describe(path, "brokers"))
        rf = self.bounded(
            rf_y,
            f"{path}.replication_factor",
            brokers,
            "an integer from 1 to topology.brokers"
            + (f" ({brokers}): every replica is on its own broker" if brokers else ""),
        )
        isr = self.bounded(
            isr_y,
            f"{path}.min_insync_replicas",
            rf,
            "an integer from 1 to topology.replication_factor"
            + (f" ({rf}): more could never be in sync" if rf else ""),
        )
        unclean_y = get("unclean_leader_election")
        unclean = self.boolean(unclean_y, f"{path}.unclean_leader_election")
        part_y = get("partitions")
        partitions = self.integer(part_y, f"{path}.partitions", 1)
        topic_y = get("topic")
        topic_expected = (
            "a Kafka topic name: 1 to 249 of [A-Za-z0-9._-], not '.' or '..', not starting "
            "with '__' (internal topics)"
        )
        topic = self.string(topic_y, f"{path}.topic", topic_expected)
        if topic is not None and (
            not _TOPIC_RE.fullmatch(topic) or topic in (".", "..") or topic.startswith("__")
        ):
            assert topic_y is not None
            self.add(topic_y.line, f"{path}.topic", repr(topic), topic_expected)
            topic = None
        settings, settings_ok = self.kafka_settings(get("settings"), f"{path}.settings")
        names = None if brokers is None else [f"broker{i}" for i in range(1, brokers + 1)]
        if (
            brokers is None
            or rf is None
            or isr is None
            or unclean is None
            or (part_y is not None and partitions is None)
            or (topic_y is not None and topic is None)
            or not settings_ok
        ):
            return None, names
        return (
            KafkaTopology(
                brokers=brokers,
                replication_factor=rf,
                min_insync_replicas=isr,
                unclean_leader_election=unclean,
                partitions=1 if partitions is None else partitions,
                topic="rpochaos" if topic is None else topic,
                settings=settings,
            ),
            names,
        )

    def kafka_settings(self, y: _Y | None, path: str) -> tuple[dict[str, str], bool]:
        """Broker properties, rendered as strings (booleans as true/false)."""
        settings: dict[str, str] = {}
        if y is None:
            return settings, True
        if y.kind != "map":
            self.add(y.line, path, _given(y), "a mapping of Kafka broker properties")
            return settings, False
        ok = True
        for key, (kline, vy) in y.entries.items():
            spath = f"{path}.{key}"
            if not _KAFKA_SETTING_RE.fullmatch(key):
                self.add(kline, spath, repr(key), "a Kafka broker property like 'log.flush.ms'")
                ok = False
                continue
            if key in _KAFKA_MANAGED_SETTINGS:
                self.add(
                    kline,
                    spath,
                    repr(key),
                    f"a property rpochaos does not set itself ({_KAFKA_MANAGED_SETTINGS[key]}; "
                    "it sets " + ", ".join(sorted(_KAFKA_MANAGED_SETTINGS)) + ")",
                )
                ok = False
                continue
            v = vy.value if vy.kind == "scalar" else None
            if isinstance(v, bool):
                settings[key] = "true" if v else "false"
            elif isinstance(v, str | int | float):
                settings[key] = str(v)
            else:
                self.add(vy.line, spath, _given(vy), "a string, a number, true or false")
                ok = False
        return settings, ok

    def postgres_topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[Topology | None, list[str] | None]:
        path = "topology"
        entries = self.mapping(
            y,
            path,
            line,
            _TOPOLOGY_KEYS,
            ("synchronous_commit", "replicas"),
            elsewhere=_KAFKA_TOPOLOGY_KEYS,
            elsewhere_note=_KAFKA_ONLY,
        )
        if entries is None:
            return None, None
        ok = True

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        sc_y = get("synchronous_commit")
        sync_commit: str | None = None
        if sc_y is not None:
            if sc_y.kind == "scalar" and isinstance(sc_y.value, bool):
                sync_commit = "on" if sc_y.value else "off"
            else:
                sync_commit = self.choice(sc_y, f"{path}.synchronous_commit", _SYNC_COMMITS)
        ok = ok and sync_commit is not None

        num_sync_y = get("num_sync")
        num_sync = self.integer(num_sync_y, f"{path}.num_sync", 1)
        ok = ok and (num_sync is not None or num_sync_y is None)

        replicas: list[Replica] = []
        names: list[str] | None = None
        rep_y = get("replicas")
        if rep_y is not None and rep_y.kind != "seq":
            self.add(rep_y.line, f"{path}.replicas", _given(rep_y), "a list of replicas")
            ok = False
        elif rep_y is not None:
            names = []
            first_sync: tuple[str, str] | None = None  # (mode, path) of the first sync/quorum
            n_sync = 0  # replicas whose (valid) mode is sync or quorum
            seen: dict[str, str] = {}
            for i, item in enumerate(rep_y.items):
                rpath = f"{path}.replicas[{i}]"
                r = self.mapping(item, rpath, item.line, _REPLICA_KEYS, _REPLICA_KEYS)
                if r is None:
                    ok = False
                    continue
                name: str | None = None
                if "name" in r:
                    name_y = r["name"][1]
                    if isinstance(name_y.value, str) and name_y.value not in names:
                        names.append(name_y.value)
                    name = self.string(name_y, f"{rpath}.name", self._describe(rpath, "name"))
                    if name is not None:
                        if not _NAME_RE.fullmatch(name):
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                self._describe(rpath, "name"),
                            )
                            name = None
                        elif name in _RESERVED_NAMES:
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                "a name other than primary, client and most_up_to_date (reserved)",
                            )
                            name = None
                        elif name in seen:
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                f"a unique name ({seen[name]} is already {name!r})",
                            )
                            name = None
                        else:
                            seen[name] = rpath
                mode: str | None = None
                if "mode" in r:
                    mode_y = r["mode"][1]
                    mode = self.choice(mode_y, f"{rpath}.mode", _REPLICATION_MODES)
                    if mode in ("sync", "quorum"):
                        if first_sync is None:
                            first_sync = (mode, rpath)
                        if first_sync[0] == mode:
                            n_sync += 1
                        else:
                            self.add(
                                mode_y.line,
                                f"{rpath}.mode",
                                repr(mode),
                                f"async or {first_sync[0]}: sync and quorum replicas can't be "
                                f"mixed ({first_sync[1]} is {first_sync[0]})",
                            )
                            mode = None
                if name is None or mode is None:
                    ok = False
                    continue
                replicas.append(Replica(name, cast(ReplicationMode, mode)))
            if num_sync is not None and num_sync_y is not None and 0 < n_sync < num_sync:
                self.add(
                    num_sync_y.line,
                    f"{path}.num_sync",
                    _given(num_sync_y),
                    f"at most {n_sync} (the number of sync/quorum replicas)",
                )
                ok = False

        settings: dict[str, str] = {}
        set_y = get("settings")
        if set_y is not None:
            if set_y.kind != "map":
                self.add(
                    set_y.line,
                    f"{path}.settings",
                    _given(set_y),
                    "a mapping of PostgreSQL settings",
                )
                ok = False
            else:
                for key, (kline, vy) in set_y.entries.items():
                    spath = f"{path}.settings.{key}"
                    if not _SETTING_RE.fullmatch(key):
                        self.add(kline, spath, repr(key), "a PostgreSQL setting name")
                        ok = False
                        continue
                    if key.lower() in _ARCHIVE_SETTINGS:
                        self.add(
                            kline,
                            spath,
                            repr(key),
                            "a setting rpochaos does not manage (topology.archive: {timeout: "
                            "DURATION} turns WAL archiving on and sets "
                            + ", ".join(sorted(_ARCHIVE_SETTINGS - {"archive_library"}))
                            + " itself)",
                        )
                        ok = False
                        continue
                    if key.lower() in _MANAGED_SETTINGS:
                        self.add(
                            kline,
                            spath,
                            repr(key),
                            "a setting rpochaos does not manage (it sets "
                            + ", ".join(sorted(_MANAGED_SETTINGS))
                            + " itself; use topology.synchronous_commit and replica modes)",
                        )
                        ok = False
                        continue
                    v = vy.value if vy.kind == "scalar" else None
                    if isinstance(v, bool):
                        settings[key] = "on" if v else "off"
                    elif isinstance(v, str | int | float):
                        settings[key] = str(v)
                    else:
                        self.add(vy.line, spath, _given(vy), "a string or a number")
                        ok = False

        archive: Archive | None = None
        arch_y = get("archive")
        self.archive = arch_y is not None
        if arch_y is not None:
            archive = self.archive_block(arch_y, f"{path}.archive", entries["archive"][0])
            ok = ok and archive is not None

        if rep_y is None or not ok or sync_commit is None:
            return None, names
        topo = Topology(
            synchronous_commit=cast(SyncCommit, sync_commit),
            replicas=tuple(replicas),
            num_sync=num_sync if num_sync is not None else 1,
            settings=settings,
            archive=archive,
        )
        return topo, names

    def archive_block(self, y: _Y, path: str, line: int) -> Archive | None:
        """``topology.archive: {timeout: DURATION}``: archive_timeout must be declared (it is
        the bound on what archive recovery loses) and, divided by time_scale, a whole number
        of seconds >= 1 (PostgreSQL's resolution)."""
        entries = self.mapping(y, path, line, _ARCHIVE_KEYS, _ARCHIVE_KEYS)
        if entries is None or "timeout" not in entries:
            return None
        t_y = entries["timeout"][1]
        expected = (
            "a duration > 0 like '60s': archive_timeout, the longest a finished transaction "
            "waits for its WAL segment to be archived"
        )
        timeout = self.duration(t_y, f"{path}.timeout", positive=True)
        if timeout is None:
            return None
        run_s = timeout / self.scale
        if run_s < 1 or abs(run_s - round(run_s)) > 1e-9:
            scaled = f" / time_scale {self.scale:g} = {run_s:g}s" if self.scale != 1 else ""
            self.add(
                t_y.line,
                f"{path}.timeout",
                _given(t_y) + scaled,
                expected + "; in the run (divided by time_scale) a whole number of seconds "
                ">= 1, since PostgreSQL counts archive_timeout in whole seconds",
            )
            return None
        return Archive(timeout=float(round(run_s)))

    def workload(self, y: _Y | None, line: int | None) -> Workload | None:
        path = "workload"
        kafka = self.system == "kafka"
        entries = self.mapping(
            y,
            path,
            line,
            _KAFKA_WORKLOAD_KEYS if kafka else _WORKLOAD_KEYS,
            ("rate", "duration", "acks", "enable_idempotence") if kafka else ("rate", "duration"),
            elsewhere=() if kafka else _KAFKA_WORKLOAD_KEYS,
            elsewhere_note=_KAFKA_ONLY,
        )
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rate = self.rate(get("rate"), f"{path}.rate")
        duration = self.duration(get("duration"), f"{path}.duration", positive=True)
        self.run_for = duration
        conc_y = get("concurrency")
        concurrency = self.integer(conc_y, f"{path}.concurrency", 1)
        ct_y = get("commit_timeout")
        commit_timeout = self.duration(ct_y, f"{path}.commit_timeout", positive=True)
        if kafka and commit_timeout is not None and commit_timeout < KAFKA_REQUEST_TIMEOUT_S:
            assert ct_y is not None
            self.add(
                ct_y.line,
                f"{path}.commit_timeout",
                _given(ct_y),
                f"a duration >= {KAFKA_REQUEST_TIMEOUT_S:g}s: for Kafka it is the producer's "
                "delivery timeout (delivery.timeout.ms), which may not be shorter than its "
                f"request timeout ({KAFKA_REQUEST_TIMEOUT_S:g}s)",
            )
            commit_timeout = None
        cn_y = get("connect_timeout")
        connect_timeout = self.duration(cn_y, f"{path}.connect_timeout", positive=True)
        acks_y, idem_y = get("acks"), get("enable_idempotence")
        acks = self.acks(acks_y, f"{path}.acks")
        idempotence = self.boolean(idem_y, f"{path}.enable_idempotence")
        if idempotence and acks is not None and acks != "all":
            assert idem_y is not None
            self.add(
                idem_y.line,
                f"{path}.enable_idempotence",
                _given(idem_y),
                f"false with acks: {acks} (an idempotent producer needs acks: all, Kafka's rule)",
            )
            idempotence = None
        if (
            rate is None
            or duration is None
            or (conc_y is not None and concurrency is None)
            or (ct_y is not None and commit_timeout is None)
            or (cn_y is not None and connect_timeout is None)
            or (kafka and (acks is None or idempotence is None))
        ):
            return None
        return Workload(
            rate=rate,
            duration=duration,
            concurrency=concurrency if concurrency is not None else 1,
            commit_timeout=commit_timeout,
            connect_timeout=connect_timeout if connect_timeout is not None else 1.0,
            acks=acks,
            enable_idempotence=idempotence,
        )

    def acks(self, y: _Y | None, path: str) -> str | None:
        """Kafka producer acks: "0", "1" or "all" (YAML's integers 0 and 1 accepted)."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
            return str(v)
        if isinstance(v, str) and v in KAFKA_ACKS:
            return v
        self.add(y.line, path, _given(y), "one of 0, 1, all (write -1 as all)")
        return None

    def expect(self, y: _Y | None, line: int | None) -> Expect | None:
        path = "expect"
        entries = self.mapping(y, path, line, _EXPECT_KEYS, ("rpo",))
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rpo = self.duration(get("rpo"), f"{path}.rpo")
        max_y, min_y, rto_y = get("max_lost"), get("min_lost"), get("max_rto")
        max_lost = self.integer(max_y, f"{path}.max_lost", 0)
        min_lost = self.integer(min_y, f"{path}.min_lost", 0)
        max_rto = self.duration(rto_y, f"{path}.max_rto")
        if min_lost is not None and max_lost is not None and min_lost > max_lost:
            assert min_y is not None
            self.add(
                min_y.line,
                f"{path}.min_lost",
                _given(min_y),
                f"at most expect.max_lost ({max_lost}), or no loss count could pass",
            )
            return None
        if (
            rpo is None
            or (max_y is not None and max_lost is None)
            or (min_y is not None and min_lost is None)
            or (rto_y is not None and max_rto is None)
        ):
            return None
        return Expect(rpo=rpo, max_lost=max_lost, min_lost=min_lost, max_rto=max_rto)

    # -- schedule ---------------------------------------------------------------------------

    def schedule(
        self,
        y: _Y | None,
        line: int | None,
        replicas: list[str] | None,
        run_for: float | None,
        time_scale: float,
    ) -> list[StepSpec] | None:
        """Every step's spec in file order, or None if any step (or their references) is
        wrong. ``run_for`` is workload.duration as declared (None if invalid)."""
        path = "schedule"
        if y is None:
            return None
        if y.kind != "seq":
            self.add(y.line, path, _given(y), self._describe("", "schedule"))
            return None
        ok = True
        outage_at: str | None = None  # path of the first step declaring the outage
        restore_at: str | None = None  # path of the first restore step
        parsed: list[_Parsed] = []
        names: dict[str, int] = {}  # step name -> index of the first step with it
        for i, item in enumerate(y.items):
            spath = f"{path}[{i}]"
            if item.kind != "map":
                self.add(
                    item.line, spath, _given(item), "a step: a mapping with 'at' and one action key"
                )
                ok = False
                continue
            p = self.step(item, spath, i, replicas)
            parsed.append(p)
            if "restore" in item.entries:
                if restore_at is None:
                    restore_at = spath
                else:
                    self.add(
                        item.entries["restore"][0],
                        f"{spath}.restore",
                        _given(item.entries["restore"][1]),
                        f"at most one restore step ({restore_at} already rebuilds the primary "
                        "from the archive)",
                    )
                    ok = False
            if p.name is not None:
                if p.name in names:
                    ny = item.entries["name"][1]
                    self.add(
                        ny.line,
                        f"{spath}.name",
                        repr(p.name),
                        f"a unique step name (schedule[{names[p.name]}] is already {p.name!r})",
                    )
                    p.spec = None  # 'after' its name means the first one
                    ok = False
                else:
                    names[p.name] = i
            if p.outage:
                if outage_at is None:
                    outage_at = spath
                else:
                    oy = item.entries["outage"][1]
                    self.add(
                        oy.line,
                        f"{spath}.outage",
                        _given(oy),
                        f"at most one step with outage: true ({outage_at} already declares it)",
                    )
                    ok = False
            ok = ok and p.spec is not None
        if outage_at is None:
            self.add(
                line,
                path,
                "no step with outage: true",
                "exactly one step with outage: true (the moment the outage begins)",
            )
            ok = False
        specs = {p.index: p.spec for p in parsed if p.spec is not None}
        ok = self.timeline(parsed, names, specs, run_for, time_scale) and ok
        return [specs[i] for i in sorted(specs)] if ok else None

    def timeline(
        self,
        parsed: list[_Parsed],
        names: dict[str, int],
        specs: dict[int, StepSpec],
        run_for: float | None,
        time_scale: float,
    ) -> bool:
        """Check 'after' references (known, acyclic, .end of a step with 'for', not a repeated
        step) and that every step can only start before the end of the workload."""
        from rpochaos.schedule import start_bounds

        ok = True
        by_index = {p.index: p for p in parsed}
        bad: set[int] = set()  # steps whose start cannot be computed
        nxt: dict[int, int] = {}  # step -> the step it is 'after'
        for p in parsed:
            if p.after is None:
                continue
            ref_name, end = p.after
            ay = p.y.entries["after"][1]
            key = f"{p.path}.after"
            j = names.get(ref_name)
            if j is None:
                known = list(names)
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    "the name of a step in this schedule"
                    + ("; these exist: " + ", ".join(known) if known else ", but no step has one")
                    + _suggest(ref_name, known),
                )
                ok = False
                bad.add(p.index)
                continue
            ref = specs.get(j)
            if ref is None:  # its own problems are reported where it is
                bad.add(p.index)
                continue
            if end and ref.duration is None:
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    f"'{ref_name}' (its start), or the .end of a step with 'for' "
                    f"({by_index[j].path} has no 'for', so it has no end)",
                )
                ok = False
                bad.add(p.index)
                continue
            if ref.repeat > 1:
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    f"a step that happens once ('{ref_name}' repeats {ref.repeat} times; to "
                    "follow one repetition, write it as its own step)",
                )
                ok = False
                bad.add(p.index)
                continue
            nxt[p.index] = j

        # cycles: each step is 'after' at most one other, so follow the chains
        state: dict[int, bool] = {}  # True while on the current walk, False once done
        for first in nxt:
            walk: list[int] = []
            cur = first
            while cur in nxt and cur not in state:
                state[cur] = True
                walk.append(cur)
                cur = nxt[cur]
            if state.get(cur):
                cycle = walk[walk.index(cur) :]
                shown = " -> ".join(str(by_index[c].name) for c in [*cycle, cycle[0]])
                for c in cycle:
                    ay = by_index[c].y.entries["after"][1]
                    self.add(
                        ay.line,
                        f"{by_index[c].path}.after",
                        _given(ay),
                        f"a step that does not lead back to this one (cycle: {shown})",
                    )
                bad.update(cycle)
                ok = False
            for w in walk:
                state[w] = False

        # which steps have a computable start: their whole 'after' chain is sound
        sound: dict[int, bool] = {}
        for i in specs:
            chain: list[int] = []
            cur = i
            while cur not in sound:
                chain.append(cur)
                if cur in bad or cur not in specs:
                    verdict = False
                    break
                if cur not in nxt:
                    verdict = True
                    break
                cur = nxt[cur]
                if cur in chain:
                    verdict = False
                    break
            else:
                verdict = sound[cur]
            for c in chain:
                sound[c] = verdict

        if run_for is None:
            return ok
        good = [specs[i] for i in sorted(specs) if sound[i]]
        bounds = start_bounds(good, time_scale)
        limit = run_for / time_scale
        for s in good:
            p = by_index[s.source_index]
            hi = bounds[s.source_index][1]
            every = 0.0 if s.every is None else s.every / time_scale
            if hi >= limit:
                at_given = "at" in p.y.entries
                key = "at" if at_given or s.after is None else "after"
                ky = p.y.entries[key][1]
                expected = (
                    f"a time before the end of the workload (workload.duration is {run_for:g}s)"
                )
                if s.after is not None or isinstance(s.at, Between):
                    expected += f"; this step can start as late as {hi * time_scale:g}s"
                self.add(ky.line, f"{p.path}.{key}", _given(ky), expected)
                ok = False
            elif s.repeat > 1 and hi + (s.repeat - 1) * every >= limit:
                fits = sum(1 for k in range(s.repeat) if hi + k * every < limit)
                last = (hi + (s.repeat - 1) * every) * time_scale
                ry = p.y.entries["repeat"][1]
                self.add(
                    ry.line,
                    f"{p.path}.repeat",
                    _given(ry),
                    f"at most {fits}: repetition {s.repeat} can start at {last:g}s, not before "
                    f"the end of the workload (workload.duration is {run_for:g}s)",
                )
                ok = False
        return ok

    def step(self, y: _Y, path: str, index: int, replicas: list[str] | None) -> _Parsed:
        """One step: its spec (None if it has problems), its name and 'after' if valid."""
        result = _Parsed(index, path, y)
        entries = y.entries
        ok = True
        actions = [k for k in entries if k in _ACTIONS]
        action = actions[0] if actions else None
        for extra in actions[1:]:
            self.add(
                entries[extra][0],
                f"{path}.{extra}",
                f"a second action ({extra!r} after {action!r})",
                "exactly one action per step (put each action in its own step)",
            )
            ok = False
        if action is None:
            self.add(y.line, path, "no action", "exactly one action key: " + ", ".join(_ACTIONS))
            ok = False
        # unknown keys, and keys that belong to another action
        allowed: tuple[str, ...] = _STEP_KEYS
        if action is not None:
            allowed = (
                *_TIMING_KEYS,
                action,
                *_ACTION_PARAMS[action],
                *(("for",) if action in LASTING_ACTIONS else ()),
                "outage",
            )
        for key, (kline, _) in entries.items():
            if key in _ACTIONS or key in allowed:
                continue
            ok = False
            if key not in _STEP_KEYS:
                self.add(
                    kline,
                    f"{path}.{key}",
                    repr(key),
                    "a known key: " + ", ".join(allowed) + _suggest(key, _STEP_KEYS),
                )
            elif key == "for":
                self.add(
                    kline,
                    f"{path}.for",
                    _given(entries[key][1]),
                    f"no 'for' on a {action} step ({action} is instantaneous); allowed keys: "
                    + ", ".join(allowed),
                )
            else:
                self.add(
                    kline,
                    f"{path}.{key}",
                    repr(key),
                    f"a key a {action} step takes: " + ", ".join(allowed),
                )

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries and key in allowed else None

        # name
        name_y = get("name")
        if name_y is not None:
            expected = "a step name like 'cut-link' ([a-z][a-z0-9_-]*)"
            n = self.string(name_y, f"{path}.name", expected)
            if n is not None and not _STEP_NAME_RE.fullmatch(n):
                self.add(name_y.line, f"{path}.name", repr(n), expected)
                n = None
            ok = ok and n is not None
            result.name = n

        # after
        after_y = get("after")
        if after_y is not None:
            expected = "a step's name, or NAME.end (that step's start + its 'for')"
            a = self.string(after_y, f"{path}.after", expected)
            m = _AFTER_RE.fullmatch(a) if a is not None else None
            if a is not None and m is None:
                self.add(after_y.line, f"{path}.after", repr(a), expected)
            if m is None:
                ok = False
            else:
                result.after = (m.group(1), m.group(2) is not None)

        # at (defaults to 0s after the step named by 'after')
        at: float | Between | None = 0.0
        at_y = get("at")
        if at_y is None:
            if after_y is None:
                self.add(y.line, f"{path}.at", _MISSING, f"{_DURATION}, or {_BETWEEN}")
                ok = False
        else:
            at = self.time_value(at_y, f"{path}.at", positive=False)
            ok = ok and at is not None

        # for
        duration: float | Between | None = None
        for_y = get("for")
        if for_y is not None:
            duration = self.time_value(for_y, f"{path}.for", positive=True)
            ok = ok and duration is not None

        # every / repeat
        every_y, repeat_y = get("every"), get("repeat")
        every = self.duration(every_y, f"{path}.every", positive=True)
        repeat = self.integer(repeat_y, f"{path}.repeat", 1)
        if repeat is not None and repeat_y is not None and repeat > MAX_REPEAT:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                f"an integer from 1 to {MAX_REPEAT} (each repetition is a step of its own)",
            )
            repeat = None
        ok = ok and (every_y is None or every is not None)
        ok = ok and (repeat_y is None or repeat is not None)
        if every_y is not None and repeat_y is None:
            self.add(
                every_y.line,
                f"{path}.every",
                _given(every_y),
                "every together with repeat: N (N >= 2, how many times the step happens)",
            )
            ok = False
        if repeat_y is not None and repeat is not None:
            if repeat >= 2 and every_y is None:
                self.add(
                    repeat_y.line,
                    f"{path}.repeat",
                    _given(repeat_y),
                    "repeat: N >= 2 together with every: DURATION (the time between the "
                    "starts of repetitions), or repeat: 1",
                )
                ok = False
            elif repeat == 1 and every_y is not None:
                self.add(
                    repeat_y.line,
                    f"{path}.repeat",
                    _given(repeat_y),
                    "repeat >= 2 with every (repeat: 1 happens once: drop every)",
                )
                ok = False
        times = repeat if repeat is not None else 1

        # outage
        outage = False
        outage_y = get("outage")
        if outage_y is not None:
            b = self.boolean(outage_y, f"{path}.outage")
            ok = ok and b is not None
            outage = bool(b)
        result.outage = outage
        if outage and times > 1 and repeat_y is not None:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                "no repeat on the outage step (the outage begins once)",
            )
            ok = False

        # a repeated fault must heal before it recurs
        if times > 1 and every is not None and every_y is not None and action in LASTING_ACTIONS:
            heal = f"a repeated {action} must heal before it recurs"
            if for_y is None:
                self.add(
                    y.line, f"{path}.for", _MISSING, f"a 'for' <= every ({every_y.raw}): {heal}"
                )
                ok = False
            elif duration is not None:
                longest = duration.high if isinstance(duration, Between) else duration
                if longest > every:
                    given = (
                        f"between {duration.low:g}s and {duration.high:g}s"
                        if isinstance(duration, Between)
                        else _given(for_y)
                    )
                    self.add(
                        for_y.line,
                        f"{path}.for",
                        given,
                        f"a duration <= every ({every_y.raw}): {heal}",
                    )
                    ok = False

        if action is None:
            return result

        if action == "promote" and self.system == "kafka":
            self.add(
                entries[action][0],
                f"{path}.promote",
                _given(entries[action][1]),
                "an action a Kafka scenario takes: "
                + ", ".join(a for a in _ACTIONS if a != "promote")
                + " (no promote: Kafka elects leaders itself)",
            )
            return result

        if action in ARCHIVE_ACTIONS and self.system == "kafka":
            self.add(
                entries[action][0],
                f"{path}.{action}",
                _given(entries[action][1]),
                "an action a Kafka scenario takes: "
                + ", ".join(a for a in _ACTIONS if a not in ("promote", *ARCHIVE_ACTIONS))
                + f" ({action} works on a PostgreSQL WAL archive)",
            )
            return result
        if action in ARCHIVE_ACTIONS and self.archive is False:
            self.add(
                entries[action][0],
                f"{path}.{action}",
                _given(entries[action][1]),
                f"a topology with a WAL archive for {action} (add topology.archive: "
                "{timeout: DURATION}: archive_mode=on, an archive_command and a base backup)",
            )
            ok = False
        if action == "restore" and times > 1 and repeat_y is not None:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                "no repeat on a restore (the primary is rebuilt from the archive once)",
            )
            ok = False

        # target
        target_y = entries[action][1]
        target = self.target(target_y, f"{path}.{action}", action, replicas)
        ok = ok and target is not None

        params, params_ok = self.params(y, path, action, get, replicas)
        ok = ok and params_ok

        if not ok or target is None or at is None:
            return result
        result.spec = StepSpec(
            source_index=index,
            action=cast(Action, action),
            target=target,
            at=at,
            duration=duration,
            after=result.after[0] if result.after else None,
            after_end=result.after[1] if result.after else False,
            every=every,
            repeat=times,
            outage=outage,
            params=params,
            name=result.name,
            line=y.line,
        )
        return result

    def params(
        self,
        y: _Y,
        path: str,
        action: str,
        get: Callable[[str], _Y | None],
        replicas: list[str] | None,
    ) -> tuple[dict[str, ParamValue], bool]:
        """The action's own keys, parsed (see ``Step``), and whether they are all valid."""
        ok = True
        entries = y.entries
        target_y = entries[action][1]
        params: dict[str, ParamValue] = {}
        if action == "partition":
            if get("mode") is None:
                self.add(y.line, f"{path}.mode", _MISSING, _one_of(_PARTITION_MODES))
                ok = False
            else:
                mode = self.choice(get("mode"), f"{path}.mode", _PARTITION_MODES)
                ok = ok and mode is not None
                params["mode"] = mode or ""
            direction = "both"
            if get("direction") is not None:
                d = self.choice(get("direction"), f"{path}.direction", _DIRECTIONS)
                ok = ok and d is not None
                direction = d or ""
            params["direction"] = direction
        elif action == "latency":
            if get("delay") is None:
                self.add(y.line, f"{path}.delay", _MISSING, _DURATION)
                ok = False
            else:
                delay = self.duration(get("delay"), f"{path}.delay")
                ok = ok and delay is not None
                params["delay"] = delay or 0.0
            jitter = 0.0
            if get("jitter") is not None:
                j = self.duration(get("jitter"), f"{path}.jitter")
                ok = ok and j is not None
                jitter = j or 0.0
            params["jitter"] = jitter
        elif action == "bandwidth":
            if get("rate") is None:
                self.add(y.line, f"{path}.rate", _MISSING, _BANDWIDTH)
                ok = False
            else:
                kbps = self.bandwidth(get("rate"), f"{path}.rate")
                ok = ok and kbps is not None
                params["rate_kbps"] = kbps or 0.0
        elif action == "crash":
            links = "cut"
            if get("links") is not None:
                lk = self.choice(get("links"), f"{path}.links", _CRASH_LINKS)
                ok = ok and lk is not None
                links = lk or ""
            params["links"] = links
        elif action == "pause" and self.system == "kafka":
            proc_y = get("process")
            if proc_y is not None:
                self.add(
                    entries["process"][0],
                    f"{path}.process",
                    _given(proc_y),
                    "no process on a Kafka pause (process names a PostgreSQL server process; "
                    "a broker is one JVM, paused whole)",
                )
                ok = False
        elif action == "pause":
            if get("process") is not None:
                proc = self.choice(get("process"), f"{path}.process", PAUSE_PROCESSES)
                ok = ok and proc is not None
                if proc is not None:
                    params["process"] = proc
        elif action == "clock_skew":
            off_y = get("offset")
            if off_y is None:
                self.add(y.line, f"{path}.offset", _MISSING, _OFFSET)
                ok = False
            else:
                off = self.offset(off_y, f"{path}.offset")
                ok = ok and off is not None
                params["offset"] = off or 0.0
            params["drift_ppm"] = 0.0
            if get("drift_ppm") is not None:
                d_ppm = self.number(
                    get("drift_ppm"),
                    f"{path}.drift_ppm",
                    -1e6,
                    "a number of microseconds per second (ppm), e.g. 50 or -20",
                )
                ok = ok and d_ppm is not None
                params["drift_ppm"] = d_ppm or 0.0
        elif action == "promote":
            raw = target_y.value if target_y.kind == "scalar" else None
            policy = MOST_UP_TO_DATE if raw == MOST_UP_TO_DATE else "named"
            params["policy"] = policy
            cand_y = get("candidates")
            if cand_y is not None and policy != MOST_UP_TO_DATE:
                self.add(
                    entries["candidates"][0],
                    f"{path}.candidates",
                    _given(cand_y),
                    "no candidates on a promote of a named replica (candidates go with "
                    "promote: most_up_to_date)",
                )
                ok = False
            elif cand_y is not None:
                cands = self.candidates(cand_y, f"{path}.candidates", replicas)
                ok = ok and cands is not None
                params["candidates"] = cands or []
            elif policy == MOST_UP_TO_DATE:
                params["candidates"] = list(replicas or [])
            lag_y = get("max_lag")
            if lag_y is not None:
                lag = self.size(lag_y, f"{path}.max_lag")
                ok = ok and lag is not None
                params["max_lag_bytes"] = lag or 0
        return params, ok

    def target(
        self, y: _Y, path: str, action: str, replicas: list[str] | None
    ) -> str | Choose | None:
        """A plain target, or ``{choose: [A, B]}``: each choice checked like a plain one."""
        if y.kind != "map":
            return self.plain_target(y, path, action, replicas, chosen=False)
        entries = self.mapping(y, path, y.line, ("choose",), ("choose",))
        if entries is None or "choose" not in entries:
            return None
        c = entries["choose"][1]
        cpath = f"{path}.choose"
        if c.kind != "seq" or not c.items:
            self.add(
                c.line,
                cpath,
                _given(c),
                "a non-empty list to choose from, each "
                + self._target_expected(action, None, chosen=True),
            )
            return None
        options = [
            self.plain_target(item, f"{cpath}[{j}]", action, replicas, chosen=True)
            for j, item in enumerate(c.items)
        ]
        if any(o is None for o in options):
            return None
        return Choose(tuple(o for o in options if o is not None))

    def plain_target(
        self, y: _Y, path: str, action: str, replicas: list[str] | None, chosen: bool
    ) -> str | None:
        alternative = "" if chosen else ", or {choose: [A, B]} for a random one"
        target = self.string(y, path, self._target_expected(action, None, chosen) + alternative)
        if target is None:
            return None
        kafka_links = self.system == "kafka" and action in LINK_ACTIONS
        if kafka_links and ":" in target:
            return self.link_group(y, path, target, replicas)
        if replicas is None:
            return target
        valid = self._targets(action, replicas, chosen)
        if target not in valid:
            others = [f"{g}:{n}" for g in LINK_GROUPS for n in (*replicas, LEADER)]
            self.add(
                y.line,
                path,
                repr(target),
                self._target_expected(action, valid, chosen)
                + _suggest(target, [*valid, *(others if kafka_links else [])]),
            )
            return None
        return target

    def link_group(self, y: _Y, path: str, target: str, brokers: list[str] | None) -> str | None:
        """A Kafka link group ``GROUP:NODE``, kept as written (the runner expands it)."""
        group, _, node = target.partition(":")
        if group not in LINK_GROUPS:
            self.add(
                y.line,
                path,
                repr(target),
                "a link group fetch-from:NODE, quorum-of:NODE or all-of:NODE (NODE: a broker "
                "or leader)" + _suggest(group, LINK_GROUPS),
            )
            return None
        if brokers is None:
            return target
        nodes = [*brokers, LEADER]
        if node not in nodes:
            self.add(
                y.line,
                path,
                repr(target),
                f"{group}:NODE with NODE one of " + ", ".join(nodes) + _suggest(node, nodes),
            )
            return None
        if group != "all-of" and len(brokers) < 2:
            self.add(
                y.line,
                path,
                repr(target),
                f"all-of:{node} or a link: a 1-broker cluster has no replication or quorum "
                f"links, so {group}:{node} would name none",
            )
            return None
        return target

    def candidates(self, y: _Y, path: str, replicas: list[str] | None) -> list[str] | None:
        expected = "a non-empty list of replica names"
        if y.kind != "seq" or not y.items:
            self.add(y.line, path, _given(y), expected)
            return None
        out: list[str] = []
        ok = True
        for j, item in enumerate(y.items):
            ipath = f"{path}[{j}]"
            name = self.string(item, ipath, "a replica's name")
            if name is None:
                ok = False
            elif replicas is not None and name not in replicas:
                self.add(
                    item.line,
                    ipath,
                    repr(name),
                    self._target_expected("promote", replicas, chosen=True)
                    + _suggest(name, replicas),
                )
                ok = False
            elif name in out:
                self.add(item.line, ipath, repr(name), "each replica once")
                ok = False
            else:
                out.append(name)
        return out if ok else None

    def _targets(self, action: str, replicas: list[str], chosen: bool = False) -> list[str]:
        """The concrete targets of ``action``; ``replicas`` are the brokers for Kafka."""
        if self.system == "kafka":
            if action in LINK_ACTIONS:
                return list(kafka_link_names(len(replicas)))
            return [*replicas, LEADER]
        if action in LINK_ACTIONS:
            topo = Topology("on", tuple(Replica(n, "async") for n in replicas))
            return list(topo.links)
        if action == "promote":
            return [*replicas, *((MOST_UP_TO_DATE,) if replicas and not chosen else ())]
        if action in ARCHIVE_ACTIONS:
            return ["primary"]
        return ["primary", *replicas]

    def _target_expected(self, action: str, valid: list[str] | None, chosen: bool = False) -> str:
        if self.system == "kafka" and action in LINK_ACTIONS:
            what = (
                "a link like 'broker2->broker1', 'broker2->controller1' or 'client->broker1', "
                "or a link group fetch-from:NODE, quorum-of:NODE or all-of:NODE (NODE: a "
                "broker or leader)"
            )
            return what if valid is None else f"{what}; these links exist: " + ", ".join(valid)
        if self.system == "kafka":
            what = "a broker's name like 'broker1', or leader (partition 0's leader when it runs)"
        elif action in LINK_ACTIONS:
            what = "a link like 'replica1->primary' or 'client->primary'"
        elif action == "promote":
            what = "a replica's name" + ("" if chosen else f" or {MOST_UP_TO_DATE}")
        elif action in ARCHIVE_ACTIONS:
            return "primary (the node that archives its WAL; replicas don't archive)"
        else:
            what = "a node's name ('primary' or a replica's)"
        if valid is None:
            return what
        if not valid:
            return f"{what}, but there are no replicas in topology.replicas"
        return f"{what}; these exist: " + ", ".join(valid)

    # -- the whole file ---------------------------------------------------------------------

    def choose_system(self, root: _Y) -> bool:
        """Set ``self.system``: the declared one, or, when it is missing or not a system, the
        one the file looks like (a topology with brokers, or a workload with acks, is Kafka).
        Returns whether it was inferred."""
        entry = root.entries.get("system")
        v = entry[1].value if entry is not None and entry[1].kind == "scalar" else None
        if v == "postgres" or v == "kafka":
            self.system = v
            return False
        topology = root.entries.get("topology")
        workload = root.entries.get("workload")
        looks_kafka = (topology is not None and "brokers" in topology[1].entries) or (
            workload is not None and "acks" in workload[1].entries
        )
        self.system = "kafka" if looks_kafka else "postgres"
        return True

    def scenario(self, text: str, default_name: str, path: Path | None) -> Scenario | None:
        root = self.tree(text)
        if root is None:
            return None
        if root.kind != "map":
            self.add(
                root.line, "(file)", _given(root), "a mapping with keys " + ", ".join(_TOP_KEYS)
            )
            return None
        inferred = self.choose_system(root)
        entries = self.mapping(
            root, "", root.line, _TOP_KEYS, ("system", "topology", "workload", "schedule", "expect")
        )
        assert entries is not None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        def key_line(key: str) -> int | None:
            return entries[key][0] if key in entries else None

        name = default_name
        name_y = get("name")
        if name_y is not None:
            expected = "a name like 'pg-async-partition' ([A-Za-z0-9][A-Za-z0-9._-]*)"
            n = self.string(name_y, "name", expected)
            if n is not None and not _SCENARIO_NAME_RE.fullmatch(n):
                self.add(name_y.line, "name", repr(n), expected)
            name = n or ""
        description = self.string(get("description"), "description") or ""
        system_y = get("system")
        if system_y is not None and inferred:
            self.add(
                system_y.line,
                "system",
                _given(system_y),
                f"'postgres' or 'kafka' (the rest of the file is checked as {self.system})",
            )
        seed = self.integer(get("seed"), "seed", None) or 0
        backend = self.choice(get("backend"), "backend", ("local", "docker"))
        time_scale = self.number(
            get("time_scale"),
            "time_scale",
            1.0,
            "a number >= 1: how many times faster than real time the run replays the file's "
            "timeline (60 replays 10 minutes in 10 s)",
        )
        scale = time_scale if time_scale is not None else 1.0
        self.scale = scale
        topology, names = self.topology(get("topology"), key_line("topology"))
        workload = self.workload(get("workload"), key_line("workload"))
        specs = self.schedule(get("schedule"), key_line("schedule"), names, self.run_for, scale)
        expect = self.expect(get("expect"), key_line("expect"))
        if self.problems:
            return None
        assert topology is not None and workload is not None
        assert specs is not None and expect is not None
        from rpochaos.schedule import resolve

        return Scenario(
            name=name,
            system=self.system,
            topology=topology,
            workload=replace(
                workload, rate=workload.rate * scale, duration=workload.duration / scale
            ),
            schedule=resolve(specs, seed, time_scale=scale),
            expect=replace(
                expect,
                rpo=expect.rpo / scale,
                max_rto=None if expect.max_rto is None else expect.max_rto / scale,
            ),
            seed=seed,
            description=description,
            path=path,
            time_scale=scale,
            specs=tuple(specs),
            backend=backend,
        )


@dataclass
class _Parsed:
    """One step as the checker saw it: what is known even when the step has problems."""

    index: int
    path: str
    y: _Y
    spec: StepSpec | None = None
    name: str | None = None  # when valid
    after: tuple[str, bool] | None = None  # (step name, .end) when well-formed
    outage: bool = False


def _sorted(problems: list[Problem]) -> list[Problem]:
    """File order: by line (stable), problems without a line last."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _parse(text: str, source: str, default_name: str, path: Path | None) -> Scenario:
    checker = _Checker(source)
    scenario = checker.scenario(text, default_name, path)
    if checker.problems or scenario is None:
        raise ScenarioError(_sorted(checker.problems))
    return scenario


def loads(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``source`` names it in error messages."""
    stem = Path(source).stem if source.endswith((".yaml", ".yml")) else ""
    return _parse(text, source, stem or "scenario", None)


def load(path: str | Path) -> Scenario:
    """Load and validate one scenario file. Raises ScenarioError listing every problem."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        problem = Problem(str(p), None, "(file)", f"undecodable bytes ({e.reason})", "UTF-8 text")
        raise ScenarioError([problem]) from None
    return _parse(text, str(p), p.stem, p)


# --------------------------------------------------------------------------------------------
# Plain data, for the run record
# --------------------------------------------------------------------------------------------
# Plain data, for the run record


def to_dict(scenario: Scenario) -> dict[str, object]:
    """The resolved scenario as plain JSON-able data (seconds as floats), for the run record.

    ``schedule``, ``workload`` and ``expect`` are in run time; ``declared`` (informative,
    ignored by ``from_dict``) has the file's own workload and expectations; ``specs`` are the
    steps as written, so that ``from_dict(...).with_seed(n)`` re-resolves them.
    """
    t, w, e = scenario.topology, scenario.workload, scenario.expect
    d = scenario.declared
    return {
        "name": scenario.name,
        "description": scenario.description,
        "system": scenario.system,
        "seed": scenario.seed,
        "backend": scenario.backend,
        "time_scale": float(scenario.time_scale),
        "path": str(scenario.path) if scenario.path is not None else None,
        "topology": _topology_dict(t),
        "workload": _workload_dict(w),
        "schedule": [
            {
                "index": s.index,
                "source_index": s.source_index,
                "name": s.name,
                "at": float(s.at),
                "action": s.action,
                "target": s.target,
                "duration": _opt_float(s.duration),
                "outage": s.outage,
                "params": _params_dict(s.params),
                "line": s.line,
            }
            for s in scenario.schedule
        ],
        "expect": _expect_dict(e),
        "declared": {  # informative only
            "workload": _workload_dict(d.workload),
            "expect": _expect_dict(d.expect),
        },
        "specs": [_spec_dict(s) for s in scenario.specs],
    }


def _topology_dict(t: Topology | KafkaTopology) -> dict[str, object]:
    if isinstance(t, KafkaTopology):
        return {
            "brokers": t.brokers,
            "replication_factor": t.replication_factor,
            "min_insync_replicas": t.min_insync_replicas,
            "unclean_leader_election": t.unclean_leader_election,
            "partitions": t.partitions,
            "topic": t.topic,
            "settings": dict(t.settings),
        }
    return {
        "synchronous_commit": t.synchronous_commit,
        "num_sync": t.num_sync,
        "replicas": [{"name": r.name, "mode": r.mode} for r in t.replicas],
        "settings": dict(t.settings),
        "synchronous_standby_names": t.synchronous_standby_names,  # informative only
        "archive": None if t.archive is None else {"timeout": float(t.archive.timeout)},
    }


def _workload_dict(w: Workload) -> dict[str, object]:
    out: dict[str, object] = {
        "rate": float(w.rate),
        "duration": float(w.duration),
        "concurrency": w.concurrency,
        "commit_timeout": _opt_float(w.commit_timeout),
        "connect_timeout": float(w.connect_timeout),
    }
    # Kafka's producer knobs; PostgreSQL records keep their shape
    if w.acks is not None:
        out["acks"] = w.acks
    if w.enable_idempotence is not None:
        out["enable_idempotence"] = w.enable_idempotence
    return out


def _expect_dict(e: Expect) -> dict[str, object]:
    return {
        "rpo": float(e.rpo),
        "max_lost": e.max_lost,
        "min_lost": e.min_lost,
        "max_rto": _opt_float(e.max_rto),
    }


def _params_dict(params: dict[str, ParamValue]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in params.items():
        if isinstance(v, list):
            out[k] = list(v)
        elif isinstance(v, str | int):
            out[k] = v
        else:
            out[k] = float(v)
    return out


def _time_dict(v: float | Between) -> object:
    if isinstance(v, Between):
        return {"between": [float(v.low), float(v.high)]}
    return float(v)


def _spec_dict(s: StepSpec) -> dict[str, object]:
    return {
        "source_index": s.source_index,
        "name": s.name,
        "action": s.action,
        "target": {"choose": list(s.target.options)} if isinstance(s.target, Choose) else s.target,
        "at": _time_dict(s.at),
        "after": s.after,
        "after_end": s.after_end,
        "duration": None if s.duration is None else _time_dict(s.duration),
        "every": _opt_float(s.every),
        "repeat": s.repeat,
        "outage": s.outage,
        "params": _params_dict(s.params),
        "line": s.line,
    }


def _opt_float(x: float | None) -> float | None:
    return None if x is None else float(x)


def _bad(what: str, value: object, expected: str) -> ValueError:
    return ValueError(f"stored scenario: {what} is {value!r}, expected {expected}")


def _d(data: dict[str, object], key: str, where: str) -> dict[str, object]:
    v = data.get(key)
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise _bad(_join(where, key), v, "a mapping")
    return cast(dict[str, object], v)


def _l(data: dict[str, object], key: str, where: str) -> list[object]:
    v = data.get(key)
    if not isinstance(v, list):
        raise _bad(_join(where, key), v, "a list")
    return v


def _s(data: dict[str, object], key: str, where: str, options: Sequence[str] = ()) -> str:
    v = data.get(key)
    if not isinstance(v, str) or (options and v not in options):
        raise _bad(_join(where, key), v, _one_of(options) if options else "a string")
    return v


def _os(data: dict[str, object], key: str, where: str) -> str | None:
    return None if data.get(key) is None else _s(data, key, where)


def _i(data: dict[str, object], key: str, where: str) -> int:
    v = data.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "an integer")
    return v


def _oi(data: dict[str, object], key: str, where: str) -> int | None:
    return None if data.get(key) is None else _i(data, key, where)


def _f(data: dict[str, object], key: str, where: str) -> float:
    v = data.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "a number")
    return float(v)


def _of(data: dict[str, object], key: str, where: str) -> float | None:
    return None if data.get(key) is None else _f(data, key, where)


def _b(data: dict[str, object], key: str, where: str) -> bool:
    v = data.get(key)
    if not isinstance(v, bool):
        raise _bad(_join(where, key), v, "true or false")
    return v


def _as_dict(v: object, where: str) -> dict[str, object]:
    return _d({"": v}, "", where)


def _params(data: dict[str, object], where: str) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for k, v in _d(data, "params", where).items():
        if isinstance(v, str):
            params[k] = v
        elif isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise _bad(f"{where}.params.{k}", v, "a list of strings")
            params[k] = [str(x) for x in v]
        elif isinstance(v, int) and not isinstance(v, bool):
            params[k] = v
        else:
            params[k] = _f({k: v}, k, f"{where}.params")
    return params


def _time(data: dict[str, object], key: str, where: str) -> float | Between:
    v = data.get(key)
    if isinstance(v, dict):
        pair = _l(_as_dict(v, _join(where, key)), "between", _join(where, key))
        if len(pair) != 2:
            raise _bad(f"{_join(where, key)}.between", pair, "[low, high]")
        bounds = {"low": pair[0], "high": pair[1]}
        low = _f(bounds, "low", f"{_join(where, key)}.between")
        high = _f(bounds, "high", f"{_join(where, key)}.between")
        return Between(low, high)
    return _f(data, key, where)


def _spec(v: object, where: str) -> StepSpec:
    sd = _as_dict(v, where)
    target_v = sd.get("target")
    target: str | Choose
    if isinstance(target_v, dict):
        options = _l(_as_dict(target_v, f"{where}.target"), "choose", f"{where}.target")
        if not options or not all(isinstance(o, str) for o in options):
            raise _bad(f"{where}.target.choose", options, "a non-empty list of strings")
        target = Choose(tuple(str(o) for o in options))
    else:
        target = _s(sd, "target", where)
    return StepSpec(
        source_index=_i(sd, "source_index", where),
        action=cast(Action, _s(sd, "action", where, _ACTIONS)),
        target=target,
        at=_time(sd, "at", where),
        duration=None if sd.get("duration") is None else _time(sd, "duration", where),
        after=_os(sd, "after", where),
        after_end=_b(sd, "after_end", where),
        every=_of(sd, "every", where),
        repeat=_i(sd, "repeat", where),
        outage=_b(sd, "outage", where),
        params=_params(sd, where),
        name=_os(sd, "name", where),
        line=_oi(sd, "line", where),
    )


def _settings_of(t: dict[str, object]) -> dict[str, str]:
    settings = _d(t, "settings", "topology")
    return {k: _s(settings, k, "topology.settings") for k in settings}


def _postgres_topology_of(t: dict[str, object]) -> Topology:
    replicas = []
    for i, r in enumerate(_l(t, "replicas", "topology")):
        rd = _as_dict(r, f"topology.replicas[{i}]")
        where = f"topology.replicas[{i}]"
        mode = _s(rd, "mode", where, _REPLICATION_MODES)
        replicas.append(Replica(_s(rd, "name", where), cast(ReplicationMode, mode)))
    return Topology(
        synchronous_commit=cast(SyncCommit, _s(t, "synchronous_commit", "topology", _SYNC_COMMITS)),
        replicas=tuple(replicas),
        num_sync=_i(t, "num_sync", "topology"),
        settings=_settings_of(t),
        archive=(
            None
            if t.get("archive") is None
            else Archive(timeout=_f(_d(t, "archive", "topology"), "timeout", "topology.archive"))
        ),
    )


def _kafka_topology_of(t: dict[str, object]) -> KafkaTopology:
    return KafkaTopology(
        brokers=_i(t, "brokers", "topology"),
        replication_factor=_i(t, "replication_factor", "topology"),
        min_insync_replicas=_i(t, "min_insync_replicas", "topology"),
        unclean_leader_election=_b(t, "unclean_leader_election", "topology"),
        partitions=_i(t, "partitions", "topology"),
        topic=_s(t, "topic", "topology"),
        settings=_settings_of(t),
    )


def _backend_of(data: dict[str, object]) -> str | None:
    b = data.get("backend")
    return b if isinstance(b, str) else None


def from_dict(data: dict[str, object]) -> Scenario:
    """Inverse of ``to_dict`` (used by ``analyze`` on a stored run). Data written before
    time_scale, step names and specs existed reads as time_scale 1, no names, no specs."""
    t = _d(data, "topology", "")
    w = _d(data, "workload", "")
    e = _d(data, "expect", "")
    # a record without a system predates Kafka: PostgreSQL
    system = "postgres" if data.get("system") is None else _s(data, "system", "", SYSTEMS)
    topology = _kafka_topology_of(t) if system == "kafka" else _postgres_topology_of(t)
    acks = _os(w, "acks", "workload")
    if acks is not None and acks not in KAFKA_ACKS:
        raise _bad("workload.acks", acks, _one_of(KAFKA_ACKS))
    steps = []
    for i, s in enumerate(_l(data, "schedule", "")):
        where = f"schedule[{i}]"
        sd = _as_dict(s, where)
        index = _i(sd, "index", where)
        source_index = _oi(sd, "source_index", where)
        steps.append(
            Step(
                index=index,
                at=_f(sd, "at", where),
                action=cast(Action, _s(sd, "action", where, _ACTIONS)),
                target=_s(sd, "target", where),
                duration=_of(sd, "duration", where),
                outage=_b(sd, "outage", where),
                params=_params(sd, where),
                line=_oi(sd, "line", where),
                name=_os(sd, "name", where),
                source_index=index if source_index is None else source_index,
            )
        )
    specs = tuple(
        _spec(s, f"specs[{i}]")
        for i, s in enumerate(_l(data, "specs", "") if data.get("specs") is not None else [])
    )
    path = data.get("path")
    if path is not None and not isinstance(path, str):
        raise _bad("path", path, "a string or null")
    time_scale = _of(data, "time_scale", "")
    return Scenario(
        name=_s(data, "name", ""),
        system=cast(SystemName, system),
        topology=topology,
        workload=Workload(
            rate=_f(w, "rate", "workload"),
            duration=_f(w, "duration", "workload"),
            concurrency=_i(w, "concurrency", "workload"),
            commit_timeout=_of(w, "commit_timeout", "workload"),
            connect_timeout=_f(w, "connect_timeout", "workload"),
            acks=acks,
            enable_idempotence=(
                None
                if w.get("enable_idempotence") is None
                else _b(w, "enable_idempotence", "workload")
            ),
        ),
        schedule=tuple(steps),
        expect=Expect(
            rpo=_f(e, "rpo", "expect"),
            max_lost=_oi(e, "max_lost", "expect"),
            min_lost=_oi(e, "min_lost", "expect"),
            max_rto=_of(e, "max_rto", "expect"),
        ),
        seed=_i(data, "seed", ""),
        description=_s(data, "description", ""),
        path=Path(path) if path is not None else None,
        time_scale=1.0 if time_scale is None else time_scale,
        specs=specs,
        backend=_backend_of(data),
    )
