"""A Kafka game day's inventory and plan, without a Kafka to run against."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from rpochaos.errors import ScenarioError
from rpochaos.gameday.cli import print_plan
from rpochaos.gameday.inventory import KafkaInventory, load_inventory, loads_inventory
from rpochaos.gameday.kafka_topic import topic_configs, topic_name
from rpochaos.gameday.plan import load_plan, loads_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "gameday"

INVENTORY = """\
name: staging-kafka
system: kafka
brokers:
  broker1:
    bootstrap: 127.0.0.1:19092
    node_id: 11
    container: k1
  broker2:
    bootstrap: kafka-2.staging:9092
    node_id: 12
    container: k2
  broker3:
    bootstrap: "[::1]:9094"
    node_id: 13
toxiproxy:
  api: http://127.0.0.1:8474
  links:
    broker2->broker1: b2-b1
    broker3->broker1: b3-b1
    client->broker1: c-b1
docker: {}
probe:
  topic_prefix: rpochaos-probe-
  replication_factor: 3
  min_insync_replicas: 1
  unclean_leader_election: false
limits:
  max_fault: 10s
  max_total: 1m
  max_rate: 300/s
"""

PLAN = """\
name: gd
system: kafka
workload:
  rate: 100/s
  duration: 9s
  acks: 1
  enable_idempotence: false
schedule:
  - at: 2s
    partition: broker2->broker1
    mode: blackhole
  - at: 5s
    crash: broker1
    outage: true
expect:
  rpo: 1s
"""


def kinv(text: str = INVENTORY) -> KafkaInventory:
    inv = loads_inventory(text, "k.inventory.yaml")
    assert isinstance(inv, KafkaInventory)
    return inv


def problems(e: pytest.ExceptionInfo[ScenarioError]) -> list[str]:
    return [str(p) for p in e.value.problems]


def test_a_kafka_inventory_names_brokers_their_addresses_and_the_topic_durability() -> None:
    inv = kinv()
    assert inv.bootstrap == ["127.0.0.1:19092", "kafka-2.staging:9092", "[::1]:9094"]
    assert inv.replicas == ["broker1", "broker2", "broker3"]
    assert inv.broker_of(12) == "broker2" and inv.broker_of(2) is None
    assert inv.container_of("broker2") == "k2" and inv.container_of("broker3") is None
    assert topic_name(inv.probe.topic_prefix, "g1202a1") == "rpochaos-probe-g1202a1"
    assert topic_configs(inv) == {
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "false",
    }


def test_the_example_kafka_inventory_and_plan_load() -> None:
    inv = load_inventory(EXAMPLES / "staging-kafka.inventory.yaml")
    assert isinstance(inv, KafkaInventory)
    plan = load_plan(EXAMPLES / "kafka-leader-cut-crash.plan.yaml", inv)
    assert [(s.step.action, s.step.target) for s in plan.steps] == [
        ("partition", "broker2->broker1"),
        ("partition", "broker3->broker1"),
        ("crash", "broker1"),
    ]
    assert plan.scenario.workload.acks == "1"


def test_every_kafka_inventory_problem_at_once_with_its_line() -> None:
    text = (
        INVENTORY.replace("bootstrap: 127.0.0.1:19092", "bootstrap: 127.0.0.1")
        .replace("topic_prefix: rpochaos-probe-", "topic_prefix: __consumer")
        .replace("  unclean_leader_election: false\n", "")
        .replace("node_id: 12", "node_id: -1")
    )
    with pytest.raises(ScenarioError) as e:
        kinv(text)
    got = problems(e)
    assert any("k.inventory.yaml:5" in p and "brokers.broker1.bootstrap" in p for p in got), got
    assert any("brokers.broker2.node_id" in p and ":10:" in p for p in got), got
    assert any("probe.topic_prefix" in p and "'__consumer'" in p for p in got), got
    assert any("probe.unclean_leader_election" in p and "missing" in p for p in got), got
    assert len(got) == 4, got


def test_brokers_are_named_as_plans_name_them() -> None:
    text = INVENTORY.replace("  broker2:\n", "  kafka2:\n")
    with pytest.raises(ScenarioError) as e:
        kinv(text)
    (only,) = problems(e)
    assert "brokers" in only and "broker1 .. brokerN" in only and "kafka2" in only


def test_cross_rules_report_each_key_at_its_line() -> None:
    text = (
        INVENTORY.replace('  broker3:\n    bootstrap: "[::1]:9094"\n    node_id: 13\n', "")
        .replace("    client->broker1: c-b1\n", "    client->broker3: c-b3\n")
        .replace("docker: {}\n", "")
        + "stop_conditions:\n  max_lag_bytes: 100\n"
    )
    with pytest.raises(ScenarioError) as e:
        kinv(text)
    got = problems(e)
    assert any("probe.replication_factor" in p and "number of brokers (2)" in p for p in got)
    assert any("toxiproxy.links.client->broker3" in p for p in got), got
    assert any("stop_conditions.max_lag_bytes" in p for p in got), got
    assert any("brokers.broker1.container" in p and "docker section" in p for p in got), got
    assert len(got) == 6, got  # broker3->broker1 and broker2's container too


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ScenarioError) as e:
        kinv(INVENTORY.replace("min_insync_replicas: 1", "min_insync_replicas: 4"))
    assert any("min_insync_replicas (4) at most replication_factor (3)" in p for p in problems(e))


def test_an_unknown_system_is_refused_at_its_line() -> None:
    with pytest.raises(ScenarioError) as e:
        loads_inventory(INVENTORY.replace("system: kafka", "system: redis"), "k.yaml")
    (only,) = problems(e)
    assert "k.yaml:2" in only and "postgres (the default) or kafka" in only


def test_a_kafka_plan_resolves_its_targets_against_the_inventory() -> None:
    plan = loads_plan(PLAN, kinv())
    assert [s.max_s for s in plan.steps] == [10.0, None]
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=200))
    text = out.getvalue()
    assert "broker broker1 (node 11) at 127.0.0.1:19092 container=k1" in text
    assert "acks=1 enable_idempotence=false replication_factor=3 min.insync.replicas=1" in text
    assert "unclean.leader.election.enable=false" in text
    assert "topic rpochaos-probe-<run id> (deleted at the end)" in text
    assert "lets a leader acknowledge what its followers do not have" in text


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("crash: leader", "no 'leader'"),
        ("partition: fetch-from:broker1\n    mode: blackhole", "no link groups"),
        ("crash: broker3", "a node of the inventory with a container"),
        ("partition: broker1->broker2\n    mode: blackhole", "a link of the inventory"),
        ("pause: broker4", "broker"),
    ],
)
def test_a_kafka_target_outside_the_inventory_is_refused(step: str, expected: str) -> None:
    text = PLAN.replace("crash: broker1", step)
    with pytest.raises(ScenarioError) as e:
        loads_plan(text, kinv())
    assert any(expected in p for p in problems(e)), problems(e)


def test_a_postgres_plan_on_a_kafka_inventory_is_refused() -> None:
    with pytest.raises(ScenarioError) as e:
        loads_plan(PLAN.replace("system: kafka", "system: postgres"), kinv())
    (only,) = problems(e)
    assert "plan.yaml:2" in only and "kafka, the system of inventory staging-kafka" in only


def test_a_plan_with_a_topology_section_is_refused_at_its_line() -> None:
    text = PLAN.replace("system: kafka\n", "system: kafka\ntopology: {brokers: 3}\n", 1)
    with pytest.raises(ScenarioError) as e:
        loads_plan(text, kinv())
    (only,) = problems(e)
    assert "plan.yaml:3" in only and "a game day runs against the inventory's existing" in only


def test_a_kafka_plan_declares_acks() -> None:
    with pytest.raises(ScenarioError) as e:
        loads_plan(PLAN.replace("  acks: 1\n", ""), kinv())
    assert any("workload.acks" in p for p in problems(e)), problems(e)


def test_a_broker_advertising_another_address_is_refused_before_any_topic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the cluster advertises decides where clients connect: a broker advertising an
    address other than the inventory's would take the probe around the inventory's proxies."""
    from rpochaos.gameday import kafka_preflight
    from rpochaos.gameday.kafka_topic import BrokerView

    inv = kinv()
    adv = {11: "127.0.0.1:19092", 12: "kafka-2.staging:9092", 13: "[::1]:9094", 14: "x:1"}
    bypass = {**adv, 12: "10.0.0.12:9092"}
    views = [
        BrokerView("broker1", adv),
        BrokerView("broker2", bypass),
        BrokerView("broker3", {}, "NoBrokersAvailable: nope"),
    ]
    monkeypatch.setattr(kafka_preflight, "broker_views", lambda inv: views)

    def no_topic(*a: object, **k: object) -> object:
        raise AssertionError("a test topic on a cluster that failed its broker checks")

    monkeypatch.setattr(kafka_preflight, "create_topic", no_topic)
    monkeypatch.setattr(kafka_preflight, "topics_with_prefix", no_topic)
    checks = kafka_preflight.kafka_checks(inv)
    assert [(c.what, c.ok) for c in checks] == [
        ("broker broker1 (node 11) at 127.0.0.1:19092", True),
        ("broker broker2 (node 12) at kafka-2.staging:9092", False),
        ("broker broker3 (node 13) at [::1]:9094", False),
    ]
    assert "advertises node 12 as 10.0.0.12:9092" in checks[1].detail
    assert "around the inventory's proxies" in checks[1].detail
    assert checks[2].detail == "NoBrokersAvailable: nope"


def test_the_runbooks_kafka_inventory_loads_and_matches_the_example() -> None:
    import re

    text = (ROOT / "docs" / "gamedays.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if "system: kafka" in b]
    doc = loads_inventory(block, "docs/gamedays.md")
    example = load_inventory(EXAMPLES / "staging-kafka.inventory.yaml")
    assert isinstance(doc, KafkaInventory) and isinstance(example, KafkaInventory)
    assert (doc.brokers, doc.links, doc.probe) == (example.brokers, example.links, example.probe)
