"""Metadata and offset queries against a running cluster, through a kafka-python admin
client: who leads each partition and which replicas are in its ISR (as one broker or any
broker sees it), the high watermark or log end offset of partitions, and the broker and topic
configurations in force. Every query raises ``KafkaError`` (or ``OSError``) when nobody
answers; the callers decide whether to retry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient  # type: ignore[import-untyped]
from kafka import errors as kafka_errors
from kafka.admin import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]
from kafka.protocol.consumer.offsets import ListOffsetsRequest  # type: ignore[import-untyped]
from kafka.protocol.metadata import MetadataRequest  # type: ignore[import-untyped]

from rpochaos.kafka.names import node_id_of, node_name

#: broker settings reported as 'in force' by ``durability_in_force``, read back from a broker
DURABILITY_SETTINGS: tuple[str, ...] = (
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "replica.lag.time.max.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "default.replication.factor",
)
#: ListOffsets replica id of a "debugging consumer": any replica answers, up to its log end
_DEBUG_REPLICA_ID = -2
_LATEST = -1


@dataclass(frozen=True)
class PartitionState:
    """One partition as a broker's metadata describes it."""

    partition: int
    leader: str | None  # None: no leader (offline)
    replicas: tuple[str, ...]
    isr: tuple[str, ...]


@contextlib.contextmanager
def admin_client(bootstrap: Sequence[str], timeout_s: float = 5.0) -> Iterator[Any]:
    """A kafka-python admin client with bounded timeouts, closed on exit."""
    ms = max(500, int(timeout_s * 1000))
    admin = KafkaAdminClient(
        bootstrap_servers=list(bootstrap),
        client_id="rpochaos-admin",
        request_timeout_ms=ms,
        bootstrap_timeout_ms=ms,
        reconnect_backoff_ms=50,
        reconnect_backoff_max_ms=1000,
        metadata_max_age_ms=1000,
    )
    try:
        yield admin
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def describe_partitions(admin: Any, topic: str, node_id: int | None = None) -> list[PartitionState]:
    """Leader, replicas and ISR of every partition of ``topic`` (a metadata request), as
    broker ``node_id`` sees them, or any broker when None."""
    if node_id is None:
        topics = admin.describe_topics([topic])
    else:
        request = MetadataRequest(
            topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
            allow_auto_topic_creation=False,
        )

        async def send() -> Any:
            return await admin._manager.send(request, node_id=node_id)

        topics = admin._manager.run(send).to_dict()["topics"]
    out: list[PartitionState] = []
    for t in topics:
        if t.get("name") != topic:
            continue
        if t.get("error_code", 0) != 0:
            err = kafka_errors.for_code(int(t["error_code"]))
            raise err(f"metadata of topic {topic!r}")
        for p in t.get("partitions", []):
            leader = int(p["leader_id"])
            out.append(
                PartitionState(
                    partition=int(p["partition_index"]),
                    leader=node_name(leader) if leader >= 0 else None,
                    replicas=tuple(node_name(int(r)) for r in p["replica_nodes"]),
                    isr=tuple(node_name(int(r)) for r in p["isr_nodes"]),
                )
            )
    return sorted(out, key=lambda s: s.partition)


def list_offsets(
    admin: Any, node_id: int, topic: str, partitions: Sequence[int], *, log_end: bool
) -> dict[int, int]:
    """Latest offsets of ``partitions`` as broker ``node_id`` sees them. ``log_end=False``: the
    high watermark (what consumers may read; the broker must lead the partition).
    ``log_end=True``: the replica's log end offset, asked as a debugging consumer (replica id
    -2), which any replica answers. Partitions that answer with an error are left out."""
    req_topic = ListOffsetsRequest.ListOffsetsTopic
    req_part = req_topic.ListOffsetsPartition
    request = ListOffsetsRequest(
        replica_id=_DEBUG_REPLICA_ID if log_end else -1,
        isolation_level=0,
        topics=[
            req_topic(
                name=topic,
                partitions=[req_part(partition_index=p, timestamp=_LATEST) for p in partitions],
            )
        ],
    )

    async def send() -> Any:
        return await admin._manager.send(request, node_id=node_id)

    response = admin._manager.run(send)
    out: dict[int, int] = {}
    for t in response.topics:
        for p in t.partitions:
            if p.error_code == 0:
                out[int(p.partition_index)] = int(p.offset)
    return out


def end_offsets(
    admin: Any, topic: str, leaders: Mapping[int, str], *, log_end: bool
) -> dict[int, int]:
    """``list_offsets`` of every partition in ``leaders`` (partition -> leader), each asked of
    its leader: the high watermarks, or with ``log_end`` the leaders' log end offsets."""
    out: dict[int, int] = {}
    by_leader: dict[str, list[int]] = {}
    for p, leader in leaders.items():
        by_leader.setdefault(leader, []).append(p)
    for leader, parts in by_leader.items():
        out.update(list_offsets(admin, node_id_of(leader), topic, parts, log_end=log_end))
    return out


def durability_in_force(admin: Any, topic: str, default_leader: str) -> dict[str, object]:
    """The durability settings in force, read back: the ``DURABILITY_SETTINGS`` of the
    partition-0 leader's broker config (``default_leader`` when no partition has a leader),
    the topic's effective ``min.insync.replicas``, ``unclean.leader.election.enable``,
    ``flush.messages`` and ``flush.ms`` under "topic", the largest replica count as
    "replication_factor" and the broker asked as "read_from"."""
    out: dict[str, object] = {}
    states = describe_partitions(admin, topic)
    leader = next((s.leader for s in states if s.leader), default_leader)
    broker = str(node_id_of(leader))
    got = admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.BROKER, broker),
            ConfigResource(ConfigResourceType.TOPIC, topic),
        ],
        config_filter="all",
    )
    bcfg = got.get("broker", {}).get(broker, {})
    tcfg = got.get("topic", {}).get(topic, {})
    for name in DURABILITY_SETTINGS:
        if name in bcfg:
            out[name] = bcfg[name].get("value")
    topic_out: dict[str, object] = {}
    for name in (
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "flush.messages",
        "flush.ms",
    ):
        if name in tcfg:
            topic_out[name] = tcfg[name].get("value")
    out["topic"] = topic_out
    out["replication_factor"] = max((len(s.replicas) for s in states), default=None)
    out["read_from"] = leader
    return out
