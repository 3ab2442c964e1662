"""The scenario model: what a validated scenario is, and how its schedule resolves.

Pure data and pure functions: no I/O, no clock. Validation is in the loader; the file format
is described in docs/scenarios.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, PlainSerializer

from rpochaos.scenario.mariadb_model import MariaDBTopology

ReplicationMode = Literal["async", "sync", "quorum"]
SyncCommit = Literal["off", "local", "remote_write", "on", "remote_apply"]
#: the systems under test
SystemName = Literal["postgres", "kafka", "mariadb"]
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
#: under ``manager: patroni``, the one process a step may name instead of the whole node, by
#: action: ``pause`` with ``process: patroni`` freezes Patroni alone (PostgreSQL keeps
#: serving; it stops renewing the leader key), ``crash`` with ``process: postmaster``
#: SIGKILLs the postmaster tree alone (Patroni restarts it in place; no ``for``)
PATRONI_PROCESSES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"pause": ("patroni",), "crash": ("postmaster",)}
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


#: Patroni's synchronous_mode as a scenario declares it
PatroniSyncMode = Literal["off", "on", "strict"]
#: who fails a PostgreSQL topology over: None (rpochaos's own steps) or Patroni
Manager = Literal["patroni"]


@dataclass(frozen=True)
class Patroni:
    """``topology.patroni``: every Patroni setting that bounds loss or failover time (no
    defaults). Times in whole seconds, ``maximum_lag_on_failover`` in bytes."""

    ttl: int
    loop_wait: int
    retry_timeout: int
    maximum_lag_on_failover: int
    synchronous_mode: PatroniSyncMode
    synchronous_node_count: int
    failsafe_mode: bool
    use_pg_rewind: bool
    #: the DCS's size (not a Patroni setting: how many etcd members rpochaos starts)
    etcd_members: int = 1


@dataclass(frozen=True)
class Topology:
    synchronous_commit: SyncCommit
    replicas: tuple[Replica, ...]
    num_sync: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # values rendered as strings
    #: WAL archiving and a base backup at bring-up; None: no archive
    archive: Archive | None = None
    #: ``patroni``: Patroni decides failover (then ``patroni`` holds its settings)
    manager: Manager | None = None
    patroni: Patroni | None = None

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
#: how many etcd members a Patroni topology's DCS may have
ETCD_MEMBERS: tuple[int, ...] = (1, 3)
#: Kafka: a step target meaning "the leader of partition 0 when the step runs"
LEADER = "leader"
#: Kafka link groups, ``GROUP:NODE``; the runner expands them when the step runs
LINK_GROUPS: tuple[str, ...] = ("fetch-from", "quorum-of", "all-of")
#: Kafka producer acks, as the scenario holds them
KafkaAcks = Literal["0", "1", "all"]
KAFKA_ACKS: tuple[str, ...] = get_args(KafkaAcks)
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
    acks: KafkaAcks | None = None  # Kafka only (None for PostgreSQL)
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
    - crash: links (str: cut | keep); process (str: postmaster, under manager: patroni
      only: the postmaster tree alone, never with a 'for')
    - pause: process (str, one of PAUSE_PROCESSES, or patroni under manager: patroni);
      absent = every process of the node
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


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _time_in(v: object) -> object:
    """A recorded ``{between: [LOW, HIGH]}`` (seconds) as a ``Between``; anything else as it is."""
    if isinstance(v, dict) and set(v) == {"between"}:
        pair = v["between"]
        if not (isinstance(pair, list) and len(pair) == 2 and all(_number(x) for x in pair)):
            raise ValueError(f"between is {pair!r}, expected [low, high] in seconds")
        return Between(float(pair[0]), float(pair[1]))
    return v


def _time_out(v: float | Between) -> object:
    return {"between": [float(v.low), float(v.high)]} if isinstance(v, Between) else float(v)


def _target_in(v: object) -> object:
    """A recorded ``{choose: [A, B]}`` as a ``Choose``; anything else as it is."""
    if isinstance(v, dict) and set(v) == {"choose"}:
        options = v["choose"]
        if not (isinstance(options, list) and options and all(isinstance(o, str) for o in options)):
            raise ValueError(f"choose is {options!r}, expected a non-empty list of targets")
        return Choose(tuple(options))
    return v


def _target_out(v: str | Choose) -> object:
    return {"choose": list(v.options)} if isinstance(v, Choose) else v


#: a step time as the model holds it, recorded as seconds or ``{between: [LOW, HIGH]}``
TimeValue = Annotated[
    float | Between, BeforeValidator(_time_in), PlainSerializer(_time_out, return_type=object)
]
#: a step target, recorded as written or as ``{choose: [A, B]}``
Target = Annotated[
    str | Choose, BeforeValidator(_target_in), PlainSerializer(_target_out, return_type=object)
]


@dataclass(frozen=True)
class StepSpec:
    """One step as written in the file: declared (unscaled) seconds, random choices unmade.

    ``rpochaos.schedule.resolve`` turns specs into ``Step``s. ``params`` are the resolved
    step's params, except that a named promote gets ``candidates`` at resolution.
    """

    source_index: int
    action: Action
    target: Target
    at: TimeValue = 0.0  # offset from 'after' when given, else from the workload start
    duration: TimeValue | None = None  # 'for'
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
    topology: Topology | KafkaTopology | MariaDBTopology
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
        return replace(self, seed=seed, schedule=resolve(self, seed))


# --------------------------------------------------------------------------------------------
# Resolution: the schedule language laid out on one timeline


def resolve(
    source: Scenario | Sequence[StepSpec], seed: int, *, time_scale: float | None = None
) -> tuple[Step, ...]:
    """The resolved schedule of ``source`` with ``seed``, sorted by (at, index).

    ``source`` is a Scenario (its specs and time_scale) or specs (time_scale defaults to 1).
    A Scenario without specs (built by hand, or read from a run record that predates them)
    has nothing to draw: its schedule is returned as it is. Raises ValueError if an 'after'
    names no step, forms a cycle, or asks for the end of a step without 'for' (``load``
    reports those as problems first).
    """
    if isinstance(source, Scenario):
        if not source.specs:
            return source.schedule
        specs = sorted(source.specs, key=lambda s: s.source_index)
        scale = source.time_scale if time_scale is None else time_scale
    else:
        specs = sorted(source, key=lambda s: s.source_index)
        scale = 1.0 if time_scale is None else time_scale
    if not scale >= 1:
        raise ValueError(f"time_scale is {scale!r}, expected a number >= 1")

    rng = random.Random(seed)
    drawn_at: dict[int, float] = {}
    drawn: dict[int, list[tuple[float | None, str]]] = {}  # per repetition: (for, target)
    for s in specs:
        drawn_at[s.source_index] = _draw(rng, s.at)
        drawn[s.source_index] = [
            (None if s.duration is None else _draw(rng, s.duration), _pick(rng, s.target))
            for _ in range(s.repeat)
        ]

    def first_for(s: StepSpec) -> float | None:
        return drawn[s.source_index][0][0]

    starts = _first_starts(specs, scale, lambda s: drawn_at[s.source_index], first_for)
    steps: list[Step] = []
    for s in specs:
        every = 0.0 if s.every is None else s.every / scale
        for k, (duration, target) in enumerate(drawn[s.source_index]):
            params = _step_params(s, target)
            steps.append(
                Step(
                    index=len(steps),
                    at=starts[s.source_index] + k * every,
                    action=s.action,
                    target=target,
                    duration=None if duration is None else duration / scale,
                    outage=s.outage,
                    params=params,
                    line=s.line,
                    name=_instance_name(s, k),
                    source_index=s.source_index,
                )
            )
    return tuple(sorted(steps, key=lambda st: (st.at, st.index)))


def start_bounds(
    specs: Sequence[StepSpec], time_scale: float = 1.0
) -> dict[int, tuple[float, float]]:
    """For each spec (by source_index): the earliest and latest run time its first repetition
    can start at, over every seed. Repetition k adds ``k * every / time_scale``. Every
    resolved start lies within these bounds (same arithmetic, monotonic in each term)."""
    specs = sorted(specs, key=lambda s: s.source_index)
    lows = _first_starts(specs, time_scale, lambda s: _low(s.at), lambda s: _opt(_low, s))
    highs = _first_starts(specs, time_scale, lambda s: _high(s.at), lambda s: _opt(_high, s))
    return {i: (lows[i], highs[i]) for i in lows}


def _first_starts(
    specs: Sequence[StepSpec],
    scale: float,
    at_of: Callable[[StepSpec], float],
    for_of: Callable[[StepSpec], float | None],
) -> dict[int, float]:
    """Run time of each spec's first start: (start of its 'after' [+ its for]) + at."""
    by_name = {s.name: s for s in specs if s.name is not None}
    out: dict[int, float] = {}
    for spec in specs:
        chain: list[StepSpec] = []
        cur = spec
        while cur.source_index not in out:
            if any(c.source_index == cur.source_index for c in chain):
                raise ValueError(f"step {cur.name!r}: 'after' forms a cycle")
            chain.append(cur)
            if cur.after is None:
                break
            ref = by_name.get(cur.after)
            if ref is None:
                raise ValueError(f"step {cur.source_index}: after {cur.after!r}: no such step")
            cur = ref
        for c in reversed(chain):
            base = 0.0
            if c.after is not None:
                ref = by_name[c.after]
                base = out[ref.source_index]
                if c.after_end:
                    length = for_of(ref)
                    if length is None:
                        raise ValueError(f"after {c.after}.end: {c.after!r} has no 'for'")
                    base = base + length / scale
            out[c.source_index] = base + at_of(c) / scale
    return out


def _draw(rng: random.Random, value: float | Between) -> float:
    """A fixed value as it is; a random one uniform in [low, high], to the millisecond."""
    if isinstance(value, Between):
        return min(max(round(rng.uniform(value.low, value.high), 3), value.low), value.high)
    return value


def _pick(rng: random.Random, target: str | Choose) -> str:
    return rng.choice(target.options) if isinstance(target, Choose) else target


def _low(value: float | Between) -> float:
    return value.low if isinstance(value, Between) else value


def _high(value: float | Between) -> float:
    return value.high if isinstance(value, Between) else value


def _opt(bound: Callable[[float | Between], float], s: StepSpec) -> float | None:
    return None if s.duration is None else bound(s.duration)


def _step_params(s: StepSpec, target: str) -> dict[str, ParamValue]:
    params = {k: list(v) if isinstance(v, list) else v for k, v in s.params.items()}
    if s.action == "promote" and params.get("policy", "named") == "named":
        params["candidates"] = [target]
    return params


def _instance_name(s: StepSpec, k: int) -> str | None:
    if s.repeat < 2:
        return s.name
    return f"{s.name or f'step{s.source_index}'}#{k + 1}"
