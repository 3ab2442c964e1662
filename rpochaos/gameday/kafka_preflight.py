"""The Kafka part of a game day's preflight (``rpochaos.gameday.preflight`` adds the checks
every system shares).

``kafka_checks(inv)``: each broker answers at its bootstrap address, and what the cluster
advertises for each of the inventory's node ids is that broker's bootstrap address (a broker
advertising another address would send the probe's connections around the proxies: refused);
a broker the cluster has and the inventory does not is reported, not refused (the probe's
topic is placed only on the inventory's brokers), and so are topics earlier runs left under
the prefix (kept, or a killed run's); the probe can create its own topic there (with the
declared durability, led by the inventory's first broker) and delete it again. The test
topic is the only change, made only when every broker answered as declared, and deleted
before the check returns.
"""

from __future__ import annotations

import contextlib
import secrets

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.gameday.inventory import KafkaInventory
from rpochaos.gameday.kafka_topic import (
    broker_views,
    create_topic,
    delete_topic,
    short_error,
    topic_configs,
    topic_name,
    topics_with_prefix,
)
from rpochaos.gameday.preflight import Check


def kafka_checks(inv: KafkaInventory) -> list[Check]:
    checks: list[Check] = []
    views = broker_views(inv)
    answered = [v for v in views if v.error is None]
    for v in views:
        b = inv.brokers[v.name]
        what = f"broker {v.name} (node {b.node_id}) at {b.bootstrap}"
        if v.error is not None:
            checks.append(Check(what, False, v.error))
            continue
        got = v.advertised.get(b.node_id)
        if got is None:
            checks.append(Check(what, False, f"answers, but the cluster has no node {b.node_id}"))
        elif got != b.bootstrap:
            checks.append(
                Check(
                    what,
                    False,
                    f"the cluster advertises node {b.node_id} as {got}, not {b.bootstrap}: "
                    "clients would connect around the inventory's proxies",
                )
            )
        else:
            checks.append(Check(what, True, f"advertised as {got}"))
    if not all(c.ok for c in checks):
        return checks  # no test topic on a cluster the probe would not reach as declared
    ours = {b.node_id for b in inv.brokers.values()}
    others = sorted(set(answered[0].advertised) - ours)
    if others:
        checks.append(
            Check(
                "brokers outside the inventory",
                True,
                f"nodes {others} are in the cluster, not in the inventory: the probe's topic "
                "is not placed on them and no fault touches them",
            )
        )
    prefix = inv.probe.topic_prefix
    try:
        left = topics_with_prefix(inv)
    except (KafkaError, OSError) as e:
        checks.append(Check(f"topics under prefix {prefix!r}", False, short_error(e)))
        return checks
    checks.append(
        Check(
            f"topics under prefix {prefix!r}",
            True,
            "none"
            if not left
            else f"left by earlier runs (--keep-data, or a killed run): {left}; the probe "
            "never writes to them: delete them when done",
        )
    )
    test = topic_name(prefix, f"preflight{secrets.token_hex(3)}")
    what = f"probe can create and delete a topic under {prefix!r}"
    cfg = ", ".join(f"{k}={v}" for k, v in topic_configs(inv).items())
    try:
        leader = create_topic(inv, test)
    except (KafkaError, OSError, TimeoutError) as e:
        checks.append(Check(what, False, f"create {test}: {short_error(e)}"))
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            delete_topic(inv, test)
        return checks
    try:
        delete_topic(inv, test)
    except (KafkaError, OSError, TimeoutError) as e:
        checks.append(Check(what, False, f"created {test}, but delete: {short_error(e)}"))
        return checks
    checks.append(
        Check(
            what,
            True,
            f"replicas {', '.join(inv.replicas)}, led by {leader}, {cfg}",
        )
    )
    return checks
