"""What the Kafka cluster itself reports during a run, sampled into a JSON-lines file.

Every ``interval_s`` the observer asks, through the client proxies (so it sees what clients
see, and a broker isolated from clients looks gone to it too):

- metadata: per partition the leader, replicas and ISR (ISR size, under-replicated when
  ``len(isr) < len(replicas)``, offline when there is no leader);
- the high watermark (ListOffsets latest, asked of the leader as a consumer would);
- every replica's log end offset (ListOffsets latest asked as a *debugging consumer*, replica
  id -2, which any replica answers up to its own log end): the leader's LEO minus a follower's
  LEO is how far that follower is behind, in messages.

One line per sample, flushed as written:

    {"t": 3.51, "ok": true, "partitions": [{"partition": 0, "leader": "broker1",
      "replicas": ["broker1", "broker2", "broker3"], "isr": ["broker1"], "isr_size": 1,
      "high_watermark": 325, "log_end_offset": 922,
      "replica_leo": {"broker1": 922, "broker2": 326, "broker3": 329},
      "under_replicated": true}], "under_replicated": 1, "offline": 0}

A sample that fails (no broker answers in time) is ``{"t": ..., "ok": false, "error": "..."}``.
``t`` is harness time (``rpochaos.clock.Clock``). Every request has a timeout below the
interval's order of magnitude, so a partitioned cluster slows sampling down but never hangs
it; ``stop`` returns within a few seconds. The number of samples is bounded by ``max_samples``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.backends.base import Endpoint
from rpochaos.clock import Clock
from rpochaos.errors import RpochaosError, first_line
from rpochaos.kafka.metadata import admin_client, describe_partitions, list_offsets
from rpochaos.kafka.names import node_id_of


class KafkaObserver:
    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        topic: str,
        path: Path,
        clock: Clock,
        *,
        interval_s: float = 0.5,
        request_timeout_s: float = 2.0,
        max_samples: int = 100_000,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self.bootstrap = [e.address for e in endpoints]
        self.topic = topic
        self.path = Path(path)
        self.clock = clock
        self.interval_s = interval_s
        self.request_timeout_s = request_timeout_s
        self.max_samples = max_samples
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kafka-observer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop sampling, waiting at most ``timeout_s`` for the thread (no overhead figures:
        the run record gets no ``observer`` event from this observer)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- sampling ----------------------------------------------------------------------
    def sample(self, admin: Any) -> dict[str, object]:
        """One sample (without ``t``), using ``admin``; raises on a failed metadata request."""
        states = describe_partitions(admin, self.topic)
        parts: list[dict[str, object]] = []
        replicas = sorted({r for s in states for r in s.replicas})
        # the high watermarks first, then the log end offsets: HW(t1) <= LEO(t1) <= LEO(t2),
        # so a sample never shows the leader's log ending below its high watermark
        hw_by_leader: dict[str, dict[int, int]] = {}
        for leader in sorted({s.leader for s in states if s.leader}):
            mine = [s.partition for s in states if s.leader == leader]
            try:
                hw_by_leader[leader] = list_offsets(
                    admin, node_id_of(leader), self.topic, mine, log_end=False
                )
            except (KafkaError, OSError):
                hw_by_leader[leader] = {}
        leo_by_node: dict[str, dict[int, int]] = {}
        for node in replicas:
            try:
                leo_by_node[node] = list_offsets(
                    admin, node_id_of(node), self.topic, [s.partition for s in states], log_end=True
                )
            except (KafkaError, OSError):
                leo_by_node[node] = {}
        under = offline = 0
        for s in states:
            urp = len(s.isr) < len(s.replicas)
            under += urp
            offline += s.leader is None
            replica_leo = {r: leo_by_node.get(r, {}).get(s.partition) for r in s.replicas}
            parts.append(
                {
                    "partition": s.partition,
                    "leader": s.leader,
                    "replicas": list(s.replicas),
                    "isr": list(s.isr),
                    "isr_size": len(s.isr),
                    "high_watermark": (
                        hw_by_leader.get(s.leader, {}).get(s.partition) if s.leader else None
                    ),
                    "log_end_offset": replica_leo.get(s.leader) if s.leader else None,
                    "replica_leo": replica_leo,
                    "under_replicated": urp,
                }
            )
        return {"ok": True, "partitions": parts, "under_replicated": under, "offline": offline}

    def _connect(self) -> contextlib.AbstractContextManager[Any]:
        return admin_client(self.bootstrap, self.request_timeout_s)

    def _run(self) -> None:
        next_t = self.clock.now()
        stack = contextlib.ExitStack()
        admin: Any = None
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                while not self._stop.is_set() and self.samples < self.max_samples:
                    if not self.clock.sleep_until(next_t, self._stop):
                        break
                    next_t = max(next_t + self.interval_s, self.clock.now())
                    t = self.clock.now()
                    record: dict[str, object]
                    try:
                        if admin is None:
                            admin = stack.enter_context(self._connect())
                        record = {"t": round(t, 6), **self.sample(admin)}
                    except (KafkaError, OSError, RpochaosError) as e:
                        record = {"t": round(t, 6), "ok": False, "error": first_line(e)}
                        # a fresh client next time: the old one may hold dead connections
                        stack.close()
                        stack = contextlib.ExitStack()
                        admin = None
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")
                    out.flush()
                    self.samples += 1
        finally:
            stack.close()


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The samples an observer wrote (a truncated last line is skipped)."""
    out: list[dict[str, Any]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        with contextlib.suppress(ValueError):
            obj = json.loads(line)
            if isinstance(obj, dict):
                out.append(obj)
    return out
