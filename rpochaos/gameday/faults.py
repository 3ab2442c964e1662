"""The faults in force during a game day, each with a hard deadline of its own.

``ActiveFaults.apply(step)`` writes the undo to the audit journal first (write-ahead), then
acts, then arms a ``threading.Timer`` at the step's enforced maximum (its ``for``, never past
``limits.max_fault``): the deadline holds whatever the schedule, the stop conditions or the
main thread are doing. ``heal(index, by)`` and ``heal_all(by)`` are idempotent and
thread-safe; every heal is an ``undone`` audit record and a ``step_end`` event.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rpochaos.clock import Clock
from rpochaos.gameday import actions
from rpochaos.gameday.actions import ActionError, DockerCli
from rpochaos.gameday.audit import Audit, Undo
from rpochaos.gameday.inventory import Inventory, InventoryBase
from rpochaos.gameday.plan import PlannedStep
from rpochaos.proxy import Toxiproxy
from rpochaos.scenario import LINK_ACTIONS
from rpochaos.store import EventLog


@dataclass
class _Active:
    audit_id: int
    undos: list[Undo]
    requested_t: float | None = None
    timer: threading.Timer | None = None
    healed: bool = False
    log: list[str] = field(default_factory=list)


class ActiveFaults:
    def __init__(
        self,
        inv: InventoryBase,
        run_id: str,
        tp: Toxiproxy | None,
        docker: DockerCli | None,
        audit: Audit,
        events: EventLog,
        clock: Clock,
        log: Callable[[str], None],
    ) -> None:
        self.inv = inv
        self.run_id = run_id
        self.tp = tp
        self.docker = docker
        self.audit = audit
        self.events = events
        self.clock = clock
        self.log = log
        self._lock = threading.RLock()
        self._active: dict[int, _Active] = {}
        self.closed = False
        self.promoted: str | None = None

    def apply(self, ps: PlannedStep) -> None:
        """Apply one step now. Raises ActionError (or ProxyError) when it could not act; the
        undo is in the journal either way."""
        step = ps.step
        t = self.clock.now()
        instant = ps.max_s is None
        self.events.step_start(step, step.target, t, instant)
        self.log(
            f"t={t:6.2f}s  {step.action} {step.target}"
            + (f" (healed by t={t + ps.max_s:.2f}s at the latest)" if ps.max_s else "")
            + ("  [outage]" if step.outage else "")
        )
        a = step.action
        undos: list[Undo] = []
        container = self.inv.container_of(step.target)
        if a in LINK_ACTIONS:
            undos = actions.link_undos(self.inv, self.run_id, step)
        elif a == "pause":
            assert container is not None
            undos = [{"unpause": container}]
        with self._lock:
            if self.closed:
                raise ActionError("the run is healing: no new fault")
            aid = self.audit.intent(a, step.target, undos)
            entry = _Active(aid, undos, t)
            if undos:
                self._active[step.index] = entry
        try:
            self._act(ps, container)
        except Exception as e:
            self.audit.write("outcome", id=aid, ok=False, error=str(e)[:300])
            if undos:
                self.heal(step.index, "failed apply")
            raise
        effective = self.clock.now()
        self.audit.write("outcome", id=aid, ok=True, t=round(effective, 6))
        self.events.write(type="step_effective", index=step.index, t=effective)
        if step.outage:
            self.events.write(type="outage", index=step.index, t=effective, requested_t=t)
        if a == "promote":
            self.promoted = step.target
            self.events.write(type="failover", t=effective, promoted=step.target, reason="command")
        if undos and ps.max_s is not None:
            # the deadline counts from the request, not from when the action returned
            left = max(0.0, t + ps.max_s - self.clock.now())
            timer = threading.Timer(left, self.heal, args=(step.index, "deadline"))
            timer.daemon = True
            timer.name = f"deadline-{step.index}"
            with self._lock:
                entry.timer = timer
                if not entry.healed:
                    timer.start()

    def _act(self, ps: PlannedStep, container: str | None) -> None:
        step, a = ps.step, ps.step.action
        if a in LINK_ACTIONS:
            assert self.tp is not None
            actions.add_toxics(self.tp, self.inv, self.run_id, step)
        elif a in ("crash", "pause", "restart"):
            assert self.docker is not None and container is not None
            verb = {"crash": "kill", "pause": "pause", "restart": "restart"}[a]
            self.docker.run(verb, container)
        elif a == "promote":
            fo = self.inv.failover if isinstance(self.inv, Inventory) else None
            assert fo is not None, "a promote is planned only with a failover command"
            argv = actions.fill(fo.command, step.target)
            try:
                out = subprocess.run(
                    argv, capture_output=True, text=True, timeout=fo.timeout, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                raise ActionError(f"failover command: {e}") from None
            if out.returncode != 0:
                raise ActionError(
                    f"failover command exited {out.returncode}: {out.stderr.strip()[:300]}"
                )

    def heal(self, index: int, by: str) -> None:
        """Undo one fault (once; later calls do nothing)."""
        with self._lock:
            entry = self._active.get(index)
            if entry is None or entry.healed:
                return
            entry.healed = True
            if entry.timer is not None:
                entry.timer.cancel()
            errors: list[str] = []
            requested = self.clock.now()
            for u in entry.undos:
                try:
                    actions.undo(u, self.tp, self.docker)
                except Exception as e:
                    errors.append(str(e)[:300])
            t = self.clock.now()
            if errors:
                entry.healed = False  # heal_all at the end tries again; `heal` can too
                self.audit.write("heal_failed", id=entry.audit_id, by=by, errors=errors)
                self.events.write(type="error", t=t, message=f"healing step {index}: {errors}")
                return
            self.audit.write("undone", id=entry.audit_id, by=by, t=round(t, 6))
            self.events.write(type="step_end", index=index, t=t, requested_t=requested)
            self.log(f"t={t:6.2f}s  healed step {index} ({by})")

    def heal_all(self, by: str, *, final: bool = False) -> None:
        with self._lock:
            if final:
                self.closed = True
            pending = [i for i, e in self._active.items() if not e.healed]
        for i in pending:
            self.heal(i, by)

    def left(self) -> list[int]:
        with self._lock:
            return [i for i, e in self._active.items() if not e.healed]
