"""The Kafka probe of a game day: rpochaos's Kafka writer on the run's own topic, nothing else.

``KafkaSide(inv, run_id, workload, journal, clock)`` is what ``execute`` drives, as it drives
the PostgreSQL probe (``rpochaos.gameday.probe.PostgresSide``): ``create`` makes the topic
``<topic_prefix><run id>`` (``rpochaos.gameday.kafka_topic``), ``start``/``stop`` run the
writer (``KafkaProbe``: a ``KafkaWriter`` with the plan's ``acks`` and
``enable_idempotence``, bootstrapped at the inventory's addresses, one partition, journaling
each write's leader under the inventory's broker names, and keeping the counts the
error-rate stop condition reads), ``final_read`` reads the topic from the beginning up to its
high watermark once a leader is back and its high watermark reached its log end (as a CI
run's final read waits), and ``drop`` deletes the topic.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from kafka import TopicPartition  # type: ignore[import-untyped]
from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.backends.base import Endpoint
from rpochaos.clock import Clock
from rpochaos.errors import TopologyError
from rpochaos.gameday.inventory import KafkaInventory
from rpochaos.gameday.kafka_topic import (
    create_topic,
    delete_topic,
    durability,
    leader_of,
    settle,
    topic_configs,
    topic_name,
)
from rpochaos.history import Journal, Outcome
from rpochaos.kafka.final_read import read_topic
from rpochaos.kafka.workload import DELIVERY_TIMEOUT_S, KafkaWriter
from rpochaos.measure import FinalRead
from rpochaos.scenario import Workload

#: how long the final read waits for the partition to have a leader again
LEADER_WAIT_S = 30.0


def endpoint(name: str, address: str) -> Endpoint:
    host, _, port = address.rpartition(":")
    return Endpoint(host, int(port), name)


class KafkaProbe(KafkaWriter):
    def __init__(
        self,
        inv: KafkaInventory,
        topic: str,
        workload: Workload,
        journal: Journal,
        clock: Clock,
    ) -> None:
        acks = workload.producer_acks
        assert acks is not None, "a Kafka plan declares acks"
        super().__init__(
            [endpoint(n, b.bootstrap) for n, b in inv.brokers.items()],
            workload,
            journal,
            clock,
            acks=acks,
            enable_idempotence=bool(workload.enable_idempotence),
            topic=topic,
            partitions=1,
            delivery_timeout_s=(
                workload.commit_timeout
                if workload.commit_timeout is not None
                else DELIVERY_TIMEOUT_S
            ),
        )
        self.config["client_id"] = "rpochaos-gameday"
        self.inv = inv
        self._recent_lock = threading.Lock()
        #: (completion time, ok) of recent writes, for the error-rate stop condition
        self.recent: deque[tuple[float, bool]] = deque(maxlen=20000)

    def _complete(self, seq: int, outcome: Outcome, node: str | None, note: str | None) -> None:
        super()._complete(seq, outcome, node, note)
        with self._recent_lock:
            self.recent.append((self.clock.now(), outcome is Outcome.OK))

    def _leader(self, producer: Any, partition: int) -> str | None:
        try:
            leader = producer._metadata.leader_for_partition(TopicPartition(self.topic, partition))
        except Exception:
            return None
        if not isinstance(leader, int) or leader < 0:
            return None
        return self.inv.broker_of(leader) or f"node{leader}"

    def error_rate(self, window_s: float) -> tuple[float, int]:
        """(fraction not ok, writes counted) over the last ``window_s`` seconds."""
        since = self.clock.now() - window_s
        with self._recent_lock:
            got = [ok for t, ok in self.recent if t >= since]
        return ((len(got) - sum(got)) / len(got) if got else 0.0), len(got)


class KafkaSide:
    """The Kafka probe as ``execute`` drives it (see the module docstring)."""

    what = "topic"

    def __init__(
        self,
        inv: KafkaInventory,
        run_id: str,
        workload: Workload,
        journal: Journal,
        clock: Clock,
    ) -> None:
        self.inv = inv
        self.workload = workload
        self.name = topic_name(inv.probe.topic_prefix, run_id)
        self.journal = journal
        self.clock = clock
        #: made at ``start``: its pacer starts from the clock's t=0, after the topic exists
        self.probe: KafkaProbe | None = None

    def settings(self) -> dict[str, object]:
        """The durability the probe declares (read back from the brokers once the topic
        exists: ``read_back``)."""
        w, pr = self.workload, self.inv.probe
        return {
            "acks": w.acks,
            "enable.idempotence": w.enable_idempotence,
            "replication_factor": pr.replication_factor,
            **topic_configs(self.inv),
            "replicas": self.inv.replicas,
            "partitions": 1,
            "brokers": len(self.inv.brokers),
        }

    def read_back(self) -> dict[str, object]:
        try:
            return durability(self.inv, self.name)
        except (KafkaError, OSError, KeyError) as e:
            return {"error": f"{type(e).__name__}: {e}"[:200]}

    def versions(self) -> dict[str, object]:
        return {"kafka": "an existing cluster (version not read)"}

    def meta(self) -> dict[str, object]:
        return {"topic": self.name}

    def create(self) -> None:
        create_topic(self.inv, self.name)

    def start(self) -> None:
        self.probe = KafkaProbe(self.inv, self.name, self.workload, self.journal, self.clock)
        self.probe.start()

    def stop(self) -> None:
        if self.probe is not None:
            self.probe.join(10.0)

    def error_rate(self, window_s: float) -> tuple[float, int]:
        return (0.0, 0) if self.probe is None else self.probe.error_rate(window_s)

    def final_read(self, promoted: str | None) -> FinalRead | None:
        """Wait (bounded) for partition 0 to have a leader and for the leader's high
        watermark to reach its log end, then read the whole topic up to the high watermark."""
        del promoted  # Kafka elects its leader itself
        deadline = time.monotonic() + LEADER_WAIT_S
        leader: str | None = None
        while leader is None:
            try:
                leader = leader_of(self.inv, self.name)
            except (KafkaError, OSError):
                leader = None
            if leader is None:
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.3)
        settle(self.inv, self.name)  # bounded; a read below the log end is what it is
        try:
            r = read_topic(self.inv.bootstrap, self.name, [0], timeout_s=30.0)
        except (KafkaError, OSError, TopologyError):
            return None
        return FinalRead(node=leader, seqs=r.seqs, at_s=self.clock.now())

    def drop(self, node: str | None) -> None:
        del node  # the topic is deleted through any broker
        delete_topic(self.inv, self.name)
