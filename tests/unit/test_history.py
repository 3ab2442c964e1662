"""Unit tests for the journal and reading a history back (pure files under tmp_path)."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpochaos import history
from rpochaos.history import (
    SYNC_WAIT_CANCELLED,
    History,
    Journal,
    Op,
    Outcome,
    ops_from_records,
    read_columns,
    read_history,
)
from rpochaos.history_scan import scan_chunk


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


# -- format 2, the fast reader, and format 1 alongside ---------------------------------------

V1_LINES = (
    '{"type":"invoke","seq":1,"t":0.25,"worker":0}\n'
    '{"type":"complete","seq":1,"t":0.75,"outcome":"ok","node":"pg0","note":null}\n'
)


def _write_ops(path: Path, ops: list[Op]) -> None:
    with Journal(path) as j:
        for op in ops:
            j.invoke(op.seq, op.invoke_s, op.worker)
        for op in ops:
            if op.complete_s is not None:
                j.complete(op.seq, op.complete_s, op.outcome, op.node, op.note)


def _ns(t: float) -> float:
    """``t`` as the journal keeps it: to the nanosecond."""
    return float(f"{t:.9f}")


def _many(n: int) -> list[Op]:
    outcomes = [Outcome.OK, Outcome.OK, Outcome.FAIL, Outcome.INFO]
    return [
        Op(
            seq=s,
            invoke_s=_ns(s / 100),
            complete_s=None if s % 97 == 0 else _ns(s / 100 + 0.004),
            outcome=Outcome.INFO if s % 97 == 0 else outcomes[s % 4],
            node=None if s % 97 == 0 else ("primary", "replica1", None)[s % 3],
            note=None if s % 97 == 0 else (None, SYNC_WAIT_CANCELLED, 'err: "x"\nnext')[s % 3],
            worker=s % 8,
        )
        for s in range(1, n + 1)
    ]


def test_many_chunks_read_exactly_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "CHUNK", 4096)  # many chunks, lines cut at chunk borders
    path = tmp_path / "history.jsonl"
    ops = _many(3000)
    _write_ops(path, ops)
    got = read_columns(path)
    assert len(got) == 3000 and got.ops() == ops
    assert got.nodes == ("primary", "replica1") or set(got.nodes) == {"primary", "replica1"}


def test_fast_and_line_by_line_readers_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.jsonl"
    _write_ops(path, _many(500))
    fast = read_columns(path).ops()
    monkeypatch.setattr(history, "scan_chunk", lambda data: None)  # every chunk line by line
    assert read_columns(path).ops() == fast


def test_the_fast_reader_accepts_what_it_parses_exactly_and_nothing_else() -> None:
    good = b'["i",12,1.234500000,3]\n["c",12,1.240100000,"ok","primary",null]\n'
    sc = scan_chunk(good)
    assert sc is not None
    assert sc.inv_seq.tolist() == [12] and sc.inv_t_ns.tolist() == [1_234_500_000]
    assert sc.inv_worker.tolist() == [3] and sc.comp_t_ns.tolist() == [1_240_100_000]
    assert sc.rests == [b'"ok","primary",null']
    long_seq = b'["i",1234567890123,12345678.123456789,0]\n'
    sc = scan_chunk(long_seq)
    assert sc is not None and sc.inv_seq.tolist() == [1234567890123]
    assert sc.inv_t_ns.tolist() == [12345678_123456789]
    for other in (
        b'["i",12,1.5,3]\n',  # not 9 decimals
        b'["i",1x,1.234500000,3]\n',  # not a digit
        b'["i",12,1.23450000a,3]\n',
        b'["i",12,1.234500000,-3]\n',
        b'["i",-12,1.234500000,3]\n',
        b'["x",12,1.234500000,3]\n',
        b'["i",12,1.234500000,3}\n',
        b'["i",12,123456789.123456789,3]\n',  # 9 digits before the dot
        V1_LINES.encode(),
        b"\n",
    ):
        assert scan_chunk(other) is None, other


def test_hand_written_variants_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(V1_LINES + '["i",2,1.5,1]\n["c",2,2,"fail",null,"refused"]\n')
    assert read_history(path) == [
        Op(seq=1, invoke_s=0.25, complete_s=0.75, outcome=Outcome.OK, node="pg0"),
        Op(seq=2, invoke_s=1.5, complete_s=2.0, outcome=Outcome.FAIL, note="refused", worker=1),
    ]


def test_times_keep_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    t = 1234.567890123456
    with Journal(path) as j:
        j.invoke(1, t)
    assert read_history(path)[0].invoke_s == float(f"{t:.9f}")
    with Journal(path) as j, pytest.raises(ValueError, match="finite"):
        j.invoke(2, float("nan"))


def test_format_2_cut_last_line_is_tolerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "CHUNK", 64)
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        for s in range(1, 6):
            j.invoke(s, s / 10)
            j.complete(s, s / 10 + 0.01, Outcome.OK)
        j.invoke(6, 0.6)
    line = '["c",6,0.610000000,"ok",null,null]\n'
    for cut in range(1, len(line) - 1):  # every cut of the line being written
        p = tmp_path / f"cut{cut}.jsonl"
        p.write_bytes(path.read_bytes() + line[:cut].encode())
        ops = read_history(p)
        assert [o.seq for o in ops] == [1, 2, 3, 4, 5, 6]
        assert ops[-1].complete_s is None and ops[-1].outcome is Outcome.INFO


def test_a_bad_line_in_a_later_chunk_is_named_by_its_line_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "CHUNK", 256)
    path = tmp_path / "history.jsonl"
    _write_ops(path, _many(100))
    lines = path.read_text().splitlines(keepends=True)
    lines[150] = '["c",151,1.5,"maybe",null,null]\n'
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"line 151\b.*outcome='maybe'"):
        read_history(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('["i",3,0.500000000,0]\n', r"line 6: second invoke for seq 3 \(first at .*line 3\)"),
        ('["c",3,0.500000000,"ok",null,null]\n', r"line 6: second complete for seq 3"),
        ('["c",9,0.500000000,"ok",null,null]\n', r"line 6: complete for seq 9 without an invoke"),
    ],
)
def test_pairing_errors_name_the_lines(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        for s in (1, 2, 3):
            j.invoke(s, 0.1 * s)
        j.complete(3, 0.4, Outcome.OK)
        j.complete(1, 0.4, Outcome.OK)
    with path.open("a") as f:
        f.write(extra)
    with pytest.raises(ValueError, match=message):
        read_history(path)


def test_a_complete_before_its_invoke_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Journal(path) as j:
        j.invoke(1, 2.0)
        j.complete(1, 1.0, Outcome.OK)
    with pytest.raises(ValueError, match=r"line 2: seq 1 completes at t=1.0 before its invoke"):
        read_history(path)


def test_columns_round_trip_through_ops() -> None:
    ops = _many(50)
    h = History.from_ops(list(reversed(ops)))
    assert h.ops() == ops
    assert History.empty().ops() == [] and len(History.empty()) == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 1e6, allow_nan=False),
            st.floats(0, 10, allow_nan=False),
            st.sampled_from(list(Outcome)),
            st.none() | st.text(max_size=12),
            st.none() | st.text(max_size=40),
            st.integers(0, 10_000),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_property_whatever_is_journaled_reads_back(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        want = []
        with Journal(path) as j:
            for seq, (t, dt, outcome, node, note, worker, done) in enumerate(rows, start=1):
                t9 = float(f"{t:.9f}")
                c9 = float(f"{t9 + dt:.9f}")
                j.invoke(seq, t9, worker)
                if done:
                    j.complete(seq, c9, outcome, node, note)
                want.append(
                    Op(
                        seq,
                        t9,
                        c9 if done else None,
                        outcome if done else Outcome.INFO,
                        node if done else None,
                        note if done else None,
                        worker,
                    )
                )
        assert read_history(path) == want
