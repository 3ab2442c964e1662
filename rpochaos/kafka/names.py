"""How the parts of a Kafka cluster are named: nodes ``broker1``..``brokerN`` (``node.id``
1..N), the proxied links between them (``client->brokerA``, ``brokerB->brokerA``,
``brokerB->controllerA``; see ``rpochaos.kafka.cluster`` for what each carries), and the
client endpoint a workload connects to."""

from __future__ import annotations

from rpochaos.scenario import kafka_link_names


def node_name(node_id: int) -> str:
    """3 -> ``broker3``: the name of the node with ``node.id`` ``node_id``."""
    return f"broker{node_id}"


def node_id_of(name: str) -> int:
    """``broker3`` -> 3 (also ``controller3`` -> 3)."""
    for prefix in ("broker", "controller"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
    raise ValueError(f"not a Kafka node name: {name!r} (expected broker<N>)")


def link_names(n_brokers: int) -> list[str]:
    """Every proxied link of an ``n_brokers`` cluster, in creation order:
    ``client->brokerA``; then for each ordered pair B != A, ``brokerB->brokerA`` (follower B
    fetching from leader A) and ``brokerB->controllerA`` (node B to A's controller role).
    The scenario validator's list, which is this one."""
    return list(kafka_link_names(n_brokers))


def link_ends(link: str) -> tuple[str, str]:
    """The two nodes of a link: ``broker2->controller1`` -> ("broker2", "broker1");
    ``client->broker1`` -> ("client", "broker1")."""
    src, _, dst = link.partition("->")
    if dst.startswith("controller"):
        dst = node_name(node_id_of(dst))
    return src, dst
