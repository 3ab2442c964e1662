"""rpochaos benchmarks: writer throughput against pgbench, measurement accuracy, bring-up time.

Run: ``./dev bench`` or ``.venv/bin/python bench/run.py [--quick]``. Everything is measured
in this one run on this machine and printed side by side; nothing is asserted (a benchmark
prints, it does not pass or fail). The figures also go to ``bench/results/latest.json``.

1. Throughput. One PostgreSQL node (no replicas, synchronous_commit=on), brought up with the
   library's own pieces (LocalBackend, Toxiproxy, PostgresCluster). The same single-row
   autocommit INSERT into the same table (``rpochaos_writes``: seq bigint primary key,
   written_at timestamptz default clock_timestamp()) at the same concurrency for the same
   duration, once directly to the node's port and once through the client->primary proxy:
   - ours: PostgresWriter at an effectively unlimited rate, journaling to a history.jsonl;
   - psycopg: the same statement from plain psycopg threads, one connection each, with no
     journal, pacer or clock: what Python and psycopg cost before rpochaos adds anything;
   - pgbench: ``pgbench -n -c C -j 2 -T S -M prepared -f script.sql``. The script keeps a
     per-client counter (``-D n=0``, ``\\set n :n + 1``) and inserts ``n * 1000 + client_id``:
     unique keys with no server-side sequence, so the statement is the writer's statement.
   Several rounds (default 3), the order of the three rotated from round to round; the table
   shows medians, and the range of ours/pgbench within a round.
2. Accuracy. The shape of scenarios/pg-async-partition-crash.yaml (async replica, blackhole
   replica1->primary at t1, crash the primary at t2, promote the replica 0.5 s later), with
   the partition length t2 - t1 swept, each run through ``rpochaos.run.run``. Printed: the
   injected length, the measured data-loss window and the difference: the injected length
   measured from the partition's requested start and from its effective start (when the run
   recorded it), side by side, with the window's resolution (docs/measurement.md).
3. Bring-up. The median ``bringup_s`` (primary + one replica) over the sweep's runs.

Every load is bounded in time (the duration, then bounded joins and subprocess timeouts) and
in count (a cap on writes per run). Every process started here is killed in a ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from rpochaos import deps
from rpochaos.backends import start_proxy
from rpochaos.backends.local import LocalBackend
from rpochaos.clock import Clock
from rpochaos.history import Journal, Outcome
from rpochaos.history_read import read_history
from rpochaos.proxy import Toxiproxy
from rpochaos.result import Result
from rpochaos.run import run
from rpochaos.scenario import Topology, Workload, loads, parse_duration
from rpochaos.topology.postgres import DB_NAME, DB_USER, TABLE, Endpoint, PostgresCluster
from rpochaos.workload.postgres import INSERT_SQL, PostgresWriter

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCENARIO = ROOT / "scenarios" / "pg-async-partition-crash.yaml"

#: the writer's rate when it should go as fast as it can
UNLIMITED_RATE = 1e9
#: hard cap on writes in one throughput run (ours: total invokes; pgbench: per client)
MAX_WRITES = 5_000_000
#: pgbench keys are n * KEY_STRIDE + client_id, so clients must stay below it
KEY_STRIDE = 1000
PGBENCH_SCRIPT = f"""\\set n :n + 1
\\if :n > {{cap}}
\\sleep 10 ms
\\else
INSERT INTO {TABLE} (seq) VALUES (:n * {KEY_STRIDE} + :client_id);
\\endif
"""


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# The machine


def _indent(msg: str) -> None:
    say(f"  {msg}")


def machine() -> dict[str, Any]:
    mem_kib = 0
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    bindir = deps.pg_bindir()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": deps.program_version([str(bindir / "postgres"), "--version"]),
        "pgbench": deps.program_version([str(bindir / "pgbench"), "--version"]),
        # a server built with `go install` reports "version git": say which one ./dev pins
        "toxiproxy": f"{deps.TOXIPROXY_VERSION} (pinned; the binary says "
        f"{deps.program_version([str(deps.toxiproxy_server()), '-version'])!r})",
    }


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def background_busy(seconds: float = 2.0) -> float:
    """How busy the machine is before/after the bench, with nothing of ours running: other
    work on a shared machine skews every throughput figure."""
    meter = CpuMeter(resource.RUSAGE_SELF)
    time.sleep(seconds)
    return meter.done(seconds)[1]


def work_dir() -> Path:
    """A scratch directory the database user can enter (mkdtemp makes it 0700)."""
    base = Path(tempfile.mkdtemp(prefix="rpochaos-bench-"))
    os.chmod(base, 0o755)
    return base


# ------------------------------------------------------------------------------------------
# 1. Throughput


@dataclass
class Side:
    """One throughput measurement."""

    writes: int  # acknowledged writes (ours, psycopg) or transactions pgbench processed
    not_ok: int  # ours: fail + info ops; psycopg: errors; pgbench: failed transactions
    elapsed_s: float
    per_s: float  # writes / elapsed; pgbench: its own "tps" (without connection time)
    client_cpu_pct: float  # CPU time of the client process(es) / elapsed, % of one CPU
    machine_busy_pct: float  # all CPUs busy (user+system+...) during the run, % of all
    rows: int = 0  # rows in the table afterwards (a cross-check of ``writes``)


SIDES = ("ours", "psycopg", "pgbench")


@dataclass
class Throughput:
    """One path's throughput: every round, and the medians over rounds.

    Sides: ``ours`` = PostgresWriter + Journal; ``psycopg`` = the same INSERT from plain
    psycopg threads (no journal, no pacer); ``pgbench``."""

    path: str  # "direct" or "proxy"
    port: int
    rounds: list[dict[str, Side]]
    per_s: dict[str, float]  # median over rounds
    ratio: float  # median ours / median pgbench
    ratio_psycopg: float  # median psycopg / median pgbench
    ratio_range: tuple[float, float]  # min and max of ours/pgbench within one round
    cpu_us_per_write: dict[str, float]  # median client CPU time per write, microseconds
    machine_busy_pct: dict[str, float]  # median
    rows_match: bool  # every run: rows in the table == writes counted, nothing failed


class CpuMeter:
    """CPU used by this process (or by its reaped children) and by the whole machine."""

    def __init__(self, who: int) -> None:
        self.who = who
        self.t0 = time.monotonic()
        self.cpu0 = self._cpu()
        self.stat0 = self._stat()

    def _cpu(self) -> float:
        r = resource.getrusage(self.who)
        return r.ru_utime + r.ru_stime

    @staticmethod
    def _stat() -> tuple[int, int]:
        """(idle + iowait, total) jiffies over all CPUs; (0, 0) where /proc/stat is missing."""
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except (OSError, ValueError):
            return 0, 0
        return fields[3] + fields[4], sum(fields[:8])

    def done(self, elapsed_s: float | None = None) -> tuple[float, float]:
        """(client CPU % of one CPU, machine busy % of all CPUs) since construction."""
        elapsed = elapsed_s or (time.monotonic() - self.t0)
        idle1, total1 = self._stat()
        idle0, total0 = self.stat0
        busy = 100 * (1 - (idle1 - idle0) / (total1 - total0)) if total1 > total0 else 0.0
        return round(100 * (self._cpu() - self.cpu0) / elapsed, 1), round(busy, 1)


@contextlib.contextmanager
def single_node(base: Path) -> Iterator[tuple[PostgresCluster, Toxiproxy]]:
    """One PostgreSQL node and its client->primary proxy, made as ``run()`` makes them."""
    backend = LocalBackend(base)
    proxy: Toxiproxy | None = None
    cluster: PostgresCluster | None = None
    try:
        proxy = start_proxy(backend)
        topology = Topology(synchronous_commit="on", replicas=())
        cluster = PostgresCluster(topology, backend, proxy, base / "data")
        cluster.start()
        yield cluster, proxy
    finally:
        if cluster is not None:
            cluster.close()
        if proxy is not None:
            proxy.close()
        backend.close()


class CountingJournal(Journal):
    """A Journal that counts invokes, so the run can stop at a cap on writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.invokes = 0

    def invoke(self, seq: int, t: float, worker: int = 0) -> None:
        self.invokes += 1  # approximate under threads; only used as a stop signal
        super().invoke(seq, t, worker)


def run_ours(endpoint: Endpoint, seconds: float, clients: int, history: Path) -> Side:
    """PostgresWriter flat out: the writer, its pacer and its journal, as a run uses them."""
    workload = Workload(
        rate=UNLIMITED_RATE, duration=seconds, concurrency=clients, connect_timeout=2.0
    )
    meter = CpuMeter(resource.RUSAGE_SELF)
    clock = Clock()
    journal = CountingJournal(history)
    try:
        writer = PostgresWriter([endpoint], workload, journal, clock)
        writer.start()
        try:
            while clock.now() < seconds and journal.invokes < MAX_WRITES:
                time.sleep(0.02)
        finally:
            writer.stop_issuing()
            writer.join(10.0)
        elapsed = clock.now()
    finally:
        journal.close()
    cpu, busy = meter.done(elapsed)
    ops = read_history(history)
    ok = sum(1 for op in ops if op.outcome is Outcome.OK)
    return Side(ok, len(ops) - ok, round(elapsed, 3), round(ok / elapsed, 1), cpu, busy)


def run_psycopg(endpoint: Endpoint, seconds: float, clients: int) -> Side:
    """The writer's INSERT from plain psycopg threads, one connection each, nothing else:
    what Python + psycopg cost before rpochaos adds its journal, pacer and clock."""
    conninfo = (
        f"host={endpoint.host} port={endpoint.port} dbname={DB_NAME} user={DB_USER} "
        "connect_timeout=2 application_name=rpochaos-bench"
    )
    seqs = itertools.count(1)  # next() on it is atomic under the GIL
    stop = threading.Event()
    done = [0] * clients
    errors = [0] * clients
    cap = MAX_WRITES // clients

    def work(i: int) -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                while not stop.is_set() and done[i] < cap:
                    conn.execute(INSERT_SQL, (next(seqs),))
                    done[i] += 1
        except psycopg.Error:
            errors[i] += 1

    meter = CpuMeter(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        while time.monotonic() - t0 < seconds and any(t.is_alive() for t in threads):
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(10.0)
    elapsed = time.monotonic() - t0
    cpu, busy = meter.done(elapsed)
    ok = sum(done)
    return Side(ok, sum(errors), round(elapsed, 3), round(ok / elapsed, 1), cpu, busy)


def _grab(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise RuntimeError(f"pgbench output has no {pattern!r}:\n{text}")
    return m.group(1)


def run_pgbench(port: int, seconds: int, clients: int, mode: str, script: Path) -> Side:
    if clients >= KEY_STRIDE:
        raise ValueError(f"at most {KEY_STRIDE - 1} clients (keys are n * {KEY_STRIDE} + id)")
    pgbench = deps.pg_bindir() / "pgbench"
    argv = [
        str(pgbench), "-n", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(seconds),
        "-M", mode, "-D", "n=0", "-f", str(script),
        "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, DB_NAME,
    ]  # fmt: skip
    meter = CpuMeter(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu, busy = meter.done(float(seconds))
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"pgbench exited {out.returncode}: {' '.join(argv)}\n{text}")
    tx = int(_grab(r"number of transactions actually processed: (\d+)", text))
    failed = re.search(r"number of failed transactions: (\d+)", text)
    tps = float(_grab(r"tps = ([0-9.]+) \(without initial connection time\)", text))
    return Side(tx, int(failed.group(1)) if failed else 0, float(seconds), round(tps, 1), cpu, busy)


def count_and_reset(cluster: PostgresCluster) -> int:
    """Rows written, then an empty table and a checkpoint, so every run starts alike."""
    with cluster.nodes["primary"].connect() as c:
        row = c.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        c.execute(f"TRUNCATE {TABLE}")
        c.execute("CHECKPOINT")
    return int(row[0]) if row else 0


def bench_journal(base: Path, n: int = 20_000) -> float:
    """CPU microseconds per write that the Journal alone costs: one invoke and one complete
    line, each serialised and flushed, from one thread (no database, no contention)."""
    path = base / "journal-micro.jsonl"
    clock = Clock()
    with Journal(path) as journal:
        cpu0 = time.process_time()
        for seq in range(1, n + 1):
            journal.invoke(seq, clock.now(), 0)
            journal.complete(seq, clock.now(), Outcome.OK, "primary", None)
        cpu = time.process_time() - cpu0
    path.unlink()
    return round(1e6 * cpu / n, 1)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def _summary(path: str, port: int, rounds: list[dict[str, Side]]) -> Throughput:
    def med(key: str, f: Callable[[Side], float]) -> float:
        return round(statistics.median(f(r[key]) for r in rounds), 1)

    per_s = {k: med(k, lambda x: x.per_s) for k in SIDES}
    within = [_ratio(r["ours"].per_s, r["pgbench"].per_s) for r in rounds]
    return Throughput(
        path=path,
        port=port,
        rounds=rounds,
        per_s=per_s,
        ratio=_ratio(per_s["ours"], per_s["pgbench"]),
        ratio_psycopg=_ratio(per_s["psycopg"], per_s["pgbench"]),
        ratio_range=(min(within), max(within)),
        cpu_us_per_write={
            k: med(k, lambda x: 1e6 * x.client_cpu_pct / 100 / x.per_s if x.per_s else 0.0)
            for k in SIDES
        },
        machine_busy_pct={k: med(k, lambda x: x.machine_busy_pct) for k in SIDES},
        rows_match=all(x.rows == x.writes and x.not_ok == 0 for r in rounds for x in r.values()),
    )


def bench_throughput(
    base: Path, seconds: int, clients: int, mode: str, rounds: int
) -> tuple[list[Throughput], str]:
    """``rounds`` rounds; in each, both paths and on each path the three sides, the order of
    the sides rotated from round to round so that none always runs first."""
    script = base / "pgbench-insert.sql"
    script.write_text(PGBENCH_SCRIPT.format(cap=MAX_WRITES))
    with single_node(base / "throughput") as (cluster, _proxy):
        version = cluster.version()
        primary = cluster.nodes["primary"]
        paths = {
            "direct": Endpoint(primary.backend.host, primary.port, "primary"),
            "proxy": cluster.client_endpoints()[0],
        }
        say(f"{version} up; warming up (1 s pgbench, not counted)")
        run_pgbench(paths["direct"].port, 1, clients, mode, script)
        count_and_reset(cluster)
        results: dict[str, list[dict[str, Side]]] = {name: [] for name in paths}
        for r in range(rounds):
            for name, endpoint in paths.items():
                got: dict[str, Side] = {}
                for side in SIDES[r % 3 :] + SIDES[: r % 3]:
                    say(
                        f"round {r + 1}/{rounds}, {name} (port {endpoint.port}), "
                        f"{seconds} s x {clients} clients: {side}"
                    )
                    if side == "ours":
                        history = base / f"history-{name}-{r}.jsonl"
                        got[side] = run_ours(endpoint, seconds, clients, history)
                        history.unlink()
                    elif side == "psycopg":
                        got[side] = run_psycopg(endpoint, seconds, clients)
                    else:
                        got[side] = run_pgbench(endpoint.port, seconds, clients, mode, script)
                    got[side].rows = count_and_reset(cluster)
                results[name].append({k: got[k] for k in SIDES})
    return [_summary(n, paths[n].port, results[n]) for n in paths], version


# ------------------------------------------------------------------------------------------
# 2. Accuracy sweep and 3. bring-up


@dataclass
class SweepRow:
    partition_s: float  # scheduled t2 - t1
    injected_s: float | None  # outage - the partition's requested start, on the harness clock
    window_s: float | None  # measured data-loss window
    error_s: float | None  # window - injected (against the requested start)
    error_pct: float | None
    lost: int
    acknowledged: int
    verdict: str
    bringup_s: float | None
    rto_s: float | None
    error: str | None = None
    #: outage - the partition's effective start (None: the run did not record it)
    injected_effective_s: float | None = None
    error_effective_s: float | None = None  # window - injected_effective_s
    start_gap_s: float | None = None  # the partition's request -> effect
    resolution_s: float | None = None  # the window's +-


def sweep_scenario(partition_s: float) -> str:
    """The shipped scenario, with the partition lasting ``partition_s`` before the crash.

    The partition start, the promote delay after the crash and the workload's tail after
    the crash are kept as the file has them."""
    data = yaml.safe_load(SCENARIO.read_text())
    actions = ("partition", "crash", "promote")
    steps = {next(k for k in s if k in actions): s for s in data["schedule"]}
    t1 = parse_duration(steps["partition"]["at"])
    t2 = parse_duration(steps["crash"]["at"])
    promote_after = parse_duration(steps["promote"]["at"]) - t2
    tail = parse_duration(data["workload"]["duration"]) - t2
    new_t2 = t1 + partition_s

    def ms(seconds: float) -> str:
        return f"{round(seconds * 1000)}ms"

    steps["crash"]["at"] = ms(new_t2)
    steps["promote"]["at"] = ms(new_t2 + promote_after)
    data["workload"]["duration"] = ms(new_t2 + tail)
    data["name"] = f"bench-partition-{ms(partition_s)}"
    return str(yaml.safe_dump(data, sort_keys=False))


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def bench_sweep(base: Path, lengths: list[float]) -> list[SweepRow]:
    rows: list[SweepRow] = []
    for length in lengths:
        scenario = loads(sweep_scenario(length), source=f"<sweep {length:g}s>")
        say(f"accuracy: partition {length:g} s ({scenario.workload.duration:g} s run)")
        try:
            result = run(scenario, out=base / f"sweep-{length:g}s", log=_indent).result
        except Exception as e:  # a failed run is a row, not the end of the bench
            say(f"accuracy: partition {length:g} s failed: {e}")
            rows.append(SweepRow(length, None, None, None, None, 0, 0, "ERROR", None, None, str(e)))
            continue
        r = Result.from_dict(result)
        part = next((f for f in r.faults if f.kind == "partition"), None)
        outage, window = r.outage_at_s, r.data_loss_window_s
        injected = _minus(outage, part.start_s if part else None)
        injected_eff = _minus(outage, part.effective_start_s if part else None)
        err = _minus(window, injected)
        pct = None if err is None or not injected else round(100 * err / injected, 2)
        rows.append(
            SweepRow(
                partition_s=length,
                injected_s=injected,
                window_s=window,
                error_s=err,
                error_pct=pct,
                lost=r.writes.lost,
                acknowledged=r.writes.acknowledged,
                verdict=r.verdict.value,
                bringup_s=r.bringup_s,
                rto_s=r.rto_s,
                injected_effective_s=injected_eff,
                error_effective_s=_minus(window, injected_eff),
                start_gap_s=part.start_gap_s if part else None,
                resolution_s=r.window_resolution_s,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------
# Report


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _load(values: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in values) or "?"


def table(report: dict[str, Any]) -> str:
    m, cfg = report["machine"], report["config"]
    lines = [
        f"rpochaos bench{' --quick' if cfg['quick'] else ''}: {m['nproc']} CPUs ({m['cpu']}), "
        f"{m['memory_gib']} GiB, {report['postgres_server']}; load average before/after"
        f" {_load(report['loadavg_before'])} / {_load(report['loadavg_after'])};",
        f"machine busy with nothing of ours running, before/after:"
        f" {report['background_busy_pct_before']:.0f}% / {report['background_busy_pct_after']:.0f}%"
        " (other work on a shared machine skews throughput)",
        "",
        f"1. Throughput: single-row autocommit INSERT, {cfg['clients']} clients, "
        f"{cfg['seconds']} s per run, median of {cfg['rounds']} round"
        f"{'s' if cfg['rounds'] != 1 else ''}, synchronous_commit=on,"
        f" 1 node (pgbench -M {cfg['pgbench_mode']})",
        f"   {'path':<7} {'ours w/s':>9} {'psycopg w/s':>11} {'pgbench tps':>11}"
        f" {'ours/pgb':>8} {'(range)':>11} {'psy/pgb':>7}  {'client CPU us/write':>19}"
        f"  {'machine busy %':>14}  rows=writes",
        f"   {'':<7} {'':>9} {'':>11} {'':>11} {'':>8} {'':>11} {'':>7}  {'ours/psy/pgb':>19}"
        f"  {'ours/psy/pgb':>14}",
    ]
    for t in report["throughput"]:
        per_s, lo_hi = t["per_s"], t["ratio_range"]
        cpu = "/".join(f"{t['cpu_us_per_write'][k]:.0f}" for k in SIDES)
        busy = "/".join(f"{t['machine_busy_pct'][k]:.0f}" for k in SIDES)
        lines.append(
            f"   {t['path']:<7} {per_s['ours']:>9,.0f} {per_s['psycopg']:>11,.0f}"
            f" {per_s['pgbench']:>11,.0f} {t['ratio']:>8.2f} {f'{lo_hi[0]:.2f}-{lo_hi[1]:.2f}':>11}"
            f" {t['ratio_psycopg']:>7.2f}  {cpu:>19}  {busy:>14}"
            f"  {'yes' if t['rows_match'] else 'NO'}"
        )
    lines += [
        f"   journal alone: {report['journal_cpu_us_per_write']:.1f} us CPU per write (invoke +"
        " complete: two JSON lines, each flushed; one thread, no database)",
        "",
        "2. Accuracy: async replica, blackhole replica1->primary, crash primary, promote 0.5 s"
        f" later; {report['sweep_rate']:g} writes/s declared, rpo {report['sweep_rpo_s']:g} s",
        f"   {'partition':>9} {'window':>8} {'±':>7}  {'injected from requested':>25}"
        f"  {'injected from effective':>25}  {'req->eff':>8} {'lost/acked':>12} {'lost/s':>7}"
        f" {'rto':>6}  verdict",
        f"   {'':>9} {'':>8} {'':>7}  {'length':>8} {'error':>8} {'error%':>7}"
        f"  {'length':>8} {'error':>8} {'error%':>7}",
    ]
    for r in report["sweep"]:
        window = r["window_s"]
        lost_rate = f"{r['lost'] / window:.0f}" if window else "-"
        eff, eff_err = r.get("injected_effective_s"), r.get("error_effective_s")
        eff_pct = None if eff_err is None or not eff else 100 * eff_err / eff
        res, gap = r.get("resolution_s"), r.get("start_gap_s")
        lines.append(
            f"   {r['partition_s']:>8g}s {_f(window, '.3f'):>7}s"
            f" {_f(None if res is None else res * 1000, '.1f'):>5}ms"
            f"  {_f(r['injected_s'], '.3f'):>7}s {_f(r['error_s'], '+.4f'):>7}s"
            f" {_f(r['error_pct'], '+.1f'):>6}%"
            f"  {_f(eff, '.3f'):>7}s {_f(eff_err, '+.4f'):>7}s {_f(eff_pct, '+.1f'):>6}%"
            f"  {_f(None if gap is None else gap * 1000, '.1f'):>6}ms"
            f" {r['lost']:>5}/{r['acknowledged']:<6}"
            f" {lost_rate:>7} {_f(r['rto_s'], '.2f'):>5}s  {r['verdict']}"
        )
    lines.append(
        "   injected = outage - the partition's start, as requested (before the Toxiproxy call)"
        " and as in effect (after it returned); '-' where the run did not record it"
    )
    b = report["bringup"]
    lines += [
        "",
        f"3. Bring-up (primary + 1 replica, initdb to streaming): median {_f(b['median_s'], '.2f')}"
        f" s over {len(b['runs_s'])} runs ({', '.join(f'{x:.2f}' for x in b['runs_s'])})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s runs; sweep 1 s, 2 s")
    ap.add_argument("--clients", type=int, default=4, help="concurrency of both writers")
    ap.add_argument("--seconds", type=int, help="per throughput run (default 10, quick 3)")
    ap.add_argument(
        "--pgbench-mode", choices=("simple", "extended", "prepared"), default="prepared",
        help="pgbench -M (default prepared: psycopg prepares a statement run 5 times)",
    )  # fmt: skip
    ap.add_argument("--rounds", type=int, help="throughput rounds (default 3, quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument(
        "--out", type=Path, default=RESULTS / "latest.json", help="the JSON (default %(default)s)"
    )
    args = ap.parse_args(argv)
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    lengths = [1.0, 2.0] if args.quick else [1.0, 2.0, 5.0]

    base = work_dir()
    say(f"scratch directory {base}")
    try:
        info = machine()
        load_before = loadavg()
        busy_before = background_busy()
        journal_us = bench_journal(base)
        throughput, version = bench_throughput(
            base, seconds, args.clients, args.pgbench_mode, rounds
        )
        sweep = bench_sweep(base, lengths)
        load_after = loadavg()
        busy_after = background_busy()
    finally:
        if args.keep:
            say(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    sweep_shape = loads(sweep_scenario(1.0))
    bringups = [r.bringup_s for r in sweep if r.bringup_s is not None]
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "postgres_server": version,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "background_busy_pct_before": busy_before,
        "background_busy_pct_after": busy_after,
        "journal_cpu_us_per_write": journal_us,
        "config": {
            "quick": args.quick,
            "clients": args.clients,
            "seconds": seconds,
            "rounds": rounds,
            "pgbench_mode": args.pgbench_mode,
            "partition_lengths_s": lengths,
            "statement_ours": INSERT_SQL,
            "script_pgbench": PGBENCH_SCRIPT.format(cap=MAX_WRITES),
        },
        "sweep_rate": sweep_shape.workload.rate,
        "sweep_rpo_s": sweep_shape.expect.rpo,
        "throughput": [asdict(t) for t in throughput],
        "sweep": [asdict(r) for r in sweep],
        "bringup": {
            "runs_s": bringups,
            "median_s": statistics.median(bringups) if bringups else None,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
