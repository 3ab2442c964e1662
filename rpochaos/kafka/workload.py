"""The Kafka writer: unique increasing sequence numbers produced at a target rate.

One kafka-python producer, shared by ``concurrency`` worker threads. Each worker takes the
next start time from a shared pacer, journals the invoke, sends one message and waits for its
future: at most ``concurrency`` messages are in flight, as with the PostgreSQL writer's
connections. The message goes to partition ``seq % partitions`` (explicitly, never by the
partitioner) and its value is ``{"seq": N, ...}`` (``rpochaos.kafka.payload.encode_payload``):
the final read matches by that number, never by offset (offsets are reused after a
truncation).

``acks`` and ``enable_idempotence`` are always passed to the producer explicitly: the client's
defaults changed between major versions (kafka-python 3.x: acks=all, idempotence on; 2.x:
acks=1, off). Outcomes, on the harness clock:

- ``ok``: the future resolved with a RecordMetadata (the broker acknowledged per ``acks``;
  with acks=0 that is the moment the bytes were handed to the socket).
- ``fail``: definitely not written: ``send()`` itself raised (no metadata within
  ``max_block_ms``, a closed producer, a record too large), or the broker rejected the request
  for a reason that does not depend on timing (``DEFINITE_ERRORS``: the same request was
  rejected on every attempt, so no earlier attempt can have been written).
- ``info``: anything else: the batch expired (delivery timeout), a retriable error was the
  last of several attempts (an earlier attempt may have been appended), no answer within the
  wait, or any other exception. Kafka's NotEnoughReplicas after a timed-out attempt is the
  classic case: the first attempt may be in the leader's log.

The journal's ``node`` is the leader of the message's partition in the producer's metadata at
completion (``broker<N>``), or None when unknown.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from kafka import KafkaProducer, TopicPartition  # type: ignore[import-untyped]
from kafka import errors as kafka_errors

from rpochaos.backends.base import Endpoint
from rpochaos.clock import Clock
from rpochaos.errors import WorkloadError
from rpochaos.history import Journal, Outcome
from rpochaos.kafka.names import node_name
from rpochaos.kafka.payload import encode_payload, partition_of
from rpochaos.workload.pacing import Paced, PacedWriter

#: broker errors that reject a request whatever the timing: the record was not written
DEFINITE_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.InvalidRequiredAcksError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.InvalidRecordError,
)
ACKS: tuple[int | str, ...] = (0, 1, "all", -1)
#: the producer's delivery timeout (s) when the scenario sets no commit_timeout
DELIVERY_TIMEOUT_S = 10.0


class WorkloadLike(Paced, Protocol):
    """What the writer needs from a scenario's workload (rpochaos.scenario.Workload fits)."""

    @property
    def duration(self) -> float: ...  # seconds


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    name = type(e).__name__
    return (first if first.startswith(name) else f"{name}: {first}")[:200]


class KafkaWriter(PacedWriter[WorkloadLike]):
    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        workload: WorkloadLike,
        journal: Journal,
        clock: Clock,
        *,
        acks: int | str,
        enable_idempotence: bool,
        topic: str = "rpochaos",
        partitions: int = 1,
        request_timeout_s: float = 5.0,
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
        max_block_s: float = 5.0,
        linger_ms: int = 0,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        if acks not in ACKS or isinstance(acks, bool):
            raise WorkloadError(f"acks must be one of 0, 1, 'all' (or -1); got {acks!r}")
        if not isinstance(enable_idempotence, bool):
            raise WorkloadError(
                f"enable_idempotence must be true or false, got {enable_idempotence!r}"
            )
        if enable_idempotence and acks not in ("all", -1):
            raise WorkloadError(
                f"enable_idempotence=true needs acks=all (Kafka's rule); got acks={acks!r}"
            )
        if workload.rate <= 0 or workload.concurrency < 1:
            raise WorkloadError(
                f"rate must be > 0 and concurrency >= 1; got rate={workload.rate}, "
                f"concurrency={workload.concurrency}"
            )
        if delivery_timeout_s * 1000 < request_timeout_s * 1000 + linger_ms:
            raise WorkloadError(
                f"delivery_timeout_s={delivery_timeout_s:g} must be >= request_timeout_s="
                f"{request_timeout_s:g} + linger_ms={linger_ms} (the producer's rule)"
            )
        super().__init__(workload, journal, clock)
        self.endpoints = list(endpoints)
        self.acks = acks
        self.enable_idempotence = enable_idempotence
        self.topic = topic
        self.partitions = partitions
        self.delivery_timeout_s = delivery_timeout_s
        self.config: dict[str, Any] = {
            "bootstrap_servers": [e.address for e in self.endpoints],
            "client_id": "rpochaos-writer",
            "acks": acks,
            "enable_idempotence": enable_idempotence,
            "retries": 2147483647,  # bounded by delivery_timeout_ms, as in the Java client
            "delivery_timeout_ms": int(delivery_timeout_s * 1000),
            "request_timeout_ms": int(request_timeout_s * 1000),
            "max_block_ms": int(max_block_s * 1000),
            "linger_ms": linger_ms,
            "max_in_flight_requests_per_connection": 5,
            "retry_backoff_ms": 100,
            "reconnect_backoff_ms": 50,
            "reconnect_backoff_max_ms": 1000,
            "metadata_max_age_ms": 5000,
            "bootstrap_timeout_ms": int(max_block_s * 1000),
        }
        self.config.update(producer_config or {})
        # the caller's choice wins over producer_config: never a client default
        self.config["acks"] = acks
        self.config["enable_idempotence"] = enable_idempotence
        self._producer: Any = None
        self._producer_lock = threading.Lock()
        self._closed = False
        self._closers: list[threading.Thread] = []
        self.producers_created = 0

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Create the producer (WorkloadError if it cannot reach any broker) and start the
        workers."""
        try:
            self._current()
        except kafka_errors.KafkaError as e:
            raise WorkloadError(
                f"the Kafka producer could not start against {self.config['bootstrap_servers']}: "
                f"{_short(e)}"
            ) from e
        self._start_workers("kafka-writer")

    def join(self, timeout_s: float = 10.0) -> bool:
        """Wait for writes in flight. Past ``timeout_s``, close the producer without waiting
        (its unfinished futures fail, journaled as ``info``) and wait a little more. Returns
        False if some worker is still stuck. Always closes every producer."""
        stuck = not self._wait_workers(timeout_s)
        with self._producer_lock:
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is not None:
            _close_producer(producer, 0.0 if stuck else 2.0)
        if stuck:
            for t in self._threads:
                t.join(5.0)
        for t in self._closers:
            t.join(10.0)
        return not any(t.is_alive() for t in self._threads)

    # -- the producer --------------------------------------------------------------------
    def _current(self) -> Any:
        """The producer, created if there is none (KafkaError if it cannot bootstrap)."""
        with self._producer_lock:
            if self._closed:
                raise kafka_errors.IllegalStateError("the writer is closed")
            if self._producer is None:
                self._producer = KafkaProducer(**self.config)
                self.producers_created += 1
            return self._producer

    def _retire(self, producer: Any) -> None:
        """Replace ``producer`` after an unknown outcome: the next write gets a new one (a
        new producer id). Its unfinished sends fail (``info``). Needed because kafka-python
        3.0.12's idempotent producer resets its producer id when a batch expires and then
        never sends again; a client that reconnects after an error, as the PostgreSQL writer
        does, is also what applications do."""
        with self._producer_lock:
            if self._producer is not producer:
                return  # already replaced by another worker
            self._producer = None
        t = threading.Thread(
            target=_close_producer, args=(producer, 0.0), name="kafka-writer-close", daemon=True
        )
        t.start()
        self._closers.append(t)

    # -- the work ----------------------------------------------------------------------
    def _leader(self, producer: Any, partition: int) -> str | None:
        try:
            leader = producer._metadata.leader_for_partition(TopicPartition(self.topic, partition))
        except Exception:
            return None
        return node_name(int(leader)) if isinstance(leader, int) and leader >= 0 else None

    def _worker(self, wid: int) -> None:
        for seq in self._writes(wid):
            partition = partition_of(seq, self.partitions)
            try:
                producer = self._current()
            except Exception as e:  # no producer: nothing was sent
                self._complete(seq, Outcome.FAIL, None, f"connect: {_short(e)}")
                continue
            outcome, note = self._send(producer, seq, partition)
            node = self._leader(producer, partition)
            self._complete(seq, outcome, node, note)
            if outcome is Outcome.INFO:
                self._retire(producer)

    def _send(self, producer: Any, seq: int, partition: int) -> tuple[Outcome, str | None]:
        try:
            future = producer.send(self.topic, value=encode_payload(seq), partition=partition)
        except Exception as e:  # nothing was handed to the producer's sender
            return Outcome.FAIL, f"send: {_short(e)}"
        wait_s = self.delivery_timeout_s + 5.0
        try:
            future.get(timeout=wait_s)
        except DEFINITE_ERRORS as e:
            return Outcome.FAIL, f"rejected: {_short(e)}"
        except kafka_errors.KafkaTimeoutError as e:
            if not future.is_done:
                return Outcome.INFO, f"no answer within {wait_s:g} s"
            return Outcome.INFO, f"expired: {_short(e)}"
        except Exception as e:
            return Outcome.INFO, _short(e)
        return Outcome.OK, None


def _close_producer(producer: Any, timeout_s: float) -> None:
    """Close a kafka-python producer within about ``timeout_s`` + 5 s, whatever it holds."""
    try:
        producer.close(timeout=timeout_s)
    except Exception:
        # kafka-python's close() flushes first and raises if that times out, leaving the
        # sender running: force it closed (incomplete batches fail), then close again
        with contextlib.suppress(Exception):
            producer._sender.force_close()
            producer._sender.join(5.0)
        with contextlib.suppress(Exception):
            producer.close(timeout=0)
