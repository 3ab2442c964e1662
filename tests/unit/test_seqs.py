"""Sequence sets as ranges: the encoding, the compressed file of whole sets, result.json's
shape (ranges cut to RANGES_SHOWN, the whole sets in seqs.json.gz) and reading older
result.json files with sequence lists."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpochaos import seqs as seqs_mod
from rpochaos.result import Result, analyze
from rpochaos.result import build as build_mod
from rpochaos.seqs import (
    KINDS,
    SEQS,
    SeqSet,
    first_seqs,
    ranges_text,
    read_seqs,
    write_seqs,
)
from tests.unit.run_dirs import make_run_dir


def test_ranges_are_maximal_runs_in_order() -> None:
    s = SeqSet([9, 3, 4, 5, 5, 12, 13])
    assert s.ranges() == [(3, 5), (9, 9), (12, 13)]
    assert s.range_count() == 3 and len(s) == 6 and s.ranges(2) == [(3, 5), (9, 9)]
    assert s.tolist() == [3, 4, 5, 9, 12, 13] and list(s) == s.tolist()
    assert 4 in s and 6 not in s and "4" not in s
    assert SeqSet().ranges() == [] and not SeqSet() and SeqSet().range_count() == 0
    assert s.contains(np.array([1, 3, 9, 14], np.int64)).tolist() == [False, True, True, False]


@given(st.sets(st.integers(-1000, 10**12), max_size=200))
def test_property_ranges_round_trip(values: set[int]) -> None:
    s = SeqSet(values)
    assert s.tolist() == sorted(values)
    assert SeqSet.from_ranges(s.ranges()) == s
    assert sum(b - a + 1 for a, b in s.ranges()) == len(values)
    assert all(b + 1 < c for (_, b), (c, _) in zip(s.ranges(), s.ranges()[1:], strict=False))


def test_from_ranges_refuses_what_is_not_ascending_and_disjoint() -> None:
    for bad in ([[5, 3]], [[1, 4], [4, 6]], [[5, 6], [1, 2]]):
        with pytest.raises(ValueError, match="ascending and disjoint"):
            SeqSet.from_ranges(bad)


def test_text_and_first_seqs() -> None:
    assert ranges_text([(3, 5), (9, 9)]) == "3-5, 9"
    assert ranges_text([(3, 5)], total=10) == "3-5, ... (10 in all)"
    assert first_seqs([(3, 5), (9, 20)], 5) == [3, 4, 5, 9, 10]
    assert first_seqs([(3, 4)], 10) == [3, 4]


def test_the_seqs_file_is_gzip_json_of_every_range(tmp_path: Path) -> None:
    p = tmp_path / SEQS
    big = SeqSet(np.arange(0, 20_000, 2, dtype=np.int64))  # 10,000 ranges
    write_seqs(p, {"lost": big, "unexpected": SeqSet([7])})
    doc = json.loads(gzip.decompress(p.read_bytes()))
    assert doc["format"] == 1 and set(doc) == {"format", *KINDS}
    assert len(doc["lost"]) == 10_000 and doc["unexpected"] == [[7, 7]] and doc["phantom"] == []
    back = read_seqs(p)
    assert back["lost"] == big and back["unexpected"] == SeqSet([7]) and not back["recovered"]
    p.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a seqs file"):
        read_seqs(p)


def test_result_json_cuts_long_sets_and_the_file_holds_them_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_mod, "RANGES_SHOWN", 1)
    d = tmp_path / "run"
    make_run_dir(d)  # lost: every ack in [2, 4) s, one range
    r = analyze(d)
    w = r["writes"]
    assert w["seq_ranges"]["lost"] == [[201, 400]] and w["seq_ranges_truncated"] == []
    # make the lost set two ranges: seq 300 survived after all
    fr = json.loads((d / "final_read.json").read_text())
    fr["seqs"] = sorted([*fr["seqs"], 300])
    (d / "final_read.json").write_text(json.dumps(fr))
    r = analyze(d)
    w = r["writes"]
    assert w["lost"] == 199 and w["seq_ranges"]["lost"] == [[201, 299]]
    assert w["seq_ranges_truncated"] == ["lost"] and w["seqs_file"] == SEQS
    typed = Result.load(d)
    whole = [*range(201, 300), *range(301, 401)]
    assert typed.seqs("lost").tolist() == whole  # from seqs.json.gz
    assert typed.seqs("phantom").tolist() == []  # from result.json
    (d / SEQS).unlink()
    with pytest.raises(ValueError, match="cannot read the whole lost set"):
        typed.seqs("lost")
    with pytest.raises(ValueError, match="expected one of"):
        typed.seqs("nonsense")


def test_result_json_stays_small_whatever_the_sets(tmp_path: Path) -> None:
    many = SeqSet(np.arange(0, 10**7, 3, dtype=np.int64))  # 3.3 M ranges
    ranges = many.ranges(seqs_mod.RANGES_SHOWN)
    text = json.dumps({"lost": ranges, "recovered": ranges, "phantom": ranges})
    assert len(text) < 100_000


def test_an_older_result_json_with_lists_loads_as_ranges() -> None:
    r = Result.from_dict(
        {
            "writes": {
                "lost": 4,
                "lost_seqs": [3, 4, 5, 9],
                "phantom_seqs": [],
                "unexpected_seqs": [42],
                "lost_after_cancelled_sync_wait": [3, 9],
            }
        }
    )
    w = r.writes
    assert w.seq_ranges.lost == [(3, 5), (9, 9)] and w.seq_ranges.unexpected == [(42, 42)]
    assert w.lost_after_cancelled_sync_wait == 2
    assert w.seq_ranges.lost_after_cancelled_sync_wait == [(3, 3), (9, 9)]
    assert r.seqs("lost").tolist() == [3, 4, 5, 9]
    assert "lost_seqs" not in r.to_dict()["writes"]  # type: ignore[operator]
