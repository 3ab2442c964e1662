"""What a run's Patroni logs say beyond leadership (synchronous standbys emptied, pg_rewind),
parsed from log text written here in Patroni's own format, and the count of writes the
leader acknowledged with no synchronous standby. Pure logic: no Patroni runs here (the
shipped scenarios check it against a real one, tests/integration/test_patroni_scenarios)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rpochaos.history import History, Op, Outcome
from rpochaos.patroni.watch import log_events
from rpochaos.result.leadership import Leadership, patroni_log
from rpochaos.result.model import LeaderChange, SyncStandbys

T0 = datetime(2026, 12, 2, 7, 56, 17).timestamp()  # local time, as Patroni logs it

PRIMARY = """\
2026-12-02 07:56:15,432 INFO: Assigning synchronous standby status to ['replica1']
2026-12-02 07:56:16.107 UTC [16277] LOG:  checkpoint complete: wrote 14 buffers
2026-12-02 07:56:20,771 INFO: Updating synchronous privilege temporarily from ['replica1'] to []
2026-12-02 07:56:20,815 INFO: Assigning synchronous standby status to []
2026-12-02 07:56:49,250 INFO: running pg_rewind from replica1
2026-12-02 07:56:50,686 INFO: pg_rewind exit code=0
2026-12-02 07:56:50,686 INFO:  stderr=pg_rewind: servers diverged at WAL location 0/303D1B8
"""


def test_the_log_gives_each_assignment_and_each_rewind_on_the_harness_clock(
    tmp_path: Path,
) -> None:
    log = tmp_path / "patroni-primary.log"
    log.write_text(PRIMARY)
    got = list(log_events({"primary": log, "gone": tmp_path / "missing.log"}, T0))
    assert got == [
        {"type": "sync_standbys", "t": -1.568, "node": "primary", "to": ["replica1"]},
        {"type": "sync_standbys", "t": 3.815, "node": "primary", "to": []},
        {"type": "rewind", "t": 33.686, "node": "primary", "exit": 0},
    ]


def _ops() -> History:
    ops = [
        Op(seq=i, invoke_s=t - 0.002, complete_s=t, outcome=Outcome.OK, node=node)
        for i, (t, node) in enumerate(
            [(3.0, "primary"), (3.9, "primary"), (4.5, "primary"), (4.8, "replica1"),
             (6.2, "primary"), (7.0, "primary")]
        )
    ]  # fmt: skip
    ops.append(Op(seq=99, invoke_s=4.0, complete_s=4.1, outcome=Outcome.FAIL, node="primary"))
    return History.from_ops(ops)


def test_writes_acknowledged_with_no_sync_standby_are_those_of_the_emptied_leader() -> None:
    lead = Leadership(
        changes=[LeaderChange(t_s=20.0, from_node="primary", to_node=None)],
        sync_standbys=[
            SyncStandbys(t_s=3.815, node="primary", to=[]),
            SyncStandbys(t_s=6.5, node="primary", to=["replica1"]),
        ],
    )
    got = patroni_log(lead, _ops(), "on")
    assert got is not None
    # 3.9, 4.5 and 6.2 (primary, ok, after 3.815, before 6.5); not 4.8 (replica1), not the
    # failed one, not 3.0 (before), not 7.0 (a standby again)
    assert got.acked_without_sync_standby == 3
    assert got.acked_without_sync_standby_from_s == 3.9
    # not counted outside synchronous_mode on; nothing at all for a run without Patroni
    off = patroni_log(lead, _ops(), "off")
    assert off is not None and off.acked_without_sync_standby is None
    assert patroni_log(Leadership(), _ops(), "on") is None
