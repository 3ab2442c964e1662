"""The proxies of a Kafka cluster: one Toxiproxy proxy per link of ``link_names(n)``, each
forwarding to the real port of the listener the link stands for (see
``rpochaos.kafka.cluster`` for what each link carries):

- ``client->brokerA``: broker A's ``CLIENT`` listener; the harness connects through it.
- ``brokerB->brokerA``: broker A's ``FROM_BROKER<B>`` listener (follower B fetching from A).
- ``brokerB->controllerA``: node A's ``CONTROLLER`` listener (B to A's controller role).

The proxies exist before any node is configured: their addresses go into the nodes'
``server.properties``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from rpochaos.backends.base import Backend, LinkAddress
from rpochaos.kafka.names import link_ends, link_names, node_id_of
from rpochaos.kafka.node import KafkaNode
from rpochaos.proxy import Toxiproxy


def create_proxies(
    backend: Backend, proxy: Toxiproxy, nodes: Mapping[str, KafkaNode], n_brokers: int
) -> Iterator[tuple[str, LinkAddress]]:
    """Create the proxy of every link of an ``n_brokers`` cluster whose ``nodes`` (name ->
    node, every one of them prepared) have their ports, in ``link_names`` order; yield each
    link and its addresses as soon as its proxy exists."""
    for link in link_names(n_brokers):
        src, dst = link_ends(link)
        target = nodes[dst]
        if src == "client":
            port = target.client_port
        elif link.split("->")[1].startswith("controller"):
            port = target.controller_port
        else:
            port = target.inter_ports[node_id_of(src)]
        addr = backend.link(link, target.node, harness=src == "client", port=port)
        proxy.create_proxy(link, addr.listen, addr.upstream)
        yield link, addr
