"""The shapes of the sections pydantic validates (the top level, workload, expect, topology): a
model per section declares its keys (in the order problems list them), which are required
and each key's type (``fields``). The key lists in ``keys`` are read from these models.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from rpochaos.scenario.fields import (
    Acks,
    Backend,
    Bandwidth,
    Boolean,
    Brokers,
    Concurrency,
    CrashLinks,
    CrashProcess,
    Direction,
    DriftPpm,
    Duration,
    NumSync,
    Offset,
    OptionalDuration,
    OptionalLossCount,
    OptionalPositiveDuration,
    PartitionMode,
    Partitions,
    PauseProcess,
    PositiveDuration,
    Rate,
    ReplicaName,
    ReplicationModeValue,
    ScenarioName,
    Seed,
    SyncCommitValue,
    Text,
    TimeScale,
    Topic,
    Wrong,
    _file,
    bounded,
    checked_elsewhere,
    pydantic_error,
)
from rpochaos.scenario.limits import MAX_REPLICAS
from rpochaos.scenario.mariadb_shape import MariaDBTopologySection
from rpochaos.scenario.model import ETCD_MEMBERS, MAX_BROKERS
from rpochaos.scenario.searchform import SearchSection
from rpochaos.scenario.stepform import Step
from rpochaos.scenario.units import parse_duration, parse_size


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PostgresWorkload(_Section):
    """``workload`` of a PostgreSQL scenario (file values parsed: seconds, writes/s)."""

    rate: Rate = Field(description="> 0: total writes, shared by the writers")
    concurrency: Concurrency = Field(1, description="writers, each with its own connection")
    duration: PositiveDuration = Field(description="> 0: how long writes are issued")
    commit_timeout: OptionalPositiveDuration = Field(
        None,
        description="PostgreSQL: cancel a commit still waiting after this long; Kafka: the "
        "producer's delivery timeout, >= 5s",
    )
    connect_timeout: PositiveDuration = Field(
        1.0, description="> 0", json_schema_extra={"default": "1s"}
    )


class KafkaWorkload(PostgresWorkload):
    """``workload`` of a Kafka scenario: the producer's knobs are declared, never defaulted."""

    acks: Acks = Field(description="the producer's acks (the client's default changed)")
    enable_idempotence: Boolean = Field(description="true needs acks all")


class ExpectSection(_Section):
    """``expect``: the verdict's thresholds (seconds, counts)."""

    rpo: Duration = Field(description="the declared recovery point objective")
    max_lost: OptionalLossCount = Field(
        None, description="at most this many acknowledged writes lost"
    )
    min_lost: OptionalLossCount = Field(
        None, description="at least this many lost (a scenario that must show loss)"
    )
    max_rto: OptionalDuration = Field(None, description="the outage must end within this")


class ReplicaShape(_Section):
    """One of ``topology.replicas``."""

    name: ReplicaName = Field(
        description="`[a-z][a-z0-9_]*`, unique; primary, client and most_up_to_date are reserved"
    )
    mode: ReplicationModeValue = Field(
        description="async, sync (FIRST num_sync) or quorum (ANY num_sync); sync and quorum "
        "can't be mixed"
    )


class PatroniReplicaShape(_Section):
    """One of ``topology.replicas`` under ``manager: patroni``: Patroni decides the mode."""

    name: ReplicaName = Field(description="as for any replica")
    mode: Annotated[
        str | None,
        PlainValidator(lambda v: _replica_mode(v)),
        _file({"enum": ["async", "sync", "quorum"]}),
    ] = Field(None, description="async with synchronous_mode off, else sync; or left out")


def _replica_mode(v: object) -> str:
    if v not in ("async", "sync", "quorum"):
        raise pydantic_error(Wrong("async, sync or quorum"))
    return str(v)


class ArchiveShape(_Section):
    """``topology.archive``."""

    timeout: PositiveDuration = Field(
        description="archive_timeout; divided by time_scale, a whole number of seconds >= 1"
    )


_Setting = str | int | float | bool


def _whole_seconds(low: int, why: str) -> PlainValidator:
    """A duration like '20s' (or a bare number of seconds), a whole number >= ``low``."""
    expected = f"a whole number of seconds >= {low} like '{max(low, 1)}s'{why}"

    def check(v: object) -> int:
        try:
            if isinstance(v, bool):
                raise ValueError
            s = float(v) if isinstance(v, int | float) else parse_duration(str(v))
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int past a float
            raise pydantic_error(Wrong(expected)) from None
        if not math.isfinite(s) or s < low or s != int(s):
            raise pydantic_error(Wrong(expected))
        return int(s)

    return PlainValidator(check)


def _bytes_size(v: object) -> int:
    expected = (
        "a size like '1MB', '256kB' or '0B' (bytes of WAL a replica may lag and still be promoted)"
    )
    try:
        if isinstance(v, bool):
            raise ValueError
        n = v if isinstance(v, int) else parse_size(str(v))
    except (TypeError, ValueError):
        raise pydantic_error(Wrong(expected)) from None
    if n < 0:
        raise pydantic_error(Wrong(expected))
    return n


def _node_count(v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_REPLICAS:
        raise pydantic_error(Wrong(f"an integer from 1 to {MAX_REPLICAS}"))
    return v


def _sync_mode(v: object) -> str:
    # a bare on/off reads as a YAML boolean
    if v is True:
        v = "on"
    elif v is False:
        v = "off"
    if v not in ("off", "on", "strict"):
        raise pydantic_error(Wrong("off, on or strict"))
    return str(v)


_SECONDS_FORM = _file({"type": ["string", "integer"]})
TtlSeconds = Annotated[
    int,
    _whole_seconds(20, " (Patroni 4 silently raises a smaller ttl to 20 s)"),
    _SECONDS_FORM,
]
LoopWaitSeconds = Annotated[int, _whole_seconds(1, ""), _SECONDS_FORM]
RetrySeconds = Annotated[
    int, _whole_seconds(3, " (Patroni raises a smaller one to 3)"), _SECONDS_FORM
]
LagSize = Annotated[int, PlainValidator(_bytes_size), _file({"type": ["string", "integer"]})]
NodeCount = Annotated[int, PlainValidator(_node_count), _file({"type": "integer", "minimum": 1})]
PatroniSyncModeValue = Annotated[
    str, PlainValidator(_sync_mode), _file({"enum": ["off", "on", "strict"]})
]


def _etcd_members(v: object) -> int:
    if isinstance(v, bool) or v not in ETCD_MEMBERS:
        raise pydantic_error(Wrong("1 or 3 (etcd members: one, or a quorum of three)"))
    return int(str(v))


EtcdMembers = Annotated[int, PlainValidator(_etcd_members), _file({"enum": list(ETCD_MEMBERS)})]


class PatroniShape(_Section):
    """``topology.patroni`` (with ``manager: patroni``): Patroni's settings that bound loss
    and failover time, every one declared. ``loop_wait + 2 * retry_timeout <= ttl`` (else
    Patroni cuts them down on its own)."""

    ttl: TtlSeconds = Field(
        description="the leader key's lifetime: a dead leader is replaced after about this"
    )
    loop_wait: LoopWaitSeconds = Field(description="seconds between Patroni's HA loops")
    retry_timeout: RetrySeconds = Field(description="DCS and PostgreSQL retry timeout")
    maximum_lag_on_failover: LagSize = Field(
        description="a replica further behind than this is never promoted (a size)"
    )
    synchronous_mode: PatroniSyncModeValue = Field(
        description="off (async), on (Patroni empties the sync list when the standby goes), "
        "strict (commits wait while no standby is synchronous)"
    )
    synchronous_node_count: NodeCount = Field(description="synchronous standbys kept")
    failsafe_mode: Boolean = Field(
        description="a leader that loses the DCS keeps leading while it reaches every member"
    )
    use_pg_rewind: Boolean = Field(
        description="a rejoining old leader rewinds (erasing what it alone held)"
    )
    etcd_members: EtcdMembers = Field(
        1, description="the DCS: 1 etcd member, or 3 (each node reaches every member)"
    )


def _manager(v: object) -> str:
    if v != "patroni":
        raise pydantic_error(Wrong("patroni (or leave manager out: the schedule fails over)"))
    return "patroni"


class PostgresTopologySection(_Section):
    """``topology`` of a PostgreSQL scenario: a primary and its replicas. ``replicas``,
    ``settings`` and ``archive`` are checked item by item, each at its own line, by the
    topology checker."""

    synchronous_commit: SyncCommitValue = Field(
        description="the primary's commit level (a bare on/off reads as a boolean)"
    )
    num_sync: NumSync = Field(
        1, description="FIRST n / ANY n, at most the number of sync/quorum replicas"
    )
    replicas: Annotated[
        object,
        checked_elsewhere(
            Annotated[list[ReplicaShape | PatroniReplicaShape], Field(max_length=MAX_REPLICAS)]
        ),
    ] = Field(description="the replicas (may be empty; with manager: patroni, mode optional)")
    settings: Annotated[object, checked_elsewhere(dict[str, _Setting])] = Field(
        None, description="extra postgresql.conf settings, not the ones rpochaos manages"
    )
    archive: Annotated[object, checked_elsewhere(ArchiveShape)] = Field(
        None, description="WAL archiving and a base backup; archive_fail and restore need it"
    )
    manager: Annotated[str | None, PlainValidator(_manager), _file({"enum": ["patroni"]})] = Field(
        None, description="patroni: Patroni decides failover (absent: the schedule does)"
    )
    patroni: Annotated[object, checked_elsewhere(PatroniShape)] = Field(
        None, description="Patroni's settings, required with manager: patroni"
    )


_UP_TO_BROKERS = WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_BROKERS})


class KafkaTopologySection(_Section):
    """``topology`` of a Kafka scenario: a KRaft cluster, every node both broker and
    controller, one topic. ``settings`` (broker properties) are checked property by
    property, each at its own line, by the topology checker."""

    brokers: Brokers = Field(description="the number of brokers")
    replication_factor: Annotated[int, _UP_TO_BROKERS] = Field(description="1 to brokers")
    min_insync_replicas: Annotated[int, _UP_TO_BROKERS] = Field(
        description="1 to replication_factor: a durability knob, never defaulted"
    )
    unclean_leader_election: Boolean = Field(description="a durability knob, never defaulted")
    partitions: Partitions = Field(1, description="partitions of the topic")
    topic: Topic = Field("rpochaos", description="a Kafka topic name, not starting with '__'")
    settings: Annotated[object, checked_elsewhere(dict[str, _Setting])] = Field(
        None, description="broker properties, not the ones the cluster sets itself"
    )

    @field_validator("replication_factor", mode="plain")
    @classmethod
    def _replication_factor(cls, v: object, info: ValidationInfo) -> int:
        return _at_most_key(v, info, "brokers", "every replica is on its own broker")

    @field_validator("min_insync_replicas", mode="plain")
    @classmethod
    def _min_insync_replicas(cls, v: object, info: ValidationInfo) -> int:
        return _at_most_key(v, info, "replication_factor", "more could never be in sync")


def _at_most_key(v: object, info: ValidationInfo, key: str, why: str) -> int:
    """``v`` as an integer from 1 to the topology's ``key`` as validated so far (no upper
    bound when that key is missing or invalid); the problem's expected text names ``key``,
    its value and ``why``."""
    high = info.data.get(key)
    suffix = f" ({high}): {why}" if high else ""
    return _bounded(v, high, f"an integer from 1 to topology.{key}" + suffix)


def _bounded(v: object, high: int | None, expected: str) -> int:
    try:
        return bounded(v, high, expected)
    except Wrong as e:
        raise pydantic_error(e) from None


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    """A section's keys, in the order the model declares them."""
    return tuple(model.model_fields)


def required_of(model: type[BaseModel]) -> tuple[str, ...]:
    """A section's required keys, in the order the model declares them."""
    return tuple(k for k, info in model.model_fields.items() if info.is_required())


class ScenarioFile(_Section):
    """A scenario file (docs/scenarios.md). The sections are validated each by its own
    model (the topology's and workload's by the system's), the schedule step by step."""

    name: ScenarioName = Field(
        None, description="default: the file name; runs go under runs/<name>/"
    )
    description: Text = Field(None, description="shown by rpochaos list")
    system: Annotated[object, checked_elsewhere(Literal["postgres", "kafka", "mariadb"])] = Field(
        description="the system under test"
    )
    backend: Backend = Field(
        None, description="where nodes run; RPOCHAOS_BACKEND and --backend override it"
    )
    seed: Seed = Field(0, description="drives every random choice; --seed N overrides it")
    time_scale: TimeScale = Field(1.0, description="replay the timeline this many times faster")
    topology: Annotated[
        object,
        checked_elsewhere(PostgresTopologySection | KafkaTopologySection | MariaDBTopologySection),
    ] = Field(description="the cluster")
    workload: Annotated[object, checked_elsewhere(PostgresWorkload | KafkaWorkload)] = Field(
        description="the writes"
    )
    schedule: Annotated[object, checked_elsewhere(Annotated[list[Step], Field(min_length=1)])] = (
        Field(description="the steps, exactly one with outage: true")
    )
    expect: Annotated[object, checked_elsewhere(ExpectSection)] = Field(
        description="the verdict's thresholds"
    )
    search: Annotated[object, checked_elsewhere(SearchSection)] = Field(
        None, description="how rpochaos search may reshape the schedule (docs/search.md)"
    )


class PartitionParams(_Section):
    mode: PartitionMode
    direction: Direction = "both"


class LatencyParams(_Section):
    delay: Duration
    jitter: Duration = 0.0


class BandwidthParams(_Section):
    rate: Bandwidth  # KB/s


class CrashParams(_Section):
    links: CrashLinks = "cut"
    process: CrashProcess = None  # None: the whole node (postmaster: manager: patroni only)


class PauseParams(_Section):
    process: PauseProcess = None  # None: every process of the node (patroni: manager: patroni)


class ClockSkewParams(_Section):
    offset: Offset
    drift_ppm: DriftPpm = 0.0


#: an action's own keys, by action (promote's depend on its target: checked with targets)
ACTION_PARAMS: dict[str, type[BaseModel]] = {
    "partition": PartitionParams,
    "latency": LatencyParams,
    "bandwidth": BandwidthParams,
    "crash": CrashParams,
    "pause": PauseParams,
    "clock_skew": ClockSkewParams,
}
