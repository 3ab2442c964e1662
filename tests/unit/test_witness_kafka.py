"""The Kafka witness on literal text: leader-epoch-checkpoint files, the fork offset between two
leaders' epochs, and DumpLogSegments --print-data-log output (as Kafka 3.9 prints it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpochaos.witness.kafka import (
    KafkaWitnessError,
    compare,
    fork_offset,
    parse_dump,
    parse_epochs,
)

DUMP = (Path(__file__).parent / "data" / "dumplogsegments-kafka39.txt").read_text()


def test_epochs_and_the_fork_offset() -> None:
    old = parse_epochs("0\n1\n0 0\n")  # the old leader only ever led epoch 0
    new = parse_epochs("0\n2\n0 0\n1 125\n")  # the new leader took over at offset 125
    assert old == [(0, 0)] and new == [(0, 0), (1, 125)]
    assert fork_offset(old, new) == 125
    assert fork_offset([(0, 0), (3, 40)], [(0, 0), (3, 40), (5, 90), (6, 120)]) == 90
    with pytest.raises(KafkaWitnessError, match=r"no epoch after the old leader's last \(1\)"):
        fork_offset(new, old)
    with pytest.raises(KafkaWitnessError, match="expected 'version, count, epoch offset"):
        parse_epochs("0\n")
    with pytest.raises(KafkaWitnessError, match="2 epochs announced, 1"):
        parse_epochs("0\n2\n0 0\n")


def test_dump_records_with_their_epoch_and_payload() -> None:
    records = parse_dump(DUMP.splitlines())
    assert [r.offset for r in records[:3]] == [0, 1, 2]
    assert records[0].payload == '{"seq":2,"by":"rpochaos"}'
    assert records[0].create_time_ms == 1796162904075 and records[0].leader_epoch == 0
    assert records[-1].offset == 514 and records[-1].payload == '{"seq":515,"by":"rpochaos"}'
    assert len(records) == 10


def test_a_resent_record_is_not_a_mismatch_but_a_missing_one_is() -> None:
    after_fork = frozenset(range(126, 516))
    # 200 was written again to the new leader by a producer retry: past the fork, yet present
    assert compare(after_fork - {200}, after_fork, 125) == ("ok", None)
    status, why = compare(frozenset({5, 6, 300}), after_fork, 125)
    assert status == "mismatch" and why is not None
    assert why.startswith("seq 5-6 on the old leader before the fork at offset 125")
