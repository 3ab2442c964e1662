"""Failover decisions (rpochaos.failover), pure logic: the nodes are fakes of the connect
function that answer with a received WAL position, or do not answer."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import psycopg
import pytest

from rpochaos.failover import Decision, decide, failover, lsn_to_int, restore
from rpochaos.scenario import Step


class FakeCursor:
    def __init__(self, row: tuple[str | None] | None) -> None:
        self.row = row

    def fetchone(self) -> tuple[str | None] | None:
        return self.row


class FakeConnection:
    """Answers every query with one row: the node's received LSN as text."""

    def __init__(self, lsn: str | None) -> None:
        self.lsn = lsn
        self.queries: list[str] = []

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def execute(self, sql: str) -> FakeCursor:
        self.queries.append(sql)
        return FakeCursor((self.lsn,))


def fake_connect(received: dict[str, str | None]) -> Any:
    """A connect function: a node mapped to an LSN answers with it; one mapped to None
    answers with no position; one not in the mapping does not answer (psycopg.Error)."""

    def connect(node: str) -> FakeConnection:
        if node not in received:
            raise psycopg.OperationalError(f"{node} does not answer")
        return FakeConnection(received[node])

    return connect


def test_lsn_to_int() -> None:
    assert lsn_to_int("0/0") == 0
    assert lsn_to_int("16/B374D848") == (0x16 << 32) + 0xB374D848


def test_the_most_up_to_date_candidate_is_chosen() -> None:
    d = decide(
        fake_connect({"r1": "0/100", "r2": "0/300", "r3": "0/200"}), ["r1", "r2", "r3"], None, None
    )
    assert (d.chosen, d.refused) == ("r2", False)
    assert d.received == {"r1": 0x100, "r2": 0x300, "r3": 0x200}
    assert d.reason == "chose r2 received up to byte 768"


def test_a_tie_goes_to_the_first_candidate_listed() -> None:
    connect = fake_connect({"r1": "0/300", "r2": "0/300"})
    assert decide(connect, ["r2", "r1"], None, None).chosen == "r2"
    assert decide(connect, ["r1", "r2"], None, None).chosen == "r1"


def test_candidates_that_do_not_answer_are_skipped() -> None:
    d = decide(fake_connect({"r2": "0/10"}), ["r1", "r2"], None, None)
    assert d.chosen == "r2"
    assert d.received == {"r1": None, "r2": 0x10}


def test_a_candidate_without_a_position_counts_as_not_answering() -> None:
    d = decide(fake_connect({"r1": None, "r2": "0/10"}), ["r1", "r2"], None, None)
    assert d.chosen == "r2" and d.received["r1"] is None


def test_no_candidate_answering_refuses() -> None:
    d = decide(fake_connect({}), ["r1", "r2"], 1000, None)
    assert d == Decision(
        None, True, "no candidate replica answered", {"r1": None, "r2": None}, 1000
    )


def test_the_lag_behind_the_last_primary_position_is_reported() -> None:
    d = decide(fake_connect({"r1": "0/100"}), ["r1"], 0x180, None)
    assert d.chosen == "r1"
    assert (
        d.reason
        == "chose r1 received up to byte 256, 128 bytes behind the last primary position seen"
    )


def test_a_replica_ahead_of_the_last_position_seen_lags_zero() -> None:
    d = decide(fake_connect({"r1": "0/200"}), ["r1"], 0x100, 0)
    assert (d.chosen, d.refused) == ("r1", False)
    assert "0 bytes behind" in d.reason


@pytest.mark.parametrize(("max_lag", "refused"), [(127, True), (128, False), (None, False)])
def test_the_max_lag_guard(max_lag: int | None, refused: bool) -> None:
    d = decide(fake_connect({"r1": "0/100"}), ["r1"], 0x180, max_lag)
    assert d.refused is refused
    assert d.chosen == (None if refused else "r1")
    if refused:
        assert d.reason.startswith("refused: r1 received up to byte 256, 128 bytes behind")
        assert d.reason.endswith(f"> max_lag {max_lag} bytes")


def test_without_a_last_position_the_guard_cannot_refuse() -> None:
    d = decide(fake_connect({"r1": "0/1"}), ["r1"], None, 0)
    assert (d.chosen, d.refused) == ("r1", False)


def test_the_event_fields() -> None:
    d = decide(fake_connect({"r1": "0/100"}), ["r1"], 0x180, 10)
    assert d.to_event() == {
        "chosen": None,
        "refused": True,
        "reason": d.reason,
        "received_lsn": {"r1": 256},
        "last_primary_lsn": 384,
    }


class FakeCluster:
    """A fake cluster with the Promoting power: nodes with received LSNs; promote records."""

    def __init__(self, received: dict[str, str | None]) -> None:
        self.nodes = {"primary": None, **{n: None for n in received}}
        self.connect = fake_connect(received)
        self.promoted: list[str] = []

    def promote(self, name: str) -> None:
        self.promoted.append(name)


def _promote_step(**params: Any) -> Step:
    return Step(index=3, at=4.0, action="promote", target="replica1", params=params)


def test_failover_promotes_the_choice_and_records_it() -> None:
    c = FakeCluster({"replica1": "0/100", "replica2": "0/200"})
    step = _promote_step(policy="most_up_to_date")
    event, line = failover(c, c, step, None, lambda: 4.25)
    assert c.promoted == ["replica2"]
    assert list(event) == [
        "type",
        "promoted",
        "t",
        "chosen",
        "refused",
        "reason",
        "received_lsn",
        "last_primary_lsn",
    ]
    assert (event["type"], event["promoted"], event["t"]) == ("failover", "replica2", 4.25)
    assert line == "t=  4.25s  replica2 is the primary (chose replica2 received up to byte 512)"


def test_a_named_failover_asks_only_its_target() -> None:
    c = FakeCluster({"replica1": "0/100", "replica2": "0/200"})
    event, _ = failover(c, c, _promote_step(policy="named"), None, lambda: 1.0)
    assert c.promoted == ["replica1"] and event["received_lsn"] == {"replica1": 256}


def test_a_refused_failover_promotes_nothing() -> None:
    c = FakeCluster({"replica1": "0/100"})
    step = _promote_step(policy="named", max_lag_bytes=10)
    event, line = failover(c, c, step, 0x180, lambda: 2.0)
    assert c.promoted == []
    assert list(event)[:2] == ["type", "t"] and event["type"] == "failover_refused"
    assert line.startswith("t=  2.00s  failover refused: replica1")


class FakeRestored:
    last_segment = "000000010000000000000003"
    segments = 3
    replayed_to = "0/3000148"
    timeline = 2

    def describe(self) -> str:
        return "restored primary"


class FakeRestoring:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def restore(self, name: str) -> FakeRestored:
        self.asked.append(name)
        return FakeRestored()


def test_restore_is_recorded_as_a_failover_from_the_archive() -> None:
    r = FakeRestoring()
    event, line = restore(r, "primary", lambda: 6.5)
    assert r.asked == ["primary"]
    assert event == {
        "type": "failover",
        "promoted": "primary",
        "restored_from_archive": True,
        "t": 6.5,
        "chosen": "primary",
        "refused": False,
        "reason": "restored primary",
        "last_archived_segment": "000000010000000000000003",
        "archived_segments": 3,
        "replayed_to_lsn": "0/3000148",
        "timeline": 2,
    }
    assert line == "t=  6.50s  restored primary"
