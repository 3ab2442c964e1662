"""The one JSON-lines appender: whole flushed lines, many threads, closed means closed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rpochaos.jsonl import JsonlAppender, read_objects


def test_each_line_is_on_disk_when_append_returns(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    out = JsonlAppender(p)
    assert out.append({"a": 1})
    # another reader sees it before close: flushed, not buffered
    assert p.read_text() == '{"a":1}\n'
    out.close()
    out.close()  # idempotent
    assert out.closed and not out.append({"b": 2})
    assert p.read_text() == '{"a":1}\n'


def test_threads_never_interleave_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    with JsonlAppender(p) as out:

        def work(w: int) -> None:
            for i in range(500):
                out.append({"w": w, "i": i, "pad": "x" * 200})

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = p.read_text().splitlines()
    assert len(lines) == 2000
    got = [json.loads(line) for line in lines]  # every line whole
    for w in range(4):
        assert [g["i"] for g in got if g["w"] == w] == list(range(500))


def test_nan_refused_when_asked(tmp_path: Path) -> None:
    with JsonlAppender(tmp_path / "x.jsonl", allow_nan=False) as out, pytest.raises(ValueError):
        out.append({"t": float("nan")})
    assert (tmp_path / "x.jsonl").read_text() == ""


def test_reader_skips_a_cut_line_and_non_objects(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"a":1}\n[1]\n\n{"b":2}\n{"c":')
    assert read_objects(p) == [{"a": 1}, {"b": 2}]
    assert read_objects(tmp_path / "missing.jsonl") == []
