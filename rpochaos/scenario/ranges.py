"""``{range: [LOW, HIGH]}``: a magnitude a search explores (docs/search.md).

A range may stand for a step's ``for`` (a fault's length), a latency's ``delay`` / ``jitter``,
a bandwidth's ``rate`` or a clock skew's ``offset``; LOW and HIGH are written in the key's own
units and LOW <= HIGH. On a plain run the loader draws a value before the step is checked
(``draw_ranges``): uniform in [LOW, HIGH] from the scenario's seed (its own stream, so the
draws of ``{between: ..}`` do not move), to the millisecond (durations) or to 0.001 KB/s,
and every check of the step then sees that fixed value. ``rpochaos search`` treats each range
as a dimension instead.
"""

from __future__ import annotations

import random
from typing import Literal

from rpochaos.scenario.source import _Y, _given, _Source
from rpochaos.scenario.units import _parse_bandwidth, parse_duration

#: how the values of a ranged key are written
RangeUnit = Literal["duration", "offset", "bandwidth"]
#: the step keys a range may stand for, and the unit of each
RANGE_KEYS: dict[str, RangeUnit] = {
    "for": "duration",
    "delay": "duration",
    "jitter": "duration",
    "rate": "bandwidth",
    "offset": "offset",
}
_EXAMPLES: dict[RangeUnit, str] = {
    "duration": "durations like '200ms' or '6s'",
    "offset": "signed durations like '-2s' or '+30s'",
    "bandwidth": "bandwidths like '64KB/s' or '1MB/s'",
}

#: what stands for a malformed range once its problem is recorded
_PLACEHOLDER: dict[RangeUnit, str] = {"duration": "1s", "offset": "+1s", "bandwidth": "1KB/s"}


def parse_value(unit: RangeUnit, text: object) -> float:
    """A range end as a number: seconds (duration, offset) or KB/s (bandwidth). ValueError
    if ``text`` is not written in ``unit``."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not text")
    if unit == "duration":
        return parse_duration(text)
    if unit == "offset":
        sign = -1.0 if text.startswith("-") else 1.0
        return sign * parse_duration(text.lstrip("+-"))
    return _parse_bandwidth(text)


def render_value(unit: RangeUnit, value: float) -> str:
    """A number written back in ``unit``'s form, as the file would have it (to the ms / to
    0.001 KB/s): ``parse_value(unit, render_value(unit, v))`` is ``v`` so rounded."""
    if unit == "bandwidth":
        return f"{_trim(round(value, 3))}KB/s"
    ms = round(abs(value) * 1000)
    sign = ("-" if value < 0 else "+") if unit == "offset" else ""
    return f"{sign}{ms}ms"


def _trim(x: float) -> str:
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def is_range(y: _Y) -> bool:
    """Whether a YAML node is written as ``{range: ...}``."""
    return y.kind == "map" and set(y.entries) == {"range"}


def range_bounds(src: _Source, y: _Y, path: str, key: str) -> tuple[float, float] | None:
    """LOW and HIGH of the ``{range: [LOW, HIGH]}`` node ``y`` at step key ``key`` (path
    ``path``), or None after recording the problem (file, line, key, given, expected)."""
    unit = RANGE_KEYS.get(key)
    line, node = y.entries["range"]
    where = f"{path}.range"
    if unit is None:
        keys = ", ".join(RANGE_KEYS)
        src.add(line, where, f"a range for {key!r}", f"a range for one of {keys}")
        return None
    expected = f"[LOW, HIGH]: two {_EXAMPLES[unit]}, LOW <= HIGH"
    if node.kind != "seq" or len(node.items) != 2 or any(i.kind != "scalar" for i in node.items):
        src.add(node.line, where, _given(node), expected)
        return None
    try:
        low, high = (parse_value(unit, i.value) for i in node.items)
    except ValueError:
        src.add(node.line, where, f"[{', '.join(_given(i) for i in node.items)}]", expected)
        return None
    if not low <= high:
        src.add(node.line, where, f"LOW {node.items[0].raw} > HIGH {node.items[1].raw}", expected)
        return None
    return low, high


def draw_ranges(src: _Source, root: _Y) -> None:
    """Replace, in place, every ``{range: ..}`` of the schedule's steps by a value drawn from
    the file's seed. A malformed range is recorded as a problem and replaced by a placeholder
    of the key's unit, so that the step's own checks do not report it a second time."""
    seed_entry = root.entries.get("seed")
    seed = seed_entry[1].value if seed_entry is not None else 0
    rng = random.Random(f"range:{seed if isinstance(seed, int) else 0}")
    schedule = root.entries.get("schedule")
    if schedule is None or schedule[1].kind != "seq":
        return
    for i, step in enumerate(schedule[1].items):
        if step.kind != "map":
            continue
        for key, (kline, value) in list(step.entries.items()):
            if not is_range(value):
                continue
            bounds = range_bounds(src, value, f"schedule[{i}].{key}", key)
            unit = RANGE_KEYS.get(key, "duration")
            if bounds is None:
                text = _PLACEHOLDER[unit]
                step.entries[key] = (kline, _Y("scalar", value.line, value=text, raw=text))
                continue
            text = render_value(unit, rng.uniform(*bounds))
            drawn = parse_value(unit, text)
            if drawn < bounds[0] or drawn > bounds[1]:  # rounding past an end
                text = render_value(unit, min(max(drawn, bounds[0]), bounds[1]))
            step.entries[key] = (kline, _Y("scalar", value.line, value=text, raw=text))
