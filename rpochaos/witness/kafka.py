"""The Kafka witness: read a crashed old leader's log segments after a run.

- The fork: each partition directory holds ``leader-epoch-checkpoint`` (a version line, a
  count line, then ``epoch start-offset`` lines). The old leader's last epoch is E. The start
  offset of the new leader's first epoch after E is where the two logs split: the new leader
  never had the old leader's records at or after that offset.
- The records: Kafka's own segment dump tool (``kafka.tools.DumpLogSegments --print-data-log``,
  from the broker's jars) over a *copy* of the old leader's segment files lists every
  record as ``| offset: N CreateTime: MS ... payload: {"seq": S, ...}``. A batch line carries
  ``partitionLeaderEpoch``. The sequence numbers come from the payloads
  (``rpochaos.kafka.cluster.decode_seq``).

``witness_kafka`` returns the same ``WitnessReport`` as the PostgreSQL witness: old seqs =
every seq in the old leader's log, past fork = old seqs - the final read, status ``ok`` when
every past-fork seq is in a record at or after the fork offset (``mismatch``: the new leader
lacks a record from before the fork). Records past the fork whose seq the final read *has*
were written again to the new leader by a producer retry (the first attempt's response was
lost with the old leader): ``resent_ranges``, so ``records_past_fork`` = past fork + resent.
Call it before the old leader restarts: a restarted follower truncates its log to the fork.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rpochaos.errors import MissingDependency
from rpochaos.witness.classify import format_ranges, ranges
from rpochaos.witness.model import OldRow, Status, Timings, WitnessReport

_RECORD_RE = re.compile(r"^\| offset: (\d+) CreateTime: (-?\d+) .*? payload: (.*)$")
_BATCH_RE = re.compile(r"^baseOffset: \d+ .*?partitionLeaderEpoch: (-?\d+)")
DUMP_TOOL = "kafka.tools.DumpLogSegments"
#: a short-lived JVM: no optimising compiler, the serial collector (starts ~30-50 % faster)
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class KafkaWitnessError(Exception):
    """The old leader's log cannot be read; the message says why."""


@dataclass(frozen=True)
class Record:
    offset: int
    create_time_ms: int
    payload: str
    leader_epoch: int | None


def parse_epochs(text: str) -> list[tuple[int, int]]:
    """(epoch, start offset) pairs of a leader-epoch-checkpoint file. KafkaWitnessError when
    it is not one."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        count = int(lines[1])
        pairs = [(int(a), int(b)) for a, b in (ln.split() for ln in lines[2 : 2 + count])]
    except (IndexError, ValueError):
        raise KafkaWitnessError(
            f"leader-epoch-checkpoint: expected 'version, count, epoch offset...', got {text!r}"
        ) from None
    if len(pairs) != count:
        raise KafkaWitnessError(f"leader-epoch-checkpoint: {count} epochs announced, {len(pairs)}")
    return pairs


def fork_offset(old_epochs: list[tuple[int, int]], new_epochs: list[tuple[int, int]]) -> int:
    """Where the new leader's log left the old leader's (module doc)."""
    if not old_epochs:
        raise KafkaWitnessError("the old leader's log has no leader epoch")
    last = old_epochs[-1][0]
    for epoch, start in new_epochs:
        if epoch > last:
            return start
    raise KafkaWitnessError(
        f"the new leader has no epoch after the old leader's last ({last}): no new leader yet"
    )


def parse_dump(lines: list[str]) -> list[Record]:
    """The records of DumpLogSegments --print-data-log output, in order."""
    out: list[Record] = []
    epoch: int | None = None
    for line in lines:
        if b := _BATCH_RE.match(line):
            epoch = int(b.group(1))
        elif m := _RECORD_RE.match(line):
            out.append(Record(int(m.group(1)), int(m.group(2)), m.group(3), epoch))
    return out


def dump_segments(
    java: Path, classpath: str, segments: list[Path], timeout_s: float = 60.0
) -> list[Record]:
    """DumpLogSegments over ``segments`` (``*.log`` files). KafkaWitnessError when it fails."""
    if not segments:
        return []
    argv = [str(java), *JVM_FLAGS, "-cp", classpath, DUMP_TOOL, "--print-data-log", "--files"]
    argv.append(",".join(str(s) for s in segments))
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, cwd="/"
        )
    except subprocess.TimeoutExpired:
        raise KafkaWitnessError(f"{DUMP_TOOL} did not finish within {timeout_s:g} s") from None
    except OSError as e:
        raise KafkaWitnessError(f"cannot run {java}: {e.strerror}") from None
    if out.returncode != 0:
        tail = [ln for ln in out.stderr.splitlines() if not ln.startswith("log4j:")][-5:]
        raise KafkaWitnessError(f"{DUMP_TOOL} failed (exit {out.returncode}): {' '.join(tail)}")
    return parse_dump(out.stdout.splitlines())


def compare(
    past: frozenset[int], after_fork: frozenset[int], fork: int
) -> tuple[Status, str | None]:
    """``ok`` when every seq the final read lacks (``past``) is in a record at or after the
    fork offset (``after_fork``: the seqs of those records); else ``mismatch`` and why."""
    if past <= after_fork:
        return "ok", None
    return "mismatch", (
        f"seq {format_ranges(past - after_fork)} on the old leader before the fork at "
        f"offset {fork} are missing from the final read (the new leader should have them)"
    )


def _seq(payload: str) -> int | None:
    from rpochaos.kafka.cluster import decode_seq

    return decode_seq(payload.encode())


def _iso(ms: int) -> str | None:
    return None if ms < 0 else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def witness_kafka(
    old_partition_dir: Path,
    new_partition_dir: Path,
    present: frozenset[int],
    *,
    node: str,
    partition: int = 0,
    java: Path | None = None,
    classpath: str | None = None,
    timeout_s: float = 60.0,
) -> WitnessReport:
    """Read the crashed old leader ``node``'s partition directory (``<log.dirs>/<topic>-<p>``)
    against the new leader's (module doc). ``present``: the final read's seqs of this
    partition. Never raises for a problem with the old leader's log: ``unavailable``."""
    t0 = time.monotonic()
    times: dict[str, float | int | None] = {}
    try:
        if java is None or classpath is None:
            from rpochaos.kafka import jars

            java, classpath = java or jars.java_bin(), classpath or jars.kafka_classpath()
        old_dir, new_dir = Path(old_partition_dir), Path(new_partition_dir)
        old_epochs = parse_epochs((old_dir / "leader-epoch-checkpoint").read_text())
        new_epochs = parse_epochs((new_dir / "leader-epoch-checkpoint").read_text())
        fork = fork_offset(old_epochs, new_epochs)
        times["fork_s"] = time.monotonic() - t0
        with tempfile.TemporaryDirectory(prefix="rpochaos-witness-") as tmp:
            t = time.monotonic()
            if not any(old_dir.glob("*.log")):
                raise KafkaWitnessError(f"{old_dir} holds no log segment")
            copies = []  # the segments only: their indexes are preallocated and not needed
            for seg in sorted(old_dir.glob("*.log")):
                copies.append(Path(shutil.copyfile(seg, Path(tmp) / seg.name)))
            times["copy_s"] = time.monotonic() - t
            times["copy_bytes"] = sum(p.stat().st_size for p in copies)
            t = time.monotonic()
            records = dump_segments(java, classpath, copies, timeout_s)
            times["dump_s"] = time.monotonic() - t
    except (KafkaWitnessError, MissingDependency, OSError) as e:
        return WitnessReport.gave_up(node, e, old_partition_dir, times, t0)
    by_seq: dict[int, Record] = {}
    for r in records:
        s = _seq(r.payload)
        if s is not None:
            by_seq.setdefault(s, r)
    old = frozenset(by_seq)
    past = old - present
    after_fork = frozenset(s for s, r in by_seq.items() if r.offset >= fork)
    resent = after_fork & present
    status, why = compare(past, after_fork, fork)
    rows = [
        OldRow(
            seq=s,
            values={"offset": str(by_seq[s].offset), "payload": by_seq[s].payload},
            commit_time=_iso(by_seq[s].create_time_ms),
            commit_time_source="create_time" if by_seq[s].create_time_ms >= 0 else None,
        )
        for s in sorted(past)
    ]
    times["total_s"] = time.monotonic() - t0
    return WitnessReport(
        system="kafka",
        node=node,
        status=status,
        why=why,
        table=old_dir.name,
        partition=partition,
        fork_offset=fork,
        records_past_fork=len(after_fork),
        resent_ranges=ranges(resent),
        old_seq_ranges=ranges(old),
        past_fork_ranges=ranges(past),
        columns=["offset", "payload"],
        rows=rows,
        timings=Timings.model_validate(times),
    )
