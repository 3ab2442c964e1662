"""Unit tests for the journal and reading a history back (pure files under tmp_path)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from rpochaos.history import (
    SYNC_WAIT_CANCELLED,
    Journal,
    Op,
    Outcome,
    ops_from_records,
    read_history,
)


def test_round_trip_through_journal_and_read_history(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(2, 0.5, worker=1)
        j.invoke(1, 0.25)
        j.complete(1, 0.75, Outcome.OK, node="pg0")
        j.complete(2, 1.0, Outcome.FAIL, node="pg0", note="connection refused")
        j.invoke(3, 1.5, worker=1)
        j.complete(3, 2.0, Outcome.OK, node="pg1", note=SYNC_WAIT_CANCELLED)
        j.invoke(4, 2.5)
        j.complete(4, 3.0, Outcome.INFO)

    assert read_history(path) == [
        Op(seq=1, invoke_s=0.25, complete_s=0.75, outcome=Outcome.OK, node="pg0", worker=0),
        Op(
            seq=2,
            invoke_s=0.5,
            complete_s=1.0,
            outcome=Outcome.FAIL,
            node="pg0",
            note="connection refused",
            worker=1,
        ),
        Op(
            seq=3,
            invoke_s=1.5,
            complete_s=2.0,
            outcome=Outcome.OK,
            node="pg1",
            note=SYNC_WAIT_CANCELLED,
            worker=1,
        ),
        Op(seq=4, invoke_s=2.5, complete_s=3.0, outcome=Outcome.INFO),
    ]


def test_lines_are_compact_json_in_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(12, 1.2345, worker=0)
        j.complete(12, 1.2401, Outcome.OK, node="primary")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == ['["i",12,1.234500000,0]', '["c",12,1.240100000,"ok","primary",null]']
    assert [json.loads(line) for line in lines] == [
        ["i", 12, 1.2345, 0],
        ["c", 12, 1.2401, "ok", "primary", None],
    ]


def test_each_line_is_flushed_before_close(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    j = Journal(path)
    try:
        j.invoke(1, 0.0)
        j.complete(1, 0.1, Outcome.OK, node="pg0")
        # Read through a separate file handle while the journal is still open.
        assert [op.seq for op in read_history(path)] == [1]
        assert read_history(path)[0].outcome is Outcome.OK
    finally:
        j.close()


def test_journal_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(1, 0.0)
    with Journal(path) as j:
        j.complete(1, 0.1, Outcome.OK)
    assert read_history(path) == [Op(seq=1, invoke_s=0.0, complete_s=0.1, outcome=Outcome.OK)]


def test_close_is_idempotent_and_writes_after_close_raise(tmp_path: Path) -> None:
    j = Journal(tmp_path / "history.jsonl")
    j.close()
    j.close()
    with pytest.raises(ValueError, match="closed"):
        j.invoke(1, 0.0)


def test_concurrent_writers_produce_well_formed_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    workers, per_worker = 8, 250
    # A long note makes each line big enough that unsynchronised writes would interleave.
    note = "x" * 2000
    barrier = threading.Barrier(workers)

    def run(worker: int, j: Journal) -> None:
        barrier.wait()
        for i in range(per_worker):
            seq = worker * per_worker + i
            j.invoke(seq, float(i), worker=worker)
            j.complete(seq, float(i) + 0.5, Outcome.OK, node=f"w{worker}", note=note)

    # Switch threads as often as possible so that unsynchronised writes would interleave.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with Journal(path) as j:
            threads = [threading.Thread(target=run, args=(w, j)) for w in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(old_interval)

    raw = path.read_text(encoding="utf-8")
    assert raw.endswith("\n")
    lines = raw.splitlines()
    assert len(lines) == 2 * workers * per_worker
    for line in lines:
        record = json.loads(line)  # every line is one whole JSON array
        assert record[0] in ("i", "c")
    ops = read_history(path)
    assert [op.seq for op in ops] == list(range(workers * per_worker))
    assert all(op.outcome is Outcome.OK and op.note == note for op in ops)
    assert all(op.node == f"w{op.worker}" for op in ops)


def test_truncated_last_line_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(1, 0.0)
        j.complete(1, 0.1, Outcome.OK)
        j.invoke(2, 0.2)
    # The harness died half-way through writing the complete line of seq 2.
    with path.open("a", encoding="utf-8") as f:
        f.write('{"type":"complete","seq":2,"t":0.3,"outc')
    assert read_history(path) == [
        Op(seq=1, invoke_s=0.0, complete_s=0.1, outcome=Outcome.OK),
        Op(seq=2, invoke_s=0.2, complete_s=None, outcome=Outcome.INFO),
    ]


def test_truncated_multibyte_last_line_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(1, 0.0)
    line = json.dumps(
        {"type": "complete", "seq": 1, "t": 0.1, "outcome": "ok", "note": "é"}, ensure_ascii=False
    )
    cut = line.encode("utf-8")
    cut = cut[: cut.index("é".encode()) + 1]  # cut inside the two-byte character
    with path.open("ab") as f:
        f.write(cut)
    assert read_history(path) == [Op(seq=1, invoke_s=0.0, complete_s=None, outcome=Outcome.INFO)]


def test_corrupt_middle_line_raises_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(
        '{"type":"invoke","seq":1,"t":0.0,"worker":0}\n'
        '{"type":"invoke","seq":2,"t":0.1,"wor\n'
        '{"type":"complete","seq":1,"t":0.2,"outcome":"ok","node":null,"note":null}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"line 2\b"):
        read_history(path)


def test_bad_record_in_the_middle_raises_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(
        '{"type":"invoke","seq":1,"t":0.0,"worker":0}\n'
        '{"type":"complete","seq":1,"t":0.2,"outcome":"maybe","node":null,"note":null}\n'
        '{"type":"invoke","seq":2,"t":0.3,"worker":0}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"line 2\b.*outcome='maybe'"):
        read_history(path)


def test_empty_file_reads_as_no_ops(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"")
    assert read_history(path) == []


def test_invoke_without_complete_is_info() -> None:
    ops = ops_from_records(
        [
            {"type": "invoke", "seq": 5, "t": 1.0, "worker": 3},
            {"type": "invoke", "seq": 4, "t": 0.5, "worker": 0},
            {"type": "complete", "seq": 4, "t": 0.6, "outcome": "ok", "node": "pg0"},
        ]
    )
    assert ops == [
        Op(seq=4, invoke_s=0.5, complete_s=0.6, outcome=Outcome.OK, node="pg0"),
        Op(seq=5, invoke_s=1.0, complete_s=None, outcome=Outcome.INFO, worker=3),
    ]


def test_complete_without_invoke_is_an_error() -> None:
    with pytest.raises(ValueError, match="seq 7 without an invoke"):
        ops_from_records(
            [
                {"type": "invoke", "seq": 6, "t": 1.0, "worker": 0},
                {"type": "complete", "seq": 7, "t": 1.1, "outcome": "ok"},
            ]
        )


def test_duplicate_invoke_is_an_error() -> None:
    with pytest.raises(ValueError, match="second invoke for seq 1"):
        ops_from_records(
            [
                {"type": "invoke", "seq": 1, "t": 1.0},
                {"type": "invoke", "seq": 1, "t": 1.1},
            ]
        )


def test_ops_are_sorted_by_seq_whatever_the_record_order() -> None:
    ops = ops_from_records(
        [
            {"type": "invoke", "seq": 30, "t": 0.0},
            {"type": "invoke", "seq": 10, "t": 0.1},
            {"type": "complete", "seq": 10, "t": 0.3, "outcome": "fail"},
            {"type": "invoke", "seq": 20, "t": 0.2},
            {"type": "complete", "seq": 30, "t": 0.4, "outcome": "info"},
        ]
    )
    assert [(op.seq, op.outcome) for op in ops] == [
        (10, Outcome.FAIL),
        (20, Outcome.INFO),
        (30, Outcome.INFO),
    ]
    assert ops[1].complete_s is None
    assert ops[2].complete_s == 0.4
