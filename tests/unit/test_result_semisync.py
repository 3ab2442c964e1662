"""Semi-sync in result.json and the reports (``rpochaos.result.semisync``), from hand-written
observer records, history and final read."""

from __future__ import annotations

import json
from pathlib import Path

from rpochaos.history import Op
from rpochaos.report.semisync import semi_sync_lines
from rpochaos.report.summary import lines
from rpochaos.result import Result, SemiSync
from rpochaos.result.semisync import semi_sync


def ack(seq: int, done: float, node: str = "primary") -> Op:
    return Op(seq=seq, invoke_s=done - 0.01, complete_s=done, outcome="ok", node=node)


def write_run(tmp: Path) -> None:
    records = [
        {"type": "primary", "t": 1.0, "node": "primary", "status": "ON"},
        {"type": "semi_sync_off", "t": 3.05, "last_on_t": 3.0, "node": "primary", "no_tx": 1},
        {"type": "semi_sync_on", "t": 4.05, "last_off_t": 4.0, "node": "primary", "yes_tx": 9},
        {"type": "semi_sync_off", "t": 6.0, "last_on_t": 5.95, "node": "primary", "no_tx": 2},
    ]
    (tmp / "mariadb_observations.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records) + '{"type": "semi'  # a cut last line
    )
    rejoin = {"node": "primary", "source": "replica1", "errno": 1236, "following": False,
              "error": "Got fatal error 1236 from master"}  # fmt: skip
    (tmp / "final_read.json").write_text(json.dumps({"node": "replica1", "rejoins": [rejoin]}))


def test_periods_count_the_acks_of_the_primary_that_switched_off(tmp_path: Path) -> None:
    write_run(tmp_path)
    ops = [
        ack(1, 2.9),  # before: semi-sync ON
        ack(2, 3.02),  # the commit that waited out the timeout returns at the switch
        ack(3, 3.5),
        ack(4, 4.1),  # ON again
        ack(5, 6.5),  # the second period, never back ON
        ack(6, 6.6, node="replica1"),  # the new primary's: not the one that switched off
        Op(seq=7, invoke_s=6.6, complete_s=6.7, outcome="info", node="primary"),
    ]
    ss = semi_sync(tmp_path, ops, lost=[3, 5], events=[{"type": "observer", "interval_s": 0.05}])
    assert ss is not None
    assert [(p.off_s, p.last_on_s, p.on_s, p.acked, p.acked_lost) for p in ss.off] == [
        (3.05, 3.0, 4.05, 2, 1),
        (6.0, 5.95, None, 1, 1),
    ]
    assert (ss.acked_while_off, ss.acked_while_off_lost, ss.interval_s) == (3, 2, 0.05)
    assert ss.rejoins[0].errno == 1236 and not ss.rejoins[0].following


def test_no_observations_no_semi_sync_key(tmp_path: Path) -> None:
    assert semi_sync(tmp_path, [], []) is None
    assert "semi_sync" not in Result().to_dict()


def test_the_summary_marks_the_switches_and_the_rejoin(tmp_path: Path) -> None:
    write_run(tmp_path)
    ss = semi_sync(tmp_path, [ack(2, 3.02)], lost=[2])
    assert ss is not None
    r = Result(semi_sync=ss)
    text = "\n".join(lines(r))
    assert (
        "semi-sync switched OFF at 3.050 s on primary (last seen ON 3.000 s), back ON at "
        "4.050 s: 1 commits acknowledged by the primary alone meanwhile, 1 of them lost" in text
    )
    assert "never back ON" in text
    assert "old primary: primary could not follow replica1 after the failover (error 1236" in text
    back = Result.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.semi_sync == ss
    assert semi_sync_lines(Result(semi_sync=SemiSync())) == [
        "semi-sync: never switched off during the run"
    ]


def test_rows_a_reader_saw_and_recovery_lacks_are_read_but_lost(tmp_path: Path) -> None:
    reads = [
        {"type": "read", "t": 1.0, "node": "primary", "seqs": [1, 2, 3]},
        {"type": "read", "t": 2.0, "node": "primary", "seqs": [4, 5]},
    ]
    (tmp_path / "mariadb_observations.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in reads)
    )
    ss = semi_sync(tmp_path, [], [], present=frozenset({1, 2, 3}))
    assert ss is not None
    assert (ss.read, ss.read_but_lost, ss.read_but_lost_seqs) == (5, 2, [4, 5])
    assert "read but lost: 2 rows" in "\n".join(semi_sync_lines(Result(semi_sync=ss)))
    unknown = semi_sync(tmp_path, [], [])
    assert unknown is not None and unknown.read_but_lost is None
