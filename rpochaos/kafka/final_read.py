"""The final read of a Kafka topic: consume partitions from the beginning up to the high
watermark taken when the read starts, with a fresh consumer that joins no group, and collect
the sequence numbers in the message values (never offsets: they are reused after a
truncation)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from rpochaos.errors import TopologyError
from rpochaos.kafka.payload import decode_seq


@dataclass(frozen=True)
class TopicRead:
    """What a final read found: sequence numbers per partition, and how it went."""

    topic: str
    seqs_by_partition: dict[int, frozenset[int]]
    end_offsets: dict[int, int]  # high watermark per partition at the time of the read
    leaders: dict[int, str | None]
    records: int  # messages read
    duplicates: int  # messages whose seq was already read (a retry without idempotence)
    unparsed: int  # messages with no sequence number in their value (must be 0)
    hw_below_leo: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def seqs(self) -> frozenset[int]:
        """Every sequence number read, all partitions together."""
        out: set[int] = set()
        for s in self.seqs_by_partition.values():
            out |= s
        return frozenset(out)


def read_topic(
    bootstrap: Sequence[str],
    topic: str,
    partitions: Sequence[int],
    *,
    timeout_s: float = 60.0,
    leaders: dict[int, str | None] | None = None,
    hw_below_leo: dict[int, tuple[int, int]] | None = None,
) -> TopicRead:
    """Read ``partitions`` of ``topic`` from offset 0 (or the log start) up to the high
    watermark taken at the start of the read, with a fresh consumer that joins no group.
    TopologyError if some partition's position has not reached that mark within
    ``timeout_s``. ``leaders`` and ``hw_below_leo`` are recorded in the result as given."""
    consumer = KafkaConsumer(
        bootstrap_servers=list(bootstrap),
        client_id="rpochaos-final-read",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
        request_timeout_ms=10000,
        fetch_max_wait_ms=100,
        reconnect_backoff_max_ms=1000,
        metadata_max_age_ms=1000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
        seqs: dict[int, set[int]] = {p: set() for p in partitions}
        records = duplicates = unparsed = 0
        deadline = time.monotonic() + timeout_s
        pending = {tp for tp in tps if ends[tp.partition] > 0}
        while pending:
            if time.monotonic() > deadline:
                where = {
                    tp.partition: (consumer.position(tp), ends[tp.partition]) for tp in pending
                }
                raise TopologyError(
                    f"final read of {topic!r} did not reach the high watermark within "
                    f"{timeout_s:g} s: partition -> (position, end) {where}"
                )
            batch = consumer.poll(timeout_ms=500, max_records=10000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= ends[tp.partition]:
                        continue
                    records += 1
                    seq = decode_seq(m.value)
                    if seq is None:
                        unparsed += 1
                    elif seq in seqs[tp.partition]:
                        duplicates += 1
                    else:
                        seqs[tp.partition].add(seq)
            for tp in list(pending):
                if consumer.position(tp) >= ends[tp.partition]:
                    pending.discard(tp)
    finally:
        with contextlib.suppress(Exception):
            consumer.close()
    return TopicRead(
        topic=topic,
        seqs_by_partition={p: frozenset(s) for p, s in seqs.items()},
        end_offsets=ends,
        leaders=dict(leaders or {}),
        records=records,
        duplicates=duplicates,
        unparsed=unparsed,
        hw_below_leo=dict(hw_below_leo or {}),
    )
