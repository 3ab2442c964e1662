"""`rpochaos gameday` against an existing Kafka: three KRaft brokers as containers on the docker
backend, every link through Toxiproxy, brought up by the library's own ``KafkaCluster`` in a
fixture and then treated as a team's staging system (with a topic of its own, ``rpochaos``,
which the game day must leave alone). The game day only sees the inventory written for it.

Order matters: the plan and the refusal leave the system as they found it; the
acks=1 leader-cut-then-killed game day kills broker1, so it runs last.

Without a docker engine, the rpochaos/kafka image or the Toxiproxy image the tests skip,
except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rpochaos.backends import start_proxy
from rpochaos.kafka.cluster import KafkaCluster
from rpochaos.kafka.metadata import admin_client
from rpochaos.proxy import Toxiproxy
from tests.helpers import ROOT, require
from tests.integration.helpers import within

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

GAMEDAY = [sys.executable, "-m", "rpochaos.gameday"]
EXAMPLE_PLAN = ROOT / "examples" / "gameday" / "kafka-leader-cut-crash.plan.yaml"
#: shrink the ISR after 5 s and fence a dead broker after 3 s (the team's settings, here)
FAST = {"replica.lag.time.max.ms": "5000", "broker.session.timeout.ms": "3000"}
PREFIX = "gdprobe-"


@dataclass
class System:
    cluster: KafkaCluster
    proxy: Toxiproxy
    tmp: Path

    @property
    def bootstrap(self) -> list[str]:
        return self.cluster.bootstrap()

    def container(self, name: str) -> str:
        return str(self.cluster.nodes[name].node.container_name)

    def inventory(self, links: tuple[str, ...] | None = None) -> Path:
        links = links or ("client->broker1", "broker2->broker1", "broker3->broker1")
        brokers = "".join(
            f"  {e.node}:\n    bootstrap: {e.address}\n    node_id: {i}\n"
            f"    container: {self.container(e.node)}\n"
            for i, e in enumerate(self.cluster.client_endpoints(), 1)
        )
        text = (
            "name: gdkafka\nsystem: kafka\n"
            f"brokers:\n{brokers}"
            f"toxiproxy:\n  api: {self.proxy.api_url}\n  links:\n"
            + "".join(f"    {lk}: {lk}\n" for lk in links)
            + "docker: {}\n"
            f"probe:\n  topic_prefix: {PREFIX}\n  replication_factor: 3\n"
            "  min_insync_replicas: 1\n  unclean_leader_election: false\n"
            "limits:\n  max_fault: 20s\n  max_total: 1m\n  max_rate: 300/s\n"
        )
        p = self.tmp / f"gdkafka-{len(links)}.inventory.yaml"
        p.write_text(text)
        return p

    def topics(self) -> set[str]:
        with admin_client(self.bootstrap) as admin:
            return set(admin.list_topics())

    def toxics(self) -> dict[str, list[str]]:
        return {name: list(p.toxics) for name, p in self.proxy.proxies().items()}


def _docker_parts(tmp: Path) -> tuple[object, object]:
    from rpochaos.backends import engine
    from rpochaos.backends.docker import DockerBackend
    from rpochaos.images import resolve_images

    client = require(engine.client)
    images = require(lambda: resolve_images(system="kafka", client=client))
    return DockerBackend(tmp, images=images, client=client), client


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("gdkafka")
    backend, _ = _docker_parts(tmp)
    from rpochaos.backends.docker import DockerBackend

    assert isinstance(backend, DockerBackend)
    try:
        proxy = start_proxy(backend)
        cluster = KafkaCluster(
            3,
            replication_factor=3,
            min_insync_replicas=1,
            unclean_leader_election=False,
            backend=backend,
            proxy=proxy,
            settings=FAST,
        )
        try:
            cluster.start()
            yield System(cluster, proxy, tmp)
        finally:
            cluster.close()
            proxy.close()
    finally:
        backend.close()
        backend.remove_data()


def gameday(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GAMEDAY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_kafka_plan_changes_nothing(system: System) -> None:
    inv = system.inventory()
    before = system.topics()
    assert "rpochaos" in before  # the team's own topic
    runs = system.tmp / "runs-plan"
    out = gameday("plan", str(EXAMPLE_PLAN), "--inventory", str(inv), "--runs-root", str(runs))
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    b1 = system.cluster.client_endpoints()[0].address
    assert f"ok   broker broker1 (node 1) at {b1}: advertised as {b1}" in text, text
    assert f"ok   probe can create and delete a topic under '{PREFIX}'" in text, text
    assert "led by broker1, min.insync.replicas=1, unclean.leader.election.enable=false" in text
    assert "acks=1 enable_idempotence=false replication_factor=3 min.insync.replicas=1" in text
    assert "partition broker2->broker1: healed after 4s at the latest" in text
    assert f"docker start {system.container('broker1')}" in text
    assert f"ok   container {system.container('broker3')}" in text
    assert "FAIL" not in text and "Traceback" not in out.stderr
    assert system.topics() == before  # the preflight's test topic is gone again
    assert all(v == [] for v in system.toxics().values())
    assert not runs.exists()


def test_a_kafka_target_not_in_the_inventory_is_refused(system: System) -> None:
    """broker1->broker2 is a link of the system, not of the inventory; broker4 is nobody."""
    inv = system.inventory()
    before = system.topics()
    plan = system.tmp / "stranger.plan.yaml"
    plan.write_text(
        EXAMPLE_PLAN.read_text()
        .replace("partition: broker3->broker1", "partition: broker1->broker2")
        .replace("crash: broker1", "crash: leader")
    )
    runs = system.tmp / "runs-refused"
    out = gameday(
        "plan", str(plan), "--inventory", str(inv), "--execute", "--confirm", "gdkafka",
        "--runs-root", str(runs),
    )  # fmt: skip
    assert out.returncode == 254, out.stdout + out.stderr
    assert f"{plan}:22: schedule[1].partition: got broker1->broker2" in out.stdout, out.stdout
    assert "schedule[2].crash: got leader" in out.stdout and "no 'leader'" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert not runs.exists()
    assert system.topics() == before
    assert all(v == [] for v in system.toxics().values())


def test_acks1_leader_cut_then_killed_game_day_loses_acknowledged_messages(
    system: System,
) -> None:
    """The probe's topic is led by broker1; its followers are cut off at 2 s and it is killed
    at 5 s, before its ISR shrinks (5 s): a follower takes over without the tail broker1
    acknowledged alone. The window is the cut-to-kill time."""
    inv = system.inventory()
    runs = system.tmp / "runs-crash"
    out = gameday(
        "plan", str(EXAMPLE_PLAN), "--inventory", str(inv), "--execute", "--confirm",
        "gdkafka", "--runs-root", str(runs), timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr  # lost past a 1 s RPO: FAIL
    (run_dir,) = [p.parent for p in runs.rglob("audit.jsonl")]
    r = json.loads((run_dir / "result.json").read_text())
    print(
        f"\nKafka game day: lost {r['writes']['lost']} of {r['writes']['acknowledged']}, "
        f"window {r['data_loss_window_s']} s, RTO {r['rto_s']} s"
    )
    assert r["writes"]["lost"] > 0
    part = next(f for f in r["faults"] if f["kind"] == "partition")
    injected = r["outage_at_s"] - part["effective_start_s"]
    assert within(r["data_loss_window_s"], injected), (r["data_loss_window_s"], injected)
    assert r["failover"]["final_read_node"] in ("broker2", "broker3")
    # the writers were stuck on the dead leader (no RST from a killed host) for about the
    # producer's request timeout (5 s), then wrote to the new leader
    assert r["rto_s"] is not None and r["rto_s"] < 10, r["rto_s"]
    meta = json.loads((run_dir / "resolved.json").read_text())
    topic = meta["gameday"]["topic"]
    assert topic.startswith(PREFIX)
    dur = meta["durability"]
    assert (dur["acks"], dur["min.insync.replicas"], dur["replication_factor"]) == ("1", "1", 3)
    assert dur["read_back"]["topic"]["min.insync.replicas"] == "1"
    summary = (run_dir / "summary.md").read_text()
    assert f"lost acknowledged writes: **{r['writes']['lost']}**" in summary
    # healed, the probe's topic deleted, the team's topic untouched
    assert all(v == [] for v in system.toxics().values())
    for e in system.cluster.client_endpoints()[1:]:  # each live broker's own metadata
        with admin_client([e.address]) as admin:
            topics = admin.list_topics()
        assert not [t for t in topics if t.startswith(PREFIX)] and "rpochaos" in topics, topics
