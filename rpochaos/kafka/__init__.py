"""Kafka as a system under test: the broker jars, the cluster, the writer, the observer.

- ``rpochaos.kafka.jars``: where the jars and ``java`` are (``kafka_classpath()``).
- ``rpochaos.kafka.cluster``: ``KafkaCluster`` (KRaft, every link through Toxiproxy), built
  from ``names`` (nodes, links, endpoints), ``node`` (one JVM: command lines, crash, restart),
  ``wiring`` (the proxies), ``queries`` (readiness and leaders), ``metadata`` (admin-client
  requests: partitions, offsets, configs), ``final_read`` and ``payload`` (the message value).
- ``rpochaos.kafka.workload``: ``KafkaWriter`` (kafka-python producer, journaled).
- ``rpochaos.kafka.observe``: ``KafkaObserver`` (leader, ISR, HW, LEO per partition).

See docs/kafka.md.
"""

from __future__ import annotations

import warnings

# kafka-python 3.0 reads its protocol schemas at import time with importlib.resources'
# deprecated read_text()/open_text(): a hundred DeprecationWarnings that say nothing about us.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, message=r".* is deprecated\. Use files\(\) instead"
    )
    import kafka  # type: ignore[import-untyped]  # noqa: F401
