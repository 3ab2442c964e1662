"""Fault times as intervals, and the resolution of the data-loss window.

From events.jsonl (each event a JSON object with ``type`` and ``t``, harness seconds):

- ``step_start`` (``index``, ``action``, ``target``, ``t``, ``outage``, ``instant``,
  ``params``): the step's action was *requested* at ``t``;
- ``step_effective`` (``index``, ``t``): it *took effect* at ``t`` (the API call returned, the
  signal was delivered and the process seen stopped or dead, the control file acknowledged);
- ``step_end`` (``index``, ``t``, ``requested_t``): the heal began at ``requested_t`` and had
  returned at ``t``;
- ``outage`` (``index``, ``t``, ``requested_t``): the declared outage in force at ``t``, its
  action requested at ``requested_t``.

Runs recorded before ``step_effective`` and the ``requested_t`` fields existed still read:
what they lack is None ("unknown"). The pieces here are pure functions of lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import JsonValue

from rpochaos.history import OK, History, Op
from rpochaos.result.model import AckSpacing, Fault

Event = Mapping[str, object]


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _index(e: Event) -> int | None:
    i = e.get("index")
    return i if isinstance(i, int) and not isinstance(i, bool) else None


def json_dict(v: object) -> dict[str, JsonValue]:
    """A JSON object's entries (keys as strings); {} for anything else."""
    if not isinstance(v, dict):
        return {}
    out: dict[str, JsonValue] = {str(k): x for k, x in v.items()}
    return out


def faults_from_events(events: Sequence[Event]) -> list[Fault]:
    """Each scheduled step that ran, ordered by start time then index (see ``Fault``)."""
    starts: dict[int, Event] = {}
    effective: dict[int, float] = {}
    ends: dict[int, Event] = {}
    outage_t: dict[int, float] = {}
    for e in events:
        i = _index(e)
        if i is None:
            continue
        kind = e.get("type")
        if kind == "step_start" and _num(e.get("t")) is not None:
            starts[i] = e
        elif kind == "step_effective" and (t := _num(e.get("t"))) is not None:
            effective.setdefault(i, t)
        elif kind == "step_end" and i in starts:
            ends[i] = e
        elif kind == "outage" and (t := _num(e.get("t"))) is not None:
            outage_t.setdefault(i, t)
    out: list[tuple[float, int, Fault]] = []
    for i, s in starts.items():
        start = _num(s.get("t"))
        assert start is not None
        instant = bool(s.get("instant"))
        is_outage = bool(s.get("outage"))
        # the outage event of the step is by definition when its action had taken effect
        eff = effective.get(i, outage_t.get(i) if is_outage else None)
        end_ev = ends.get(i)
        end = _num(end_ev.get("t")) if end_ev is not None else (start if instant else None)
        req_end = start if instant else None
        fault = Fault(
            kind=str(s.get("action", "?")),
            target=str(s.get("target", "?")),
            start_s=start,
            end_s=end,
            params=json_dict(s.get("params")),
            outage=is_outage,
            requested_start_s=start,
            effective_start_s=eff,
            requested_end_s=_num(end_ev.get("requested_t")) if end_ev is not None else req_end,
            effective_end_s=end if end_ev is not None or not instant else eff,
        )
        out.append((start, i, fault))
    return [f for _, _, f in sorted(out, key=lambda x: (x[0], x[1]))]


def outage_at(events: Sequence[Event]) -> float | None:
    """When the declared outage was in force: the ``outage`` event, or, in runs recorded
    without one, the start of the step marked outage."""
    for e in events:
        if e.get("type") == "outage" and (t := _num(e.get("t"))) is not None:
            return t
    for e in events:
        if e.get("type") == "step_start" and e.get("outage"):
            return _num(e.get("t"))
    return None


def outage_requested_at(events: Sequence[Event]) -> float | None:
    """When the outage's action was requested: the ``outage`` event's ``requested_t``; None
    (unknown) in runs recorded without it."""
    for e in events:
        if e.get("type") == "outage":
            return _num(e.get("requested_t"))
    return None


def ack_spacing(
    ops: History | Sequence[Op], recovery_point_s: float | None, window_end_s: float | None
) -> AckSpacing:
    """The spacing of acknowledgements at both ends of the window (see ``AckSpacing``): the
    neighbouring acknowledgement times found by masked min/max over the columns, no sort."""
    h = ops if isinstance(ops, History) else History.from_ops(ops)
    times = h.complete_s[h.outcome == OK]
    rp: float | None = None
    if recovery_point_s is not None and len(times):
        gaps = []
        below = times[times < recovery_point_s]
        if len(below):
            gaps.append(recovery_point_s - float(below.max()))
        above = times[times > recovery_point_s]
        if len(above):
            gaps.append(float(above.min()) - recovery_point_s)
        rp = max(gaps) if gaps else None
    at_end: float | None = None
    if window_end_s is not None:
        upto = times[times <= window_end_s]
        if len(upto) >= 2:
            last = float(upto.max())
            if int(np.count_nonzero(upto == last)) >= 2:
                at_end = 0.0
            else:
                at_end = last - float(upto[upto < last].max())
    return AckSpacing(recovery_point_s=_r(rp), outage_s=_r(at_end))


def window_resolution(spacing: AckSpacing, window_s: float | None, lost: int) -> float | None:
    """+- around the window: the coarser end's spacing; None when the window is unknown or
    nothing was lost (a window of 0 is exact)."""
    if window_s is None or lost == 0:
        return None
    ends = [x for x in (spacing.recovery_point_s, spacing.outage_s) if x is not None]
    return max(ends) if ends else None


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)
