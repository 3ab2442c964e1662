"""Analysis at scale: ``rpochaos analyze`` on synthetic histories of 1 M and 10 M writes.

Run: ``.venv/bin/python bench/scale.py [--writes 1000000 10000000] [--dir DIR] [--keep]``.
Nothing is asserted (a benchmark prints, it does not pass or fail).

For each size it writes a run directory whose history.jsonl is in the journal's own format
(the lines come from ``rpochaos.history.invoke_line``/``complete_line``, as ``Journal`` writes
them) with a partition-then-crash shape: 8 workers at 2,000 writes/s, each worker's invoke
then its complete, completes a little out of seq order; a partition of the replica at 22 % of
the run, the primary crashed at the end and the final read taken on the replica, so the
writes acknowledged before the partition survive (~22 %) and every later one is lost (~78 %).
One write in 500 fails and one in 1,000 has an unknown outcome, which splits the lost set into
many ranges. Plus resolved.json (a real scenario), events.jsonl and final_read.json, so
``rpochaos analyze DIR`` works on it as on a real run.

Then it times, each as its own process, with its peak RSS (``wait4``'s ``ru_maxrss``):

- ``read``: Python reading history.jsonl once, in 16 MiB blocks (the floor: bytes only);
- ``lines``: Python iterating over its lines once (``for line in f``: no parsing);
- ``columns``: ``rpochaos.history.read_columns`` (the journal parsed into columns);
- ``analyze``: ``rpochaos analyze DIR`` (read, measure, result.json, seqs.json.gz, report.html);

and prints analyze's wall time as a ratio to each, the sizes of result.json, seqs.json.gz and
report.html, and the load average (the machine is shared: read the figures with it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rpochaos.history import Outcome, complete_line, invoke_line  # noqa: E402
from rpochaos.scenario import loads, to_dict  # noqa: E402
from rpochaos.store import EVENTS, FINAL_READ, HISTORY, RESOLVED, write_json  # noqa: E402

RATE = 2000.0
WORKERS = 8
CUT_AT = 0.22  # the partition, as a fraction of the run
SCENARIO = """
name: scale-partition-crash
description: synthetic partition-then-crash history for bench/scale.py
system: postgres
seed: 1
topology:
  synchronous_commit: "on"
  replicas:
    - name: replica1
      mode: async
workload:
  rate: 2000/s
  duration: DURATIONs
  concurrency: 8
schedule:
  - at: CUTs
    partition: replica1->primary
    mode: blackhole
  - at: CRASHs
    crash: primary
    outage: true
expect:
  rpo: 1s
"""


def make_run(d: Path, writes: int, seed: int = 1) -> dict[str, float]:
    """Write the run directory ``d`` of ``writes`` writes; return its shape's times."""
    rng = random.Random(seed)
    d.mkdir(parents=True, exist_ok=True)
    duration = writes / RATE
    cut, crash = round(duration * CUT_AT, 3), round(duration, 3) + 0.01
    text = SCENARIO.replace("DURATION", f"{crash + 1:.3f}").replace("CUT", f"{cut:.3f}")
    sc = loads(text.replace("CRASH", f"{crash:.3f}"))
    write_json(d / RESOLVED, {"scenario": to_dict(sc), "seed": 1, "backend": "local"})
    survivors: list[int] = []
    with (d / HISTORY).open("w", encoding="utf-8") as f:
        block: list[str] = []
        for first in range(1, writes + 1, WORKERS):
            seqs = range(first, min(first + WORKERS, writes + 1))
            done: list[tuple[float, str]] = []
            for w, seq in enumerate(seqs):
                t = (seq - 1) / RATE + rng.random() * 0.0004
                block.append(invoke_line(seq, t, w))
                end = t + 0.001 + rng.random() * 0.003
                r = rng.random()
                if r < 0.002:
                    line = complete_line(seq, end, Outcome.FAIL, None, "connect: refused")
                elif r < 0.003:
                    line = complete_line(seq, end, Outcome.INFO, "primary", "timeout")
                else:
                    line = complete_line(seq, end, Outcome.OK, "primary")
                    if end < cut:
                        survivors.append(seq)
                done.append((end, line))
            done.sort()
            block.extend(line for _, line in done)
            if len(block) >= 200_000:
                f.writelines(block)
                block = []
        f.writelines(block)
    events = [
        {"type": "phase", "name": "workload_start", "t": 0.0, "wall": time.time()},
        {
            "type": "step_start",
            "index": 0,
            "action": "partition",
            "target": "replica1->primary",
            "t": cut,
            "outage": False,
            "instant": False,
            "params": {"mode": "blackhole"},
        },
        {"type": "step_end", "index": 0, "t": crash + 1.0, "requested_t": crash + 0.99},
        {
            "type": "step_start",
            "index": 1,
            "action": "crash",
            "target": "primary",
            "t": crash,
            "outage": True,
            "instant": True,
            "params": {},
        },
        {"type": "outage", "index": 1, "t": crash, "requested_t": crash - 0.001},
    ]
    (d / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
    write_json(d / FINAL_READ, {"node": "replica1", "seqs": survivors, "at_s": crash + 2.0})
    return {"duration_s": duration, "cut_s": cut, "crash_s": crash}


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; (wall seconds, CPU seconds, peak RSS in bytes) of that process alone."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.stderr:
        p.stderr.close()
    if p.returncode not in (0, 1, 2):
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}: {err[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


READ = "import sys\nf = open(sys.argv[1], 'rb')\nwhile f.read(16 << 20):\n    pass\n"
LINES = "import sys\nfor line in open(sys.argv[1], 'rb'):\n    pass\n"
COLUMNS = "import sys\nfrom rpochaos.history import read_columns\nread_columns(sys.argv[1])\n"


def bench(d: Path, writes: int, reuse: bool = False) -> dict[str, object]:
    py = sys.executable
    rpochaos = str(Path(py).with_name("rpochaos"))
    # generated in a process of its own, so that this one stays small: a child's ru_maxrss
    # starts from what its parent held when it forked
    t = time.perf_counter()
    if reuse and (d / "shape.json").exists():
        shape = json.loads((d / "shape.json").read_text())
    else:
        made = subprocess.run(
            [py, __file__, "--make", str(d), str(writes)],
            check=True,
            capture_output=True,
            text=True,
        )
        shape = json.loads(made.stdout)
        (d / "shape.json").write_text(made.stdout)
    gen_s = time.perf_counter() - t
    hist = d / HISTORY
    runs = {
        "read": timed([py, "-c", READ, str(hist)]),
        "lines": timed([py, "-c", LINES, str(hist)]),
        "columns": timed([py, "-c", COLUMNS, str(hist)]),
        "analyze": timed([rpochaos, "analyze", str(d)]),
    }
    res = json.loads((d / "result.json").read_text())
    w = res["writes"]
    out: dict[str, object] = {
        "writes": writes,
        "history_bytes": hist.stat().st_size,
        "generate_s": round(gen_s, 1),
        **shape,
        "acknowledged": w["acknowledged"],
        "lost": w["lost"],
        "survivors": len(json.loads((d / FINAL_READ).read_text())["seqs"]),
        "lost_ranges_inline": len(w["seq_ranges"]["lost"]),
        "truncated": w["seq_ranges_truncated"],
        "verdict": res["verdict"],
        "window_s": res["data_loss_window_s"],
        "result_json_bytes": (d / "result.json").stat().st_size,
        "seqs_json_gz_bytes": (d / "seqs.json.gz").stat().st_size,
        "report_html_bytes": (d / "report.html").stat().st_size,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    for name, (wall, cpu, rss) in runs.items():
        out[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": rss >> 20}
    aw = runs["analyze"][0]
    out["analyze_over"] = {k: round(aw / runs[k][0], 2) for k in ("read", "lines", "columns")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--dir", type=Path, help="where to write the run directories")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument(
        "--reuse", action="store_true", help="time the run directories already in --dir again"
    )
    ap.add_argument("--make", nargs=2, metavar=("DIR", "WRITES"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.make:
        print(json.dumps(make_run(Path(a.make[0]), int(a.make[1]))))
        return
    base = a.dir or Path(tempfile.mkdtemp(prefix="rpochaos-scale-"))
    try:
        for n in a.writes:
            r = bench(base / f"run-{n}", n, reuse=a.reuse)
            print(json.dumps(r, indent=1), flush=True)
            if not a.keep:
                shutil.rmtree(base / f"run-{n}")
    finally:
        if not a.keep and a.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
