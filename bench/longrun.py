"""A long real run: does the harness's memory stay bounded as the history grows?

    .venv/bin/python bench/longrun.py [--minutes M] [--rate R] [--concurrency C] [--keep DIR]

Runs a real scenario for M minutes (default 10) at R writes/s (default 1500/s, a rate the
writer sustains through the proxy on this machine; see the throughput benchmark) with C
workers: the shape of scenarios/pg-async-partition-crash.yaml stretched out, an async
replica blackholed 5 s before the primary is killed 10 s before the end, then promoted. The
``rpochaos run`` process's resident memory is sampled every second from /proc; printed are
its RSS at 1 minute, at the end of the writing and at the end, the peak, the growth per
acknowledged write while writing, the run's own figures (acknowledged, lost, window) and
``rpochaos analyze``'s wall time and peak RSS on the resulting directory. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: bench-long-run
description: a long async run, partitioned then crashed near its end (bench/longrun.py)
system: postgres
seed: 1
topology:
  synchronous_commit: "on"
  replicas: [{{name: replica1, mode: async}}]
  settings: {{wal_sender_timeout: 10s}}
workload:
  rate: {rate}/s
  concurrency: {concurrency}
  duration: {duration}s
  connect_timeout: 1s
schedule:
  - {{at: {cut}s, partition: replica1->primary, mode: blackhole, direction: both}}
  - {{at: {crash}s, crash: primary, outage: true}}
  - {{at: {promote}s, promote: replica1}}
expect:
  rpo: 1s
"""


def rss_kib(pid: int) -> int | None:
    """The resident set of ``pid`` (and only it) in KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample_rss_until_exit(
    proc: subprocess.Popen[str], every_s: float, t0: float
) -> list[tuple[float, int]]:
    """(seconds since ``t0``, RSS KiB) of ``proc`` every ``every_s`` until it exits."""
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        got = rss_kib(proc.pid)
        if got is not None:
            samples.append((time.monotonic() - t0, got))
        time.sleep(every_s)
    return samples


def peak_rss_until_exit(proc: subprocess.Popen[bytes], every_s: float) -> int:
    """The largest RSS (KiB) of ``proc`` seen every ``every_s`` until it exits."""
    peak = 0
    while proc.poll() is None:
        peak = max(peak, rss_kib(proc.pid) or 0)
        time.sleep(every_s)
    return peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="write the run directory here and keep it")
    a = ap.parse_args()
    duration = max(30.0, a.minutes * 60)
    crash = duration - 10
    text = SCENARIO.format(
        rate=a.rate, concurrency=a.concurrency, duration=f"{duration:g}",
        cut=f"{crash - 5:g}", crash=f"{crash:g}", promote=f"{crash + 0.5:g}",
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rpochaos-bench-long-") as d:
        scenario = Path(d) / "long.yaml"
        scenario.write_text(text)
        out = a.keep or Path(d) / "run"
        argv = [sys.executable, "-m", "rpochaos.cli", "run", str(scenario), "--out", str(out)]
        argv += ["-q", "--no-html"]
        print(f"[bench] {duration:g} s at {a.rate}/s x {a.concurrency}", file=sys.stderr)
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        samples = sample_rss_until_exit(proc, 1.0, t0)
        stdout = proc.stdout.read() if proc.stdout else ""
        wall = time.monotonic() - t0
        if proc.returncode not in (0, 1) or not (out / "result.json").exists():
            sys.exit(f"rpochaos run exited {proc.returncode}:\n{stdout[-3000:]}")
        r = json.loads((out / "result.json").read_text())
        t1 = time.monotonic()
        analyze = subprocess.Popen(
            [sys.executable, "-m", "rpochaos.cli", "analyze", str(out), "--json"],
            cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        analyze_rss = peak_rss_until_exit(analyze, 0.1)
        analyze_s = time.monotonic() - t1
        journal_mb = (out / "history.jsonl").stat().st_size / 1e6
    acked = int(r["writes"]["acknowledged"])
    at_minute = next((kib for t, kib in samples if t >= 60), 0)
    # the writing phase ends 10 s before the workload's end (the crash): after it come the
    # final read and the analysis, which hold the whole history for a moment (the peak)
    writing_end = next((kib for t, kib in reversed(samples) if t <= duration - 15), 0)
    end = samples[-1][1] if samples else 0
    peak = max((kib for _, kib in samples), default=0)
    rate = acked / duration  # paced: evenly spread
    acked_between = rate * max(0.0, duration - 15 - 60)
    per_write = (writing_end - at_minute) * 1024 / max(1.0, acked_between)
    load = os.getloadavg()
    print(
        f"rpochaos bench long run: {os.cpu_count()} CPUs; load average after "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"run: {duration:g} s declared at {a.rate}/s x {a.concurrency}, wall {wall:.0f} s; "
        f"{acked:,} acknowledged ({acked / duration:,.0f}/s achieved), "
        f"{r['writes']['lost']:,} lost, window {r['data_loss_window_s']:.3f} s, "
        f"journal {journal_mb:,.0f} MB"
    )
    growth = (
        f"growth while writing (1 min to {duration - 15:g} s) {per_write:,.1f} bytes per "
        "acknowledged write"
        if at_minute and writing_end and duration >= 120
        else "growth: run 2 minutes or more to measure it"
    )
    print(
        f"harness RSS: {at_minute / 1024:,.0f} MiB at 1 min, {writing_end / 1024:,.0f} MiB "
        f"at the end of the writing, {end / 1024:,.0f} MiB at the end, peak "
        f"{peak / 1024:,.0f} MiB (the final read and the analysis); {growth}"
    )
    print(
        f"analyze: exit {analyze.returncode}, {analyze_s:.1f} s, "
        f"peak RSS {analyze_rss / 1024:,.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
