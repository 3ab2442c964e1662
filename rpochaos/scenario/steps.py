"""One schedule step: its action, its timing keys (name, at, after, for, every, repeat,
outage) and the action's own parameters; its target is checked in ``targets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from rpochaos.scenario.keys import (
    _ACTION_PARAMS,
    _ACTIONS,
    _AFTER_RE,
    _STEP_KEYS,
    _STEP_NAME_RE,
    _TIMING_KEYS,
    LASTING_ACTIONS,
)
from rpochaos.scenario.limits import MAX_STEP_NAME
from rpochaos.scenario.mariadb_model import MARIADB_REFUSED_ACTIONS
from rpochaos.scenario.messages import (
    _BETWEEN,
    _DURATION,
    _MISSING,
    _suggest,
)
from rpochaos.scenario.model import (
    ARCHIVE_ACTIONS,
    MAX_REPEAT,
    MOST_UP_TO_DATE,
    PATRONI_PROCESSES,
    Action,
    Between,
    ParamValue,
    StepSpec,
)
from rpochaos.scenario.shapes import ACTION_PARAMS
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.targets import _TargetChecks


@dataclass
class _Parsed:
    """One step as the checker saw it: what is known even when the step has problems."""

    index: int
    path: str
    y: _Y
    spec: StepSpec | None = None
    name: str | None = None  # when valid
    after: tuple[str, bool] | None = None  # (step name, .end) when well-formed
    outage: bool = False


class _StepChecks(_TargetChecks):
    def step(self, y: _Y, path: str, index: int, replicas: list[str] | None) -> _Parsed:
        """One step: its spec (None if it has problems), its name and 'after' if valid."""
        result = _Parsed(index, path, y)
        entries = y.entries
        ok = True
        actions = [k for k in entries if k in _ACTIONS]
        action = actions[0] if actions else None
        for extra in actions[1:]:
            self.add(
                entries[extra][0],
                f"{path}.{extra}",
                f"a second action ({extra!r} after {action!r})",
                "exactly one action per step (put each action in its own step)",
            )
            ok = False
        if action is None:
            self.add(y.line, path, "no action", "exactly one action key: " + ", ".join(_ACTIONS))
            ok = False
        # a crash of the postmaster alone is instantaneous: Patroni restarts it in place
        process_y = entries["process"][1] if "process" in entries else None
        postmaster = (
            action == "crash"
            and process_y is not None
            and process_y.kind == "scalar"
            and process_y.value in PATRONI_PROCESSES["crash"]
        )
        lasting = action in LASTING_ACTIONS and not postmaster
        # unknown keys, and keys that belong to another action
        allowed: tuple[str, ...] = _STEP_KEYS
        if action is not None:
            allowed = (
                *_TIMING_KEYS,
                action,
                *(k for k in _ACTION_PARAMS[action] if not (postmaster and k == "links")),
                *(("for",) if lasting else ()),
                "outage",
            )
        for key, (kline, _) in entries.items():
            if key in _ACTIONS or key in allowed:
                continue
            ok = False
            if key not in _STEP_KEYS:
                self.add(
                    kline,
                    f"{path}.{key}",
                    repr(key),
                    "a known key: " + ", ".join(allowed) + _suggest(key, _STEP_KEYS),
                )
            elif key == "for" and postmaster:
                self.add(
                    kline,
                    f"{path}.for",
                    _given(entries[key][1]),
                    "no 'for' on a crash with process: postmaster (only the postmaster tree "
                    "is killed and Patroni restarts it in place: there is nothing to heal; "
                    "for a host crash that lasts, drop process)",
                )
            elif key == "links" and postmaster:
                self.add(
                    kline,
                    f"{path}.links",
                    _given(entries[key][1]),
                    "no links on a crash with process: postmaster (links: cut | keep is for a "
                    "host crash; the node's links stay up while Patroni restarts the "
                    "postmaster)",
                )
            elif key == "for":
                self.add(
                    kline,
                    f"{path}.for",
                    _given(entries[key][1]),
                    f"no 'for' on a {action} step ({action} is instantaneous); allowed keys: "
                    + ", ".join(allowed),
                )
            else:
                self.add(
                    kline,
                    f"{path}.{key}",
                    repr(key),
                    f"a key a {action} step takes: " + ", ".join(allowed),
                )

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries and key in allowed else None

        # name
        name_y = get("name")
        if name_y is not None:
            expected = "a step name like 'cut-link' ([a-z][a-z0-9_-]*)"
            n = self.string(name_y, f"{path}.name", expected)
            if n is not None and not _STEP_NAME_RE.fullmatch(n):
                self.add(name_y.line, f"{path}.name", repr(n), expected)
                n = None
            elif n is not None and len(n) > MAX_STEP_NAME:
                self.add(
                    name_y.line,
                    f"{path}.name",
                    f"a name of {len(n)} characters",
                    f"{expected} of at most {MAX_STEP_NAME} characters",
                )
                n = None
            ok = ok and n is not None
            result.name = n

        # after
        after_y = get("after")
        if after_y is not None:
            expected = "a step's name, or NAME.end (that step's start + its 'for')"
            a = self.string(after_y, f"{path}.after", expected)
            m = _AFTER_RE.fullmatch(a) if a is not None else None
            if a is not None and m is None:
                self.add(after_y.line, f"{path}.after", repr(a), expected)
            if m is None:
                ok = False
            else:
                result.after = (m.group(1), m.group(2) is not None)

        # at (defaults to 0s after the step named by 'after')
        at: float | Between | None = 0.0
        at_y = get("at")
        if at_y is None:
            if after_y is None:
                self.add(y.line, f"{path}.at", _MISSING, f"{_DURATION}, or {_BETWEEN}")
                ok = False
        else:
            at = self.time_value(at_y, f"{path}.at", positive=False)
            ok = ok and at is not None

        # for
        duration: float | Between | None = None
        for_y = get("for")
        if for_y is not None:
            duration = self.time_value(for_y, f"{path}.for", positive=True)
            ok = ok and duration is not None

        # every / repeat
        every_y, repeat_y = get("every"), get("repeat")
        every = self.duration(every_y, f"{path}.every", positive=True)
        repeat = self.integer(repeat_y, f"{path}.repeat", 1)
        if repeat is not None and repeat_y is not None and repeat > MAX_REPEAT:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                f"an integer from 1 to {MAX_REPEAT} (each repetition is a step of its own)",
            )
            repeat = None
        ok = ok and (every_y is None or every is not None)
        ok = ok and (repeat_y is None or repeat is not None)
        if every_y is not None and repeat_y is None:
            self.add(
                every_y.line,
                f"{path}.every",
                _given(every_y),
                "every together with repeat: N (N >= 2, how many times the step happens)",
            )
            ok = False
        if repeat_y is not None and repeat is not None:
            if repeat >= 2 and every_y is None:
                self.add(
                    repeat_y.line,
                    f"{path}.repeat",
                    _given(repeat_y),
                    "repeat: N >= 2 together with every: DURATION (the time between the "
                    "starts of repetitions), or repeat: 1",
                )
                ok = False
            elif repeat == 1 and every_y is not None:
                self.add(
                    repeat_y.line,
                    f"{path}.repeat",
                    _given(repeat_y),
                    "repeat >= 2 with every (repeat: 1 happens once: drop every)",
                )
                ok = False
        times = repeat if repeat is not None else 1

        # outage
        outage = False
        outage_y = get("outage")
        if outage_y is not None:
            b = self.boolean(outage_y, f"{path}.outage")
            ok = ok and b is not None
            outage = bool(b)
        result.outage = outage
        if outage and times > 1 and repeat_y is not None:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                "no repeat on the outage step (the outage begins once)",
            )
            ok = False

        # a repeated fault must heal before it recurs
        if times > 1 and every is not None and every_y is not None and lasting:
            heal = f"a repeated {action} must heal before it recurs"
            if for_y is None:
                self.add(
                    y.line, f"{path}.for", _MISSING, f"a 'for' <= every ({every_y.raw}): {heal}"
                )
                ok = False
            elif duration is not None:
                longest = duration.high if isinstance(duration, Between) else duration
                if longest > every:
                    given = (
                        f"between {duration.low:g}s and {duration.high:g}s"
                        if isinstance(duration, Between)
                        else _given(for_y)
                    )
                    self.add(
                        for_y.line,
                        f"{path}.for",
                        given,
                        f"a duration <= every ({every_y.raw}): {heal}",
                    )
                    ok = False

        if action is None:
            return result

        if self.system == "mariadb" and action in MARIADB_REFUSED_ACTIONS:
            self.add(
                entries[action][0],
                f"{path}.{action}",
                _given(entries[action][1]),
                "an action a MariaDB scenario takes: "
                + ", ".join(a for a in _ACTIONS if a not in MARIADB_REFUSED_ACTIONS)
                + f" (no {action}: {MARIADB_REFUSED_ACTIONS[action]})",
            )
            return result

        if action == "promote" and self.system == "kafka":
            self.add(
                entries[action][0],
                f"{path}.promote",
                _given(entries[action][1]),
                "an action a Kafka scenario takes: "
                + ", ".join(a for a in _ACTIONS if a != "promote")
                + " (no promote: Kafka elects leaders itself)",
            )
            return result

        if action in ARCHIVE_ACTIONS and self.system == "kafka":
            self.add(
                entries[action][0],
                f"{path}.{action}",
                _given(entries[action][1]),
                "an action a Kafka scenario takes: "
                + ", ".join(a for a in _ACTIONS if a not in ("promote", *ARCHIVE_ACTIONS))
                + f" ({action} works on a PostgreSQL WAL archive)",
            )
            return result
        if action in ARCHIVE_ACTIONS and self.archive is False:
            self.add(
                entries[action][0],
                f"{path}.{action}",
                _given(entries[action][1]),
                f"a topology with a WAL archive for {action} (add topology.archive: "
                "{timeout: DURATION}: archive_mode=on, an archive_command and a base backup)",
            )
            ok = False
        if action == "restore" and times > 1 and repeat_y is not None:
            self.add(
                repeat_y.line,
                f"{path}.repeat",
                _given(repeat_y),
                "no repeat on a restore (the primary is rebuilt from the archive once)",
            )
            ok = False

        # target
        target_y = entries[action][1]
        target = self.target(target_y, f"{path}.{action}", action, replicas)
        ok = ok and target is not None

        params, params_ok = self.params(y, path, action, get, replicas)
        ok = ok and params_ok

        if not ok or target is None or at is None:
            return result
        result.spec = StepSpec(
            source_index=index,
            action=cast(Action, action),
            target=target,
            at=at,
            duration=duration,
            after=result.after[0] if result.after else None,
            after_end=result.after[1] if result.after else False,
            every=every,
            repeat=times,
            outage=outage,
            params=params,
            name=result.name,
            line=y.line,
        )
        return result

    def params(
        self,
        y: _Y,
        path: str,
        action: str,
        get: Callable[[str], _Y | None],
        replicas: list[str] | None,
    ) -> tuple[dict[str, ParamValue], bool]:
        """The action's own keys, parsed (see ``Step``), and whether they are all valid."""
        ok = True
        entries = y.entries
        target_y = entries[action][1]
        params: dict[str, ParamValue] = {}
        model = ACTION_PARAMS.get(action)
        whole = self.system in ("kafka", "mariadb")  # a node is one process, paused whole
        if action == "crash" and whole and get("process") is not None:
            system = "Kafka" if self.system == "kafka" else "MariaDB"
            self.add(
                entries["process"][0],
                f"{path}.process",
                _given(entries["process"][1]),
                f"no process on a {system} crash (process: postmaster names PostgreSQL's "
                "postmaster under manager: patroni; a crash kills the whole node)",
            )
            return params, False
        if model is not None and not (action == "pause" and whole):
            own = {k: entries[k] for k in model.model_fields if get(k) is not None}
            section, _ = self.section(
                model, _Y("map", y.line, entries=own), path, y.line, missing_as_written=True
            )
            if section is None:
                return params, False
            for key, value in section.model_dump(exclude_none=True).items():
                params["rate_kbps" if key == "rate" else key] = value
            if action == "crash" and "process" in params:
                del params["links"]  # the postmaster alone: the node's links stay up
            return params, True
        if action == "pause" and self.system == "mariadb" and get("process") is not None:
            self.add(
                entries["process"][0],
                f"{path}.process",
                _given(entries["process"][1]),
                "no process on a MariaDB pause (process names a PostgreSQL server process; "
                "mariadbd is one process, paused whole)",
            )
            ok = False
        elif action == "pause" and self.system == "kafka":
            proc_y = get("process")
            if proc_y is not None:
                self.add(
                    entries["process"][0],
                    f"{path}.process",
                    _given(proc_y),
                    "no process on a Kafka pause (process names a PostgreSQL server process; "
                    "a broker is one JVM, paused whole)",
                )
                ok = False
        elif action == "promote":
            raw = target_y.value if target_y.kind == "scalar" else None
            policy = MOST_UP_TO_DATE if raw == MOST_UP_TO_DATE else "named"
            params["policy"] = policy
            cand_y = get("candidates")
            if cand_y is not None and policy != MOST_UP_TO_DATE:
                self.add(
                    entries["candidates"][0],
                    f"{path}.candidates",
                    _given(cand_y),
                    "no candidates on a promote of a named replica (candidates go with "
                    "promote: most_up_to_date)",
                )
                ok = False
            elif cand_y is not None:
                cands = self.candidates(cand_y, f"{path}.candidates", replicas)
                ok = ok and cands is not None
                params["candidates"] = cands or []
            elif policy == MOST_UP_TO_DATE:
                params["candidates"] = list(replicas or [])
            lag_y = get("max_lag")
            if lag_y is not None and self.system == "mariadb":
                self.add(
                    entries["max_lag"][0],
                    f"{path}.max_lag",
                    _given(lag_y),
                    "no max_lag on a MariaDB promote (positions are GTIDs, not WAL bytes)",
                )
                ok = False
            elif lag_y is not None:
                lag = self.size(lag_y, f"{path}.max_lag")
                ok = ok and lag is not None
                params["max_lag_bytes"] = lag or 0
        return params, ok
