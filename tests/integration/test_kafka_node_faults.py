"""io_stall and clock_skew on a real Kafka broker (local backend): the node-fault shim
preloaded into the broker's JVM.

- clock_skew: with ``log.message.timestamp.type=LogAppendTime`` the broker stamps every
  record with its own wall clock, so a record produced while the broker's clock is skewed
  carries the skewed time (and a record produced after healing, the real one);
- io_stall: an acks=1 produce needs the leader's append to its log segment (a write to a
  regular file), so it is not acknowledged while the stall lasts, and is once it heals.

Both fail when the fault does nothing (the record time would be real; the produce would be
acknowledged in milliseconds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos import deps
from rpochaos.backends import start_proxy
from rpochaos.backends.local import LocalBackend
from rpochaos.faults.shim import ClockControl, ClockSkew, IoStall, IoStallSwitch, node_env
from rpochaos.kafka import jars
from rpochaos.kafka.cluster import KafkaCluster, encode_payload
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module", autouse=True)
def kafka_installed() -> None:
    require(jars.java_bin)
    require(jars.kafka_classpath)
    require(deps.toxiproxy_server)


@pytest.fixture
def one_broker(tmp_path: Path) -> Iterator[tuple[KafkaCluster, IoStallSwitch, ClockControl]]:
    """One broker whose JVM runs with the shim, its io-stall switch and its clock file."""
    shim = require(deps.node_shim)
    switch = IoStallSwitch(tmp_path / "broker1.iostall")
    clock = ClockControl(tmp_path / "broker1.clock")
    backend = LocalBackend(tmp_path)
    proxy = start_proxy(backend)
    cluster = KafkaCluster(
        1,
        replication_factor=1,
        min_insync_replicas=1,
        unclean_leader_election=False,
        backend=backend,
        proxy=proxy,
        data_dir=backend.data_root(),
        settings={"log.message.timestamp.type": "LogAppendTime"},
        node_env={"broker1": node_env(shim, switch, clock)},
    )
    try:
        cluster.start()
        yield cluster, switch, clock
    finally:
        switch.off()
        cluster.close()
        proxy.close()
        backend.close()
        backend.remove_data()


def _producer(cluster: KafkaCluster) -> Any:
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    return KafkaProducer(
        bootstrap_servers=cluster.bootstrap(),
        acks=1,
        enable_idempotence=False,
        retries=0,
        linger_ms=0,
        request_timeout_ms=30000,
        delivery_timeout_ms=60000,
    )


def test_clock_skew_moves_the_brokers_log_append_time(
    one_broker: tuple[KafkaCluster, IoStallSwitch, ClockControl],
) -> None:
    cluster, _, clock = one_broker
    producer = _producer(cluster)
    try:

        def stamp(seq: int) -> float:
            meta = producer.send(cluster.topic, encode_payload(seq), partition=0).get(10)
            return float(meta.timestamp) / 1000.0 - time.time()

        assert abs(stamp(1)) < 2.0, "before the skew the broker's clock is real"
        with ClockSkew("broker1", clock, offset_s=3600.0):
            skewed = stamp(2)
            assert 3590.0 < skewed < 3610.0, f"LogAppendTime is {skewed:+.1f} s off, not +3600"
        assert abs(stamp(3)) < 2.0, "healing puts the broker's clock back"
    finally:
        producer.close()


def test_io_stall_holds_an_acks1_produce_until_it_heals(
    one_broker: tuple[KafkaCluster, IoStallSwitch, ClockControl],
) -> None:
    from kafka.errors import KafkaTimeoutError  # type: ignore[import-untyped]

    cluster, switch, _ = one_broker
    producer = _producer(cluster)
    try:
        producer.send(cluster.topic, encode_payload(0), partition=0).get(10)  # warm
        with IoStall("broker1", switch):
            t0 = time.monotonic()
            future = producer.send(cluster.topic, encode_payload(1), partition=0)
            with pytest.raises(KafkaTimeoutError):
                future.get(2.0)
            held = time.monotonic() - t0
        meta = future.get(15.0)  # acknowledged once the disk answers again
        waited = time.monotonic() - t0
        assert meta.offset >= 1
        assert held > 1.9 and waited >= held, (held, waited)  # get(2.0) timed out
    finally:
        producer.close()


def test_shim_faults_on_brokers_are_refused_on_docker_before_anything_starts(
    tmp_path: Path,
) -> None:
    """The official apache/kafka image is musl-based: the shim could not load, and an inert
    fault would be a silent lie, so the run refuses up front (no engine needed)."""
    from rpochaos.errors import ScenarioError
    from rpochaos.run import run

    scenario = tmp_path / "kafka-clock.yaml"
    scenario.write_text(
        "name: kafka-clock\nsystem: kafka\ntopology:\n  brokers: 1\n  replication_factor: 1\n"
        "  min_insync_replicas: 1\n  unclean_leader_election: false\n"
        "workload:\n  rate: 10/s\n  duration: 2s\n  acks: all\n  enable_idempotence: true\n"
        "schedule:\n  - at: 1s\n    clock_skew: leader\n    offset: 30s\n    outage: true\n"
        "expect:\n  rpo: 1s\n"
    )
    with pytest.raises(ScenarioError) as e:
        run(scenario, backend="docker", out=tmp_path / "run")
    assert "need the local backend" in str(e.value) and "clock_skew" in str(e.value)
    assert not (tmp_path / "run").exists()
