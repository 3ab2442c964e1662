"""The leadership watcher: who holds Patroni's leader key, sampled about ten times a second.

``LeaderWatch`` is the observer of a Patroni run (``roles.Observer``). Its thread asks
``GET /cluster`` (through any node that answers) every ``interval_s`` and appends one line to
``<run dir>/leadership.jsonl`` per change of leader, on the harness clock::

    {"type": "leader_change", "t": 23.41, "from": "primary", "to": "replica1", "timeline": 2}

``from``/``to`` are None while nobody leads: the key expired and no one took it, or (with
``leads``) the key's holder answers that it no longer runs a writable primary — a leader cut
off from the DCS demotes itself long before its key expires, and from then on nobody
acknowledges writes until another node takes the key. A holder that does not answer (its
host crashed) still counts as the leader until its key moves. The first line is the leader
seen at the start (``from`` None). When the leader's timeline changes
later in its term (``/cluster`` shows a promoted node's new timeline a loop after its leader
key), a ``leader_timeline`` line (``t``, ``leader``, ``timeline``) follows.

On ``stop`` it reads every node's Patroni log for a refused failover ("exceeds maximum
replication lag", Patroni's words) and appends one ``failover_refused`` line (``t``,
``node``, ``reason``: the log line) per node that refused; then, from the same logs, one
``sync_standbys`` line (``t``, ``node``, ``to``: the list) each time a leader assigned its
synchronous standbys (``to`` [] is Patroni emptying the list: the leader acknowledges alone
from then on) and one ``rewind`` line (``t``, ``node``, ``exit``: pg_rewind's exit code)
each time a node ran pg_rewind (what it alone held is erased). Their ``t`` is the log
line's time stamp on the harness clock (Patroni logs local wall time, to the millisecond).
It never blocks on a node that does not answer: each call has the REST client's 2 s
timeout, and a failed poll is retried.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from rpochaos.clock import Clock
from rpochaos.errors import TopologyError
from rpochaos.jsonl import JsonlAppender, parse_objects
from rpochaos.patroni.rest import ClusterView, PatroniApiError

LEADERSHIP = "leadership.jsonl"
#: Patroni's log line when a replica will not take over because it lags too far
REFUSAL_MARK = "exceeds maximum replication lag"
#: a Patroni log line's time stamp and message
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+: (.*)$")
_ASSIGN = re.compile(r"^Assigning synchronous standby status to (\[.*\])$")
_REWIND_EXIT = re.compile(r"^pg_rewind exit code=(-?\d+)$")


class LeaderWatch:
    def __init__(
        self,
        view: Callable[[], ClusterView],
        logs: Callable[[], Mapping[str, Path]],
        clock: Clock,
        path: Path,
        interval_s: float = 0.1,
        leads: Callable[[str], bool | None] | None = None,
    ) -> None:
        self._view = view
        self._leads = leads
        self._logs = logs
        self.clock = clock
        self.path = path
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out = JsonlAppender(path)
        self.polls = 0
        self.failed_polls = 0
        self.changes = 0

    def _write(self, record: Mapping[str, object]) -> None:
        self._out.append(record)  # nothing once closed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="patroni-leader-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        seen: tuple[str | None, int | None] | None = None
        while not self._stop.is_set():
            t = self.clock.now()
            try:
                v = self._view()
            except (PatroniApiError, TopologyError, OSError):
                self.failed_polls += 1
                self._stop.wait(self.interval_s)
                continue
            self.polls += 1
            lead = v.leader
            now = (lead.name, lead.timeline) if lead is not None else (None, None)
            if lead is not None and self._leads is not None and self._leads(lead.name) is False:
                now = (None, None)  # it holds the key but has demoted itself
            if seen is None or now[0] != seen[0]:
                self._write(
                    {
                        "type": "leader_change",
                        "t": round(t, 6),
                        "from": seen[0] if seen is not None else None,
                        "to": now[0],
                        "timeline": now[1],
                    }
                )
                if seen is not None:
                    self.changes += 1
                seen = now
            elif now[1] != seen[1] and now[1] is not None:
                # the new leader's timeline shows up a loop later than its leader key
                self._write(
                    {"type": "leader_timeline", "t": round(t, 6), "leader": now[0],
                     "timeline": now[1]}
                )  # fmt: skip
                seen = now
            self._stop.wait(self.interval_s)

    def stop(self) -> Mapping[str, object] | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        t = round(self.clock.now(), 6)
        logs = self._logs()
        for node, line in refusals(logs):
            self._write({"type": "failover_refused", "t": t, "node": node, "reason": line})
        for record in log_events(logs, self.clock.wall_t0):
            self._write(record)
        self._out.close()
        return {
            "observer": "patroni",
            "polls": self.polls,
            "failed_polls": self.failed_polls,
            "leader_changes": self.changes,
        }


def _log_lines(logs: Mapping[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """Each node's Patroni log as lines (a log that cannot be read is skipped)."""
    for node, path in logs.items():
        try:
            yield node, path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue


def refusals(logs: Mapping[str, Path]) -> Iterator[tuple[str, str]]:
    """The first refused-failover line of each node's Patroni log, trimmed to its message."""
    for node, lines in _log_lines(logs):
        for line in lines:
            if REFUSAL_MARK in line:
                yield node, line.split(": ", 1)[-1].strip()[:300]
                break


def log_events(logs: Mapping[str, Path], wall_t0: float) -> Iterator[dict[str, object]]:
    """The ``sync_standbys`` and ``rewind`` records of each node's Patroni log, in the log's
    order, timed on the harness clock whose zero is the wall time ``wall_t0``."""
    for node, lines in _log_lines(logs):
        for raw in lines:
            m = _LINE.match(raw)
            if m is None:
                continue
            stamp, message = m.groups()
            t = round(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - wall_t0, 3)
            if a := _ASSIGN.match(message):
                try:
                    names = ast.literal_eval(a.group(1))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(names, list):
                    to = [str(n) for n in names]
                    yield {"type": "sync_standbys", "t": t, "node": node, "to": to}
            elif r := _REWIND_EXIT.match(message):
                yield {"type": "rewind", "t": t, "node": node, "exit": int(r.group(1))}


def read_leadership(path: Path) -> list[dict[str, object]]:
    """The records of a run's leadership.jsonl ([] when it has none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return list(parse_objects(text))
