"""Journal encodings side by side: bytes per write, CPU to write, CPU to read into columns.

Run: ``.venv/bin/python bench/journal_formats.py [--writes 200000]``. Prints, for the same
synthetic history (every write ``ok`` on ``primary``, as most are), CPU seconds per write
(``time.process_time``, so less skewed by a busy machine than wall time):

- format 1 (one JSON object per line, rpochaos before format 2), written with ``json.dumps``
  through ``JsonlAppender`` (a flush per line), read with ``json.loads`` / ``orjson.loads``
  per line, or ``msgspec`` ``decode_lines`` into typed structs, then into columns;
- format 2 (``Journal`` today: one JSON array per line, one ``write`` per line), read with
  ``read_columns`` (numpy over whole chunks).

Nothing is asserted. msgspec is optional (only this comparison uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from rpochaos.history import Journal, Outcome, read_columns  # noqa: E402
from rpochaos.jsonl import JsonlAppender  # noqa: E402


def _cpu(f: object) -> float:
    c = time.process_time()
    f()  # type: ignore[operator]
    return time.process_time() - c


def write_v1(path: Path, n: int) -> None:
    with JsonlAppender(path, allow_nan=False) as out:
        for s in range(1, n + 1):
            t = s / 1000
            out.append({"type": "invoke", "seq": s, "t": t, "worker": s % 8})
            out.append(
                {
                    "type": "complete",
                    "seq": s,
                    "t": t + 0.002,
                    "outcome": "ok",
                    "node": "primary",
                    "note": None,
                }
            )


def write_v2(path: Path, n: int) -> None:
    with Journal(path) as j:
        for s in range(1, n + 1):
            t = s / 1000
            j.invoke(s, t, s % 8)
            j.complete(s, t + 0.002, Outcome.OK, "primary")


def columns(recs: list[dict[str, object]]) -> None:
    inv = [r for r in recs if r["type"] == "invoke"]
    np.array([r["seq"] for r in inv], np.int64)
    np.array([r["t"] for r in inv], np.float64)


def read_json(path: Path, loads: object) -> None:
    with path.open("rb") as f:
        columns([loads(line) for line in f])  # type: ignore[operator]


def read_msgspec(path: Path) -> None:
    import msgspec

    class Invoke(msgspec.Struct, tag_field="type", tag="invoke", gc=False):
        seq: int
        t: float
        worker: int = 0

    class Complete(msgspec.Struct, tag_field="type", tag="complete", gc=False):
        seq: int
        t: float
        outcome: str
        node: str | None = None
        note: str | None = None

    dec = msgspec.json.Decoder(Invoke | Complete)
    recs = dec.decode_lines(path.read_bytes())
    inv = [r for r in recs if isinstance(r, Invoke)]
    np.array([r.seq for r in inv], np.int64)
    np.array([r.t for r in inv], np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=200_000)
    n = ap.parse_args().writes
    with tempfile.TemporaryDirectory() as d:
        v1, v2 = Path(d) / "v1.jsonl", Path(d) / "v2.jsonl"
        rows = [
            ("format 1: json.dumps + flush per line", "write", _cpu(lambda: write_v1(v1, n)), v1),
            (
                "format 2: f-string + one write() per line",
                "write",
                _cpu(lambda: write_v2(v2, n)),
                v2,
            ),
            ("format 1: json.loads per line", "read", _cpu(lambda: read_json(v1, json.loads)), v1),
            (
                "format 1: orjson.loads per line",
                "read",
                _cpu(lambda: read_json(v1, orjson.loads)),
                v1,
            ),
        ]
        with contextlib.suppress(ImportError):
            rows.append(
                ("format 1: msgspec decode_lines", "read", _cpu(lambda: read_msgspec(v1)), v1)
            )
        rows.append(("format 2: read_columns (numpy)", "read", _cpu(lambda: read_columns(v2)), v2))
        print(f"{n} writes (2 lines each)")
        for name, what, cpu, path in rows:
            size = path.stat().st_size / n
            print(f"{what:5s} {name:45s} {cpu / n * 1e6:7.2f} us/write  {size:5.1f} B/write")


if __name__ == "__main__":
    main()
