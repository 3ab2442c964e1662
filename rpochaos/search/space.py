"""The search space of a scenario file: its dimensions, its optional steps, and candidates.

Every ``{between: [LOW, HIGH]}`` (a step's ``at`` or ``for``), ``{range: [LOW, HIGH]}`` (a
magnitude, ``rpochaos.scenario.ranges``) and ``{choose: [...]}`` (a step's target) of the
schedule is a dimension, named ``STEP.KEY`` (STEP: the step's name, else ``step<i>``). A
``Candidate`` fixes every dimension and says which optional steps it leaves out; ``Space.text``
writes it as a runnable scenario file with fixed values (no ``search:`` section).

``space_of(path)`` validates the file with the loader first (every problem with its line),
then checks that the space is finite and bounded: at least one dimension or optional step, at
most ``MAX_DIMENSIONS`` dimensions, each numeric one with finite LOW <= HIGH.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario import load, parse_duration
from rpochaos.scenario.ranges import RANGE_KEYS, RangeUnit, parse_value, render_value

#: the most dimensions a searched scenario may have (a budget is tens of runs)
MAX_DIMENSIONS = 8
Kind = Literal["between", "range", "choose"]
Unit = Literal["duration", "offset", "bandwidth", "target"]
#: a dimension's value: a number in its unit's base (s, KB/s) or a target
Value = float | str
ScoreName = Literal["window/rpo", "lost", "rto"]


@dataclass(frozen=True)
class Dimension:
    """One axis of the space. Numeric dimensions hold seconds (durations, offsets) or KB/s
    (bandwidths), rounded to 0.001; ``choose`` ones hold one of ``options``."""

    name: str
    step: int  # index in the file's schedule list
    key: str  # the step key the value goes in
    kind: Kind
    unit: Unit
    line: int
    low: float = 0.0
    high: float = 0.0
    options: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind != "choose"

    def at(self, u: float) -> Value:
        """The value at fraction ``u`` in [0, 1] of the axis (choose: the option it falls on)."""
        u = min(max(u, 0.0), 1.0)
        if not self.numeric:
            return self.options[min(int(u * len(self.options)), len(self.options) - 1)]
        return self.clamp(self.low + u * (self.high - self.low))

    def in_stratum(self, s: int, n: int, r: float) -> Value:
        """The value at ``r`` in [0, 1) of stratum ``s`` of ``n`` equal strata, kept inside
        the stratum after rounding to 0.001 (a value drawn just below a boundary would
        otherwise round into the next one) whenever the stratum is wider than 0.002."""
        v = self.at((s + r) / n)
        if isinstance(v, str) or (self.high - self.low) / n <= 0.002:
            return v

        def stratum(x: float) -> int:  # as fraction() places it, float rounding included
            return min(int(self.fraction(x) * n), n - 1)

        for _ in range(3):  # rounding moves a value by at most 0.0005: one step back suffices
            if stratum(v) > s:
                v = round(v - 0.001, 3)
            elif stratum(v) < s:
                v = round(v + 0.001, 3)
        return v

    def fraction(self, value: Value) -> float:
        """Where ``value`` lies on the axis, in [0, 1]."""
        if isinstance(value, str):
            i = self.options.index(value)
            return (i + 0.5) / len(self.options)
        span = self.high - self.low
        return 0.0 if span <= 0 else (value - self.low) / span

    def clamp(self, value: float) -> float:
        return min(max(round(value, 3), self.low), self.high)

    def render(self, value: Value) -> object:
        """The value as the file writes it ('1234ms', '64KB/s', a target)."""
        if isinstance(value, str):
            return value
        unit: RangeUnit = "duration" if self.unit == "target" else self.unit
        return render_value(unit, value)

    def shown(self, value: Value) -> str:
        """The value for people: '1.234 s', '64 KB/s', a target."""
        if isinstance(value, str):
            return value
        return f"{value:g} KB/s" if self.unit == "bandwidth" else f"{value:g} s"


@dataclass(frozen=True)
class Candidate:
    """One schedule of the space: every dimension's value and the optional steps left out."""

    values: dict[str, Value]
    dropped: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """A stable text identity (to tell candidates apart and store them)."""
        return json.dumps({"values": self.values, "dropped": sorted(self.dropped)}, sort_keys=True)

    def to_json(self) -> dict[str, object]:
        return {"values": dict(self.values), "dropped": sorted(self.dropped)}

    @staticmethod
    def from_json(data: object) -> Candidate | None:
        """The inverse of ``to_json`` (None for anything else)."""
        if not isinstance(data, dict):
            return None
        values, dropped = data.get("values"), data.get("dropped", [])
        if not isinstance(values, dict) or not isinstance(dropped, list):
            return None
        ok = all(
            isinstance(v, int | float | str) and not isinstance(v, bool) for v in values.values()
        )
        if not ok or not all(isinstance(d, str) for d in dropped):
            return None
        out: dict[str, Value] = {
            str(k): v if isinstance(v, str) else float(v) for k, v in values.items()
        }
        return Candidate(out, frozenset(dropped))


@dataclass(frozen=True)
class Space:
    """A scenario file's search space (see the module docstring)."""

    path: Path
    name: str
    document: dict[str, object]
    dimensions: tuple[Dimension, ...]
    step_names: tuple[str, ...]  # per schedule index: its name or step<i>
    optional: tuple[str, ...] = ()
    max_steps: int | None = None
    score: ScoreName = "window/rpo"
    rpo: float = 1.0  # run seconds
    max_rto: float | None = None
    content_hash: str = ""
    outage_step: str = ""
    notes: list[str] = field(default_factory=list)

    def dimension(self, name: str) -> Dimension:
        """The dimension called ``name`` (KeyError with the known names otherwise)."""
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(f"{name!r}: no such dimension ({', '.join(self.names) or 'none'})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def full(self) -> Candidate:
        """Every step kept, every dimension at the top of its axis (choose: its last option)."""
        return Candidate(
            {d.name: d.at(1.0) if d.numeric else d.options[0] for d in self.dimensions}
        )

    def allowed(self, dropped: frozenset[str]) -> bool:
        """Whether a candidate may leave out ``dropped`` (optional steps only, max_steps)."""
        if not dropped <= set(self.optional):
            return False
        kept = len(self.step_names) - len(dropped)
        return kept >= 1 and (self.max_steps is None or kept <= self.max_steps)

    def text(self, c: Candidate, header: str = "") -> str:
        """``c`` as a runnable scenario file: fixed values, no ``search:`` section."""
        doc = copy.deepcopy(self.document)
        doc.pop("search", None)
        steps = doc["schedule"]
        assert isinstance(steps, list)
        for d in self.dimensions:
            step = steps[d.step]
            assert isinstance(step, dict)
            step[d.key] = d.render(c.values[d.name])
        doc["schedule"] = [s for i, s in enumerate(steps) if self.step_names[i] not in c.dropped]
        body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        return header + body

    def describe(self, c: Candidate) -> str:
        """``c`` in one line: 'cut.for=1.25 s, without: jitter'."""
        parts = [f"{d.name}={d.shown(c.values[d.name])}" for d in self.dimensions]
        if c.dropped:
            parts.append("without: " + ", ".join(sorted(c.dropped)))
        return ", ".join(parts) or "(the schedule as written)"


def _problem(path: Path, line: int | None, key: str, given: str, expected: str) -> ScenarioError:
    return ScenarioError([Problem(str(path), line, key, given, expected)])


def _lines(text: str) -> dict[tuple[int, str], int]:
    """(schedule index, key) -> line of the key's value, from the composed YAML."""
    out: dict[tuple[int, str], int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return out
    for k, v in root.value:
        if k.value == "schedule" and isinstance(v, yaml.SequenceNode):
            for i, step in enumerate(v.value):
                if isinstance(step, yaml.MappingNode):
                    for sk, sv in step.value:
                        out[(i, str(sk.value))] = sv.start_mark.line + 1
    return out


def space_of(path: str | Path) -> Space:
    """The search space of the scenario file at ``path``. Raises ScenarioError (file, line,
    key, given, expected) for a file the loader rejects or a space that is not finite and
    bounded, before anything runs."""
    p = Path(path)
    scenario = load(p)  # every problem of the file, with its line
    text = p.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    lines = _lines(text)
    steps = doc["schedule"]
    assert isinstance(steps, list)
    names = tuple(
        str(s.get("name")) if isinstance(s, dict) and s.get("name") else f"step{i}"
        for i, s in enumerate(steps)
    )
    dims: list[Dimension] = []
    for i, step in enumerate(steps):
        assert isinstance(step, dict)
        for key, value in step.items():
            if not (isinstance(value, dict) and len(value) == 1):
                continue
            line = lines.get((i, str(key)), 0)
            kind, arg = next(iter(value.items()))
            dname = f"{names[i]}.{key}"
            if kind == "choose":
                dims.append(Dimension(dname, i, key, "choose", "target", line, options=tuple(arg)))
            elif kind == "between":
                lo, hi = (parse_duration(x) for x in arg)
                dims.append(Dimension(dname, i, key, "between", "duration", line, lo, hi))
            elif kind == "range":
                unit = RANGE_KEYS[str(key)]
                lo, hi = (parse_value(unit, x) for x in arg)
                dims.append(Dimension(dname, i, key, "range", unit, line, lo, hi))
    search = doc.get("search") or {}
    assert isinstance(search, dict)
    optional = tuple(str(x) for x in search.get("optional") or ())
    where = lines.get((0, "schedule"), None)
    if not dims and not optional:
        raise _problem(
            p,
            where,
            "schedule",
            "no {between: ..}, {range: ..} or {choose: ..} and no search.optional steps",
            "a search space: at least one dimension or optional step",
        )
    if len(dims) > MAX_DIMENSIONS:
        raise _problem(
            p,
            dims[MAX_DIMENSIONS].line,
            dims[MAX_DIMENSIONS].name,
            f"{len(dims)} dimensions",
            f"at most {MAX_DIMENSIONS} (a search budget is tens of runs)",
        )
    for d in dims:
        if d.numeric and not (math.isfinite(d.low) and math.isfinite(d.high) and d.low <= d.high):
            raise _problem(p, d.line, d.name, f"[{d.low}, {d.high}]", "finite LOW <= HIGH")
    score = str(search.get("score", "window/rpo"))
    assert score in ("window/rpo", "lost", "rto")
    max_steps = search.get("max_steps")
    outage = next(
        (names[i] for i, s in enumerate(steps) if isinstance(s, dict) and s.get("outage")), ""
    )
    return Space(
        path=p,
        name=scenario.name,
        document=doc,
        dimensions=tuple(dims),
        step_names=names,
        optional=optional,
        max_steps=max_steps if isinstance(max_steps, int) else None,
        score=score,  # type: ignore[arg-type]
        rpo=scenario.expect.rpo,
        max_rto=scenario.expect.max_rto,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        outage_step=outage,
    )
