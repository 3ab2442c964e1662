"""Writer throughput with and without the replication observer, side by side in one run.

    .venv/bin/python bench/observer_overhead.py [--seconds 8] [--rounds 3] [--rate-hz 10]

A primary with one async replica; the writer runs flat out (4 clients) through the
client->primary proxy for ``--seconds``, alternately with no observer and with the
PostgresObserver sampling at ``--rate-hz`` (order rotated each round). Prints acknowledged
writes/s for each and the ratio (with / without). Nothing is asserted: it is a benchmark.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rpochaos.backends import make_backend, start_proxy
from rpochaos.clock import Clock
from rpochaos.history import Journal, Outcome
from rpochaos.history_read import read_history
from rpochaos.observe.postgres import PostgresObserver
from rpochaos.scenario import Replica, Topology, Workload
from rpochaos.topology.postgres import TABLE, PostgresCluster
from rpochaos.workload.postgres import PostgresWriter


def one(cluster: PostgresCluster, seconds: float, rate_hz: float, work: Path, tag: str) -> float:
    with cluster.nodes["primary"].connect() as c:  # every round writes seqs from 1 again
        c.execute(f"TRUNCATE {TABLE}")
    clock = Clock()
    history = work / f"{tag}.jsonl"
    journal = Journal(history)
    observer = None
    if rate_hz > 0:
        observer = PostgresObserver(cluster, clock, work / f"{tag}.obs.jsonl", rate_hz)
        observer.start()
    writer = PostgresWriter(
        cluster.client_endpoints()[:1],
        Workload(rate=1e9, duration=seconds, concurrency=4, connect_timeout=2.0),
        journal,
        clock,
    )
    writer.start()
    time.sleep(seconds)
    writer.stop_issuing()
    writer.join(10.0)
    elapsed = clock.now()
    if observer is not None:
        observer.stop()
    journal.close()
    ok = sum(1 for op in read_history(history) if op.outcome is Outcome.OK)
    return ok / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate-hz", type=float, default=10.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpochaos-bench-") as d:
        base = Path(d)
        base.chmod(0o755)
        backend = make_backend("local", base)
        proxy = start_proxy(backend)
        cluster = PostgresCluster(
            Topology("on", (Replica("replica1", "async"),)), backend, proxy, backend.data_root()
        )
        try:
            cluster.start()
            off: list[float] = []
            on: list[float] = []
            for r in range(a.rounds):
                order = [(0.0, off), (a.rate_hz, on)]
                for hz, into in order if r % 2 == 0 else reversed(order):
                    into.append(one(cluster, a.seconds, hz, base, f"r{r}-{hz:g}"))
        finally:
            cluster.close()
            proxy.close()
            backend.close()
            backend.remove_data()
    print(f"writer flat out, 4 clients, {a.seconds:g} s x {a.rounds} rounds, primary + 1 replica")
    print(f"without observer: {statistics.median(off):8.0f} writes/s  {[round(x) for x in off]}")
    on_rounds = [round(x) for x in on]
    print(f"observer {a.rate_hz:g} Hz:   {statistics.median(on):8.0f} writes/s  {on_rounds}")
    print(f"ratio with/without: {statistics.median(on) / statistics.median(off):.3f}")


if __name__ == "__main__":
    main()
