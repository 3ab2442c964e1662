"""The Kafka probe's topic on a system rpochaos did not build: its name, its creation with
every durability setting explicit, its deletion, and what the preflight asks the brokers.

The topic is ``<topic_prefix><run id>``, one partition, its replicas the first
``replication_factor`` brokers of the inventory in order (an explicit assignment, so the
first broker is the preferred leader and a plan knows whom it cuts), created with
``min.insync.replicas`` and ``unclean.leader.election.enable`` as topic configs (never the
brokers' defaults). ``broker_views(inv)`` asks each broker, through its own bootstrap
address, which brokers the cluster advertises: a broker advertising another address than
the inventory's would send clients around the inventory's proxies. Every call is bounded;
errors are ``KafkaError`` or ``OSError``, for the caller to report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.gameday.inventory import KafkaInventory
from rpochaos.kafka.metadata import (
    admin_client,
    describe_partitions,
    durability_in_force,
    end_offsets,
)
from rpochaos.kafka.names import node_id_of

#: how long a topic's creation or deletion may take to show in the metadata
SETTLE_S = 15.0


def short_error(e: BaseException) -> str:
    """``Name: first line`` of an error, once (kafka-python's messages often start with
    their class name already)."""
    lines = str(e).strip().splitlines()
    first, name = (lines[0] if lines else ""), type(e).__name__
    return (first if first.startswith(name) else f"{name}: {first}")[:200]


def topic_name(prefix: str, run_id: str) -> str:
    return f"{prefix}{run_id}"


def topic_configs(inv: KafkaInventory) -> dict[str, str]:
    """The topic configs the probe's topic is created with: every knob that bounds loss."""
    pr = inv.probe
    return {
        "min.insync.replicas": str(pr.min_insync_replicas),
        "unclean.leader.election.enable": "true" if pr.unclean_leader_election else "false",
    }


@dataclass(frozen=True)
class BrokerView:
    """What broker ``name`` answered: the advertised address of each node id, or why not."""

    name: str
    advertised: dict[int, str]
    error: str | None = None


def broker_views(inv: KafkaInventory, timeout_s: float = 3.0) -> list[BrokerView]:
    out: list[BrokerView] = []
    for name, b in inv.brokers.items():
        try:
            with admin_client([b.bootstrap], timeout_s) as admin:
                info = admin.describe_cluster()
            adv = {int(x["broker_id"]): f"{x['host']}:{x['port']}" for x in info["brokers"]}
            out.append(BrokerView(name, adv))
        except (KafkaError, OSError, KeyError, TypeError, ValueError) as e:  # never a traceback
            out.append(BrokerView(name, {}, short_error(e)))
    return out


def create_topic(inv: KafkaInventory, topic: str, timeout_s: float = SETTLE_S) -> str:
    """Create the probe's topic and wait until its partition has the preferred leader with
    every replica in sync; returns the leader's inventory name. TimeoutError past
    ``timeout_s``."""
    ids = [inv.brokers[n].node_id for n in inv.replicas]
    with admin_client(inv.bootstrap, 5.0) as admin:
        admin.create_topics(
            {topic: {"assignments": {0: ids}, "configs": topic_configs(inv)}},
            timeout_ms=int(timeout_s * 1000),
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                states = describe_partitions(admin, topic)
            except KafkaError:
                states = []
            if states and states[0].leader is not None:
                s = states[0]
                if node_id_of(s.leader or "") == ids[0] and len(s.isr) == len(ids):
                    return inv.replicas[0]
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"topic {topic!r} created but not led by {inv.replicas[0]} with every "
                    f"replica in sync within {timeout_s:g}s: {states}"
                )
            time.sleep(0.2)


def delete_topic(inv: KafkaInventory, topic: str, timeout_s: float = SETTLE_S) -> None:
    """Delete the probe's topic and wait until no broker that answers lists it any more
    (each broker asked at its own address: deletion reaches each broker's metadata in its
    own time, and a client bootstrapping through one of them would still see the topic).
    TimeoutError past ``timeout_s``."""
    with admin_client(inv.bootstrap, 5.0) as admin:
        admin.delete_topics([topic], timeout_ms=int(timeout_s * 1000))
    deadline = time.monotonic() + timeout_s
    for name, b in inv.brokers.items():
        while _lists(b.bootstrap, topic):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"topic {topic!r} still listed by {name} {timeout_s:g}s after deletion"
                )
            time.sleep(0.2)


def _lists(bootstrap: str, topic: str) -> bool:
    """Whether the broker at ``bootstrap`` lists ``topic`` (False when it does not answer:
    a broker the game day killed has no metadata to clean)."""
    try:
        with admin_client([bootstrap], 3.0) as admin:
            return topic in admin.list_topics()
    except (KafkaError, OSError, ValueError):
        return False


def topics_with_prefix(inv: KafkaInventory) -> list[str]:
    with admin_client(inv.bootstrap, 5.0) as admin:
        names: list[str] = admin.list_topics()
    return sorted(t for t in names if t.startswith(inv.probe.topic_prefix))


def leader_of(inv: KafkaInventory, topic: str) -> str | None:
    """The inventory's name of the broker leading the topic's partition 0 (None: none, or a
    broker not in the inventory)."""
    with admin_client(inv.bootstrap, 3.0) as admin:
        states = describe_partitions(admin, topic)
    if not states or states[0].leader is None:
        return None
    return inv.broker_of(node_id_of(states[0].leader))


def settle(inv: KafkaInventory, topic: str, timeout_s: float = 15.0) -> tuple[int, int] | None:
    """Wait (bounded) until partition 0's leader has its high watermark at its log end
    offset, so a read up to the high watermark sees all the leader holds (a write the new
    leader acknowledged alone with acks=1 is below its high watermark only once the other
    in-sync replicas have it). None when it got there; else the last (hw, leo) seen
    ((-1, -1): no leader, or no answer)."""
    deadline = time.monotonic() + timeout_s
    last = (-1, -1)
    while True:
        try:
            with admin_client(inv.bootstrap, 3.0) as admin:
                states = describe_partitions(admin, topic)
                leader = states[0].leader if states else None
                if leader is not None:
                    hw = end_offsets(admin, topic, {0: leader}, log_end=False).get(0, -1)
                    leo = end_offsets(admin, topic, {0: leader}, log_end=True).get(0, -1)
                    last = (hw, leo)
                    if hw >= 0 and hw >= leo:
                        return None
        except (KafkaError, OSError):
            pass
        if time.monotonic() >= deadline:
            return last
        time.sleep(0.2)


def durability(inv: KafkaInventory, topic: str, timeout_s: float = 10.0) -> dict[str, object]:
    """The durability settings in force on the probe's topic, read back from the brokers
    (retried for ``timeout_s`` while a broker does not know the new topic yet: it fails, or
    answers with no configuration for the topic; past that, what it answered)."""
    deadline = time.monotonic() + timeout_s
    while True:  # a broker may not know a topic the controller just created
        try:
            with admin_client(inv.bootstrap, 5.0) as admin:
                got: dict[str, Any] = durability_in_force(admin, topic, "broker1")
            if got.get("topic") or time.monotonic() >= deadline:
                return got
        except KafkaError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.3)
