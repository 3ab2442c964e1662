"""Bring-up time of a topology, per backend, side by side.

    .venv/bin/python bench/bringup.py [--runs N] [--system postgres|kafka|patroni]

postgres (default): a fresh backend, the run's Toxiproxy, initdb, primary start, proxies, base
backup through the replication proxy, replica start, until pg_stat_replication shows it
streaming. kafka: a fresh backend, the run's Toxiproxy, three KRaft brokers (RF 3) formatted
and started, every broker registered, the topic created with every replica in the ISR.
patroni: the topology of scenarios/patroni-async-host-crash.yaml (etcd, a Patroni leader and
one replica, each link through the run's Toxiproxy) until the replica streams. Then
everything is torn down. Prints the median and range per backend, and the ratio.
Backends that are not available here are reported as such, not skipped silently.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rpochaos.backends import make_backend, start_proxy
from rpochaos.errors import RpochaosError
from rpochaos.kafka.cluster import KafkaCluster
from rpochaos.roles import Cluster
from rpochaos.scenario import Replica, Topology, load
from rpochaos.systems import ClusterParts, for_scenario
from rpochaos.topology.postgres import PostgresCluster

PATRONI_SCENARIO = (
    Path(__file__).resolve().parent.parent / "scenarios" / "patroni-async-host-crash.yaml"
)


def bring_up_once(backend_name: str, system: str = "postgres") -> float:
    with tempfile.TemporaryDirectory(prefix="rpochaos-bench-") as d:
        run_dir = Path(d)
        run_dir.chmod(0o755)
        t0 = time.monotonic()
        backend = make_backend(
            backend_name, run_dir, False, system="postgres" if system == "patroni" else system
        )
        proxy = None
        try:
            proxy = start_proxy(backend)
            local = backend.name == "local"
            cluster: PostgresCluster | KafkaCluster | Cluster
            if system == "patroni":
                data = backend.data_root() if local else None
                cluster = for_scenario(load(PATRONI_SCENARIO)).build(
                    ClusterParts(backend, proxy, data, {})
                )
            elif system == "kafka":
                cluster = KafkaCluster(
                    3, 3, 1, False, backend, proxy, backend.data_root() if local else None
                )
            else:
                cluster = PostgresCluster(
                    Topology("on", (Replica("replica1", "async"),)),
                    backend,
                    proxy,
                    backend.data_root() if local else None,
                )
            cluster.start()
            elapsed = time.monotonic() - t0
            cluster.close()
            return elapsed
        finally:
            if proxy is not None:
                proxy.close()
            backend.close()
            backend.remove_data()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--system", choices=("postgres", "kafka", "patroni"), default="postgres")
    args = ap.parse_args()
    rows: dict[str, list[float] | str] = {}
    for name in ("local", "docker"):
        try:
            rows[name] = [bring_up_once(name, args.system) for _ in range(args.runs)]
        except RpochaosError as e:
            rows[name] = f"not available: {str(e).splitlines()[0]}"
    what = {
        "kafka": "3 Kafka brokers (RF 3)",
        "patroni": "etcd + a Patroni leader + 1 replica",
    }.get(args.system, "primary + 1 replica")
    print(f"bring-up of {what}, {args.runs} runs each")
    print(f"{'backend':8s} {'median':>8s} {'min':>7s} {'max':>7s}")
    for name, v in rows.items():
        if isinstance(v, str):
            print(f"{name:8s} {v}")
        else:
            print(f"{name:8s} {statistics.median(v):7.2f}s {min(v):6.2f}s {max(v):6.2f}s")
    loc, dock = rows.get("local"), rows.get("docker")
    if isinstance(loc, list) and isinstance(dock, list):
        print(f"docker / local: {statistics.median(dock) / statistics.median(loc):.2f}x")


if __name__ == "__main__":
    main()
