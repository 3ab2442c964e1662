"""Where each lost write went, on literal sets: on the old primary, gone, in flight; ranges;
the FAIL reason under durable settings only."""

from __future__ import annotations

import pytest

from rpochaos.witness.classify import classify, durable, format_ranges, from_ranges, ranges


def test_ranges_merge_and_invert() -> None:
    assert ranges([7, 1, 3, 2, 2, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    assert ranges([]) == []
    assert from_ranges([(1, 3), (7, 7)]) == {1, 2, 3, 7}
    assert from_ranges([[5, 6]]) == {5, 6}
    assert format_ranges({4, 1, 2, 3, 9}) == "1-4, 9"
    assert format_ranges(set()) == "none"
    assert format_ranges(range(0, 40, 2), limit=3) == "0, 2, 4, ... (17 more ranges)"


def test_every_lost_write_on_the_old_primary() -> None:
    acked = set(range(1, 101))  # 1..100 acknowledged
    present = set(range(1, 61)) | {200, 201}  # the new primary: up to 60, then its own writes
    lost = acked - present  # 61..100
    old = set(range(1, 104))  # the old primary also committed 101..103 it never acknowledged
    c = classify(acked, lost, present, old, durable=True)
    assert c.on_old_primary == set(range(61, 101))
    assert c.gone == frozenset()
    assert c.in_flight_present == {101, 102, 103}
    assert c.past_fork == set(range(61, 104))
    assert c.fail_reason is None
    d = c.to_dict()
    assert d["on_old_primary"] == 40 and d["gone"] == 0 and d["in_flight_present"] == 3
    assert d["on_old_primary_seqs"] == [[61, 100]] and d["in_flight_present_seqs"] == [[101, 103]]


def test_gone_under_durable_settings_is_a_fail_reason_naming_them() -> None:
    acked = set(range(1, 21))
    present = set(range(1, 11))
    lost = acked - present
    old = set(range(1, 21)) - {12, 13, 14, 18}  # a durability bug: these never reached disk
    c = classify(acked, lost, present, old, durable=True)
    assert c.gone == {12, 13, 14, 18}
    assert c.on_old_primary == {11, 15, 16, 17, 19, 20}
    assert c.fail_reason is not None
    assert c.fail_reason.startswith("4 acknowledged writes (durable settings: fsync=on)")
    assert "seq 12-14, 18" in c.fail_reason
    one = classify({1, 2}, {2}, {1}, {1}, durable=True)
    assert one.fail_reason is not None and "1 acknowledged write (" in one.fail_reason
    assert "is on no node" in one.fail_reason and "seq 2 " in one.fail_reason


def test_gone_without_durable_settings_is_counted_not_failed() -> None:
    c = classify({1, 2, 3}, {2, 3}, {1}, {1}, durable=False)
    assert c.gone == {2, 3} and c.fail_reason is None


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"fsync": "on", "synchronous_commit": "on"}, True),
        ({"fsync": "on", "synchronous_commit": "local"}, True),
        ({"fsync": "on", "synchronous_commit": "remote_write"}, True),
        ({"fsync": "on", "synchronous_commit": "off"}, False),
        ({"fsync": "off", "synchronous_commit": "on"}, False),
        ({}, True),  # PostgreSQL's defaults
    ],
)
def test_durable_settings(settings: dict[str, object], expected: bool) -> None:
    assert durable(settings) is expected
