"""The watchdog: noticing, within a fraction of a second, that something the run depends on
died when the schedule did not kill it.

What it watches is a list of named liveness checks (``Check``): the run's Toxiproxy server,
each node's process or container, the docker engine. ``checks_for(backend, cluster)`` makes
that list for a run; any callable returning checks will do (it is called on every pass, so
a node replaced by the topology, e.g. a restored primary, is watched as it is now).

Contract, for the runner::

    with Watchdog(lambda: checks_for(backend, cluster), now=clock.now, record=events.write)
            as dog:
        ... the schedule, waiting with clock.sleep_until(t, dog.stop) ...
        dog.expect_down("node primary")   # before the schedule's own crash / restart
        dog.expect_up("node primary")     # once it is back (restart, recovery, restore)
    if dog.lost is None:
        ... the final read ...

- A pass starts every ``interval_s`` (default 0.2 s; at once when the previous pass took
  longer, as docker API calls may on a loaded engine): a thread runs each check whose
  ``what`` is not expected down; a check that returns False or raises means *lost*. The
  first loss is the only one: the watchdog then records it, sets ``stop`` (an Event the
  schedule waits on), calls ``on_lost`` (if given) and ends its thread.
- It records two events through ``record`` (``EventLog.write``), with ``t`` on the harness
  clock (``now``) when the loss was noticed::

      {"type": "dependency_lost", "t": T, "what": "toxiproxy" | "node <name>" | "engine",
       "detail": "..."}
      {"type": "error", "t": T, "message": "<what> died unexpectedly at t=T s (<detail>); ..."}

  (``error`` events are what result.json turns into UNKNOWN reasons.)
- Leaving the block stops the thread. If the block raised an ``Exception`` and nothing was
  lost yet, the checks run again for up to ``grace_s`` (default 1 s): a dependency that is
  gone by then explains the exception (e.g. a Toxiproxy API call that failed because its
  server died before the next pass, or before the engine reported its container exited),
  and is recorded as lost. Whenever something was lost, an ``Exception`` from
  the block is recorded as an ``error`` event and suppressed: the run goes on to heal, tear
  down and write its UNKNOWN result. KeyboardInterrupt and other BaseExceptions always
  propagate.

The runner must not read the result of a run that lost a dependency as trustworthy: it
skips the final read (so the verdict is UNKNOWN, never PASS).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Check:
    """One thing the run depends on. ``alive`` returns False, or raises, once it is gone;
    ``detail`` says what is known about it then (an exit code, a container status)."""

    what: str
    alive: Callable[[], bool]
    detail: Callable[[], str] = lambda: ""


@dataclass(frozen=True)
class Lost:
    """What died (a ``Check.what``), when it was noticed (harness time) and what is known."""

    what: str
    t: float
    detail: str

    def message(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.what} died unexpectedly at t={self.t:.2f}s{detail}, not by the schedule: "
            "the run was stopped there and its result cannot be trusted"
        )


class Recorder(Protocol):
    def __call__(self, **event: object) -> None: ...


@runtime_checkable
class Watched(Protocol):
    """A backend that can say what of its own a run depends on (its Toxiproxy server, its
    engine)."""

    def liveness(self) -> list[Check]: ...


class _Running(Protocol):
    def running(self) -> bool: ...


class _Cluster(Protocol):
    @property
    def nodes(self) -> Mapping[str, _Running]: ...


def node_checks(cluster: _Cluster) -> list[Check]:
    """One check per node of the cluster: ``node <name>``, alive while its server runs (also
    while it is paused)."""
    nodes = cluster.nodes

    def check(name: str) -> Check:
        return Check(
            f"node {name}",
            lambda: nodes[name].running(),
            lambda: f"its server ({name}) is no longer running",
        )

    return [check(name) for name in list(nodes)]


def checks_for(backend: object, cluster: _Cluster | None) -> list[Check]:
    """What a run depends on: the backend's own (engine first, then Toxiproxy), then every
    node of the cluster."""
    out = backend.liveness() if isinstance(backend, Watched) else []
    return [*out, *(node_checks(cluster) if cluster is not None else [])]


class Watchdog:
    """See the module docstring. ``checks``: the checks, or a callable returning them (asked
    on every pass). ``now``: the harness clock. ``record``: where events go."""

    def __init__(
        self,
        checks: Iterable[Check] | Callable[[], Iterable[Check]],
        *,
        now: Callable[[], float],
        record: Recorder,
        interval_s: float = 0.2,
        grace_s: float = 1.0,
        on_lost: Callable[[Lost], None] | None = None,
    ) -> None:
        if callable(checks):
            self._checks: Callable[[], Iterable[Check]] = checks
        else:
            fixed = list(checks)
            self._checks = lambda: fixed
        self._now = now
        self._record = record
        self._interval = interval_s
        self._grace = grace_s
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._down: set[str] = set()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        #: set once something is lost: the schedule waits on it and stops
        self.stop = threading.Event()
        #: the first loss, or None
        self.lost: Lost | None = None

    # -- what the runner says ----------------------------------------------------------------
    def expect_down(self, what: str) -> None:
        """From now on ``what`` may be down (the schedule is about to crash or restart it)."""
        with self._lock:
            self._down.add(what)

    def expect_up(self, what: str) -> None:
        """``what`` is back: watch it again."""
        with self._lock:
            self._down.discard(what)

    @contextlib.contextmanager
    def expecting_down(self, what: str) -> Iterator[None]:
        """``what`` may be down inside the block (a restart)."""
        self.expect_down(what)
        try:
            yield
        finally:
            self.expect_up(what)

    # -- watching ----------------------------------------------------------------------------
    def check_now(self) -> Lost | None:
        """Run every check once (unless something is lost already); record and return the
        first loss."""
        if self.lost is not None:
            return self.lost
        try:
            checks = list(self._checks())
        except Exception as e:  # the list itself could not be made: say so, do not guess
            return self._trip("watchdog", f"could not list what to watch: {e}")
        for c in checks:
            with self._lock:
                if c.what in self._down:
                    continue
            try:
                ok = bool(c.alive())
                why = "" if ok else _detail(c)
            except Exception as e:
                ok, why = False, f"{type(e).__name__}: {e}"
            if not ok:
                with self._lock:
                    if c.what in self._down:  # the schedule crashed it meanwhile
                        continue
                return self._trip(c.what, why)
        return None

    def _trip(self, what: str, detail: str) -> Lost:
        with self._lock:
            if self.lost is not None:
                return self.lost
            lost = Lost(what, round(self._now(), 6), detail)
            self.lost = lost
        self._record(type="dependency_lost", t=lost.t, what=lost.what, detail=lost.detail)
        self._record(type="error", t=lost.t, message=lost.message())
        self.stop.set()
        if self._on_lost is not None:
            with contextlib.suppress(Exception):
                self._on_lost(lost)
        return lost

    def _loop(self) -> None:
        # a pass starts every interval_s (at once when the last one took longer)
        started = time.monotonic()
        while not self._halt.wait(max(0.0, started + self._interval - time.monotonic())):
            started = time.monotonic()
            if self.check_now() is not None:
                return

    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(target=self._loop, name="rpochaos-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if not isinstance(exc, Exception):
            return False
        deadline = time.monotonic() + self._grace
        while self.check_now() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.lost is None:
            return False
        self._record(
            type="error",
            t=round(self._now(), 6),
            message=f"after {self.lost.what} died: {type(exc).__name__}: {exc}",
        )
        return True


def _detail(c: Check) -> str:
    try:
        return c.detail()
    except Exception as e:
        return f"({type(e).__name__}: {e})"
