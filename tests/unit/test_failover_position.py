"""Promotion by a system's own position (``PositionPromoting``, MariaDB's GTIDs): the same
policies as PostgreSQL's, the event naming the unit, and the power check accepting it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rpochaos.failover import failover_by_position
from rpochaos.roles import PositionPromoting, Powers, Promoting, check_powers
from rpochaos.scenario import loads

BASE = """\
system: mariadb
topology:
  replicas:
    - {name: replica1, semi_sync: true}
    - {name: replica2, semi_sync: false}
  rpl_semi_sync_master_timeout: 2000
  rpl_semi_sync_master_wait_point: AFTER_SYNC
  rpl_semi_sync_master_wait_no_slave: true
  sync_binlog: 1
  innodb_flush_log_at_trx_commit: 1
workload: {rate: 20/s, duration: 5s}
schedule:
  - {at: 1s, partition: replica1->primary, mode: blackhole}
  - {at: 3s, crash: primary, outage: true}
  - {at: 3500ms, promote: most_up_to_date}
expect: {rpo: 1s, max_lost: 0}
"""


class FakeNode:
    def restart(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def running(self) -> bool:
        return True


class FakeCluster:
    """Answers received positions from a mapping (None: does not answer); records promotes."""

    position_unit = "transaction"

    def __init__(self, received: Mapping[str, int | None]) -> None:
        self.received = dict(received)
        self.promoted: list[str] = []

    @property
    def nodes(self) -> Mapping[str, FakeNode]:
        return {n: FakeNode() for n in ("primary", *self.received)}

    @property
    def link_ports(self) -> Mapping[str, int]:
        return {}

    @property
    def primary_name(self) -> str:
        return self.promoted[-1] if self.promoted else "primary"

    def start(self) -> None: ...
    def close(self) -> None: ...
    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None: ...
    def recover(self, name: str) -> None: ...
    def version(self) -> str:
        return "fake"

    def durability(self) -> dict[str, object]:
        return {}

    def received_position(self, name: str) -> int | None:
        return self.received.get(name)

    def promote(self, name: str) -> None:
        self.promoted.append(name)


def test_most_up_to_date_picks_the_highest_position_and_says_its_unit() -> None:
    sc = loads(BASE, "m.yaml")
    step = sc.schedule[2]
    c = FakeCluster({"replica1": 12, "replica2": 15})
    event, line = failover_by_position(c, c, step, lambda: 4.0)
    assert c.promoted == ["replica2"]
    assert event["received_position"] == {"replica1": 12, "replica2": 15}
    assert event["position_unit"] == "transaction" and "received_lsn" not in event
    assert "replica2 received up to transaction 15" in line


def test_no_candidate_answering_is_a_refusal_not_a_promotion() -> None:
    sc = loads(BASE, "m.yaml")
    c = FakeCluster({"replica1": None, "replica2": None})
    event, _ = failover_by_position(c, c, sc.schedule[2], lambda: 4.0)
    assert event["type"] == "failover_refused" and c.promoted == []


def test_the_promote_power_is_found_on_a_position_promoting_cluster() -> None:
    c = FakeCluster({"replica1": 1, "replica2": 1})
    assert isinstance(c, PositionPromoting) and not isinstance(c, Promoting)
    powers = check_powers(loads(BASE, "m.yaml"), c)
    assert isinstance(powers, Powers)
    assert powers.positions is c and powers.promoting is None
