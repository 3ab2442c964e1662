"""The pieces of Patroni on docker that need no engine: the node configuration's pg_hba, the
image recipe, the settings report and which backends a Patroni scenario may run on."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpochaos.errors import ScenarioError
from rpochaos.images import LOCAL_PATRONI_IMAGE, LOCAL_PG_IMAGE, PATRONI_DOCKERFILE
from rpochaos.images.recipes import _recipes
from rpochaos.patroni.config import Credentials, NodeSpec, PatroniSettings, node_config
from rpochaos.patroni.deps import PATRONI_REQUIREMENT
from rpochaos.patroni.readings import settings_report
from rpochaos.scenario import loads
from rpochaos.systems import PatroniSystem

BASE = """\
system: postgres
topology:
  manager: patroni
  synchronous_commit: "on"
  patroni:
    ttl: 20s
    loop_wait: 1s
    retry_timeout: 5s
    maximum_lag_on_failover: 1MB
    synchronous_mode: "off"
    synchronous_node_count: 1
    failsafe_mode: false
    use_pg_rewind: true
  replicas:
    - name: replica1
workload: {rate: 100/s, duration: 10s}
schedule:
  - at: 3s
    crash: primary
    outage: true
expect: {rpo: 1s}
"""

SETTINGS = PatroniSettings(
    ttl=20,
    loop_wait=1,
    retry_timeout=5,
    maximum_lag_on_failover=1 << 20,
    synchronous_mode="strict",
    synchronous_node_count=1,
    failsafe_mode=False,
    use_pg_rewind=True,
)


def _hba(**extra: tuple[str, ...]) -> list[str]:
    spec = NodeSpec(
        name="n1",
        pg_listen="0.0.0.0:5432",
        pg_connect="toxiproxy:21000",
        rest_listen="0.0.0.0:8008",
        rest_connect="n1:8008",
        data_dir=Path("/d"),
        socket_dir=Path("/s"),
        pgpass=Path("/p"),
        etcd_hosts=("toxiproxy:21001",),
        etcd_proxied=True,
        **extra,
    )
    cfg = node_config(
        scope="s", node=spec, settings=SETTINGS, bin_dir=Path("/b"),
        credentials=Credentials(superuser="a", replication="b", rewind="c"),
    )  # fmt: skip
    pg = cfg["postgresql"]
    assert isinstance(pg, dict)
    return list(pg["pg_hba"])


def test_pg_hba_trusts_loopback_by_default_and_the_run_network_on_docker() -> None:
    assert _hba() == [
        "local all all trust",
        "host replication all 127.0.0.1/32 trust",
        "host all all 127.0.0.1/32 trust",
    ]
    docker = _hba(hba_hosts=("samenet",))
    assert "host replication all samenet trust" in docker
    assert "host all all samenet trust" in docker
    assert not any("127.0.0.1" in line for line in docker)


def test_the_patroni_image_is_built_from_the_local_postgres_image_without_an_index() -> None:
    assert PATRONI_DOCKERFILE.startswith(f"FROM {LOCAL_PG_IMAGE}\n")
    assert "--no-index --find-links /tmp/wheels" in PATRONI_DOCKERFILE
    assert PATRONI_REQUIREMENT in PATRONI_DOCKERFILE
    assert "etcd-server" in PATRONI_DOCKERFILE
    assert LOCAL_PATRONI_IMAGE in _recipes()
    assert _recipes()[LOCAL_PATRONI_IMAGE] != _recipes()[LOCAL_PG_IMAGE]


def test_the_settings_report_reads_back_patroni_and_marks_what_it_did_not_say() -> None:
    live: dict[str, object] = {
        "ttl": 20,
        "synchronous_mode": True,
        "synchronous_mode_strict": True,
        "postgresql": {"use_pg_rewind": True},
    }
    out = settings_report(SETTINGS, live)
    assert out["patroni.ttl"] == 20
    assert out["patroni.synchronous_mode"] == "strict"
    assert out["patroni.use_pg_rewind"] is True
    assert out["patroni.loop_wait"] == "1 (declared)"
    assert list(out) == [f"patroni.{k}" for k in SETTINGS.describe()]


def test_patroni_runs_on_local_and_docker_and_kubernetes_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    system = PatroniSystem(loads(BASE, "p.yaml"))
    with pytest.raises(ScenarioError) as e:
        system.preflight("kubernetes")
    assert "the local or the docker backend" in str(e.value)

    class Engine:
        closed = False

        def close(self) -> None:
            Engine.closed = True

    from rpochaos.backends import engine

    monkeypatch.setattr(engine, "client", lambda *a, **k: Engine())
    system.preflight("docker")  # no refusal: the engine is asked, nothing else
    assert Engine.closed
