"""The schedule language, resolved: random choices made, 'after' chains and repetitions laid
out on one timeline, time_scale applied; and the timeline as text (``rpochaos plan``).

Pure: no I/O, no clock. ``resolve`` is what ``scenario.load``/``loads`` use, so a plan printed
from a file and the run of that file with the same seed have the same timeline.

Resolution, for a given seed:

1. ``random.Random(seed)`` draws in file order: for each step its ``at`` (if random), then
   for each repetition its ``for`` (if random) and its target (if ``choose``). A random
   duration is uniform in [low, high], rounded to the millisecond (of declared time).
2. A step's first start is ``at`` after the workload start, or with ``after: NAME`` after
   NAME's start (``after: NAME.end``: after NAME's start + its ``for``).
3. Repetition k (0-based) starts at ``first start + k * every``.
4. Every declared time is divided by ``time_scale`` before it is added.
5. Steps get ``index`` 0, 1, ... in file order, each repetition in turn, and are sorted by
   (at, index).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from rpochaos.scenario import (
    LASTING_ACTIONS,
    LEADER,
    LINK_GROUPS,
    MOST_UP_TO_DATE,
    Between,
    Choose,
    KafkaTopology,
    ParamValue,
    Scenario,
    Step,
    StepSpec,
    Topology,
    Workload,
)

# --------------------------------------------------------------------------------------------
# Resolution


def resolve(
    source: Scenario | Sequence[StepSpec], seed: int, *, time_scale: float | None = None
) -> tuple[Step, ...]:
    """The resolved schedule of ``source`` with ``seed``, sorted by (at, index).

    ``source`` is a Scenario (its specs and time_scale) or specs (time_scale defaults to 1).
    A Scenario without specs (built by hand, or read from a run record that predates them)
    has nothing to draw: its schedule is returned as it is. Raises ValueError if an 'after'
    names no step, forms a cycle, or asks for the end of a step without 'for' (``load``
    reports those as problems first).
    """
    if isinstance(source, Scenario):
        if not source.specs:
            return source.schedule
        specs = sorted(source.specs, key=lambda s: s.source_index)
        scale = source.time_scale if time_scale is None else time_scale
    else:
        specs = sorted(source, key=lambda s: s.source_index)
        scale = 1.0 if time_scale is None else time_scale
    if not scale >= 1:
        raise ValueError(f"time_scale is {scale!r}, expected a number >= 1")

    rng = random.Random(seed)
    drawn_at: dict[int, float] = {}
    drawn: dict[int, list[tuple[float | None, str]]] = {}  # per repetition: (for, target)
    for s in specs:
        drawn_at[s.source_index] = _draw(rng, s.at)
        drawn[s.source_index] = [
            (None if s.duration is None else _draw(rng, s.duration), _pick(rng, s.target))
            for _ in range(s.repeat)
        ]

    def first_for(s: StepSpec) -> float | None:
        return drawn[s.source_index][0][0]

    starts = _first_starts(specs, scale, lambda s: drawn_at[s.source_index], first_for)
    steps: list[Step] = []
    for s in specs:
        every = 0.0 if s.every is None else s.every / scale
        for k, (duration, target) in enumerate(drawn[s.source_index]):
            params = _params(s, target)
            steps.append(
                Step(
                    index=len(steps),
                    at=starts[s.source_index] + k * every,
                    action=s.action,
                    target=target,
                    duration=None if duration is None else duration / scale,
                    outage=s.outage,
                    params=params,
                    line=s.line,
                    name=_instance_name(s, k),
                    source_index=s.source_index,
                )
            )
    return tuple(sorted(steps, key=lambda st: (st.at, st.index)))


def start_bounds(
    specs: Sequence[StepSpec], time_scale: float = 1.0
) -> dict[int, tuple[float, float]]:
    """For each spec (by source_index): the earliest and latest run time its first repetition
    can start at, over every seed. Repetition k adds ``k * every / time_scale``. Every
    resolved start lies within these bounds (same arithmetic, monotonic in each term)."""
    specs = sorted(specs, key=lambda s: s.source_index)
    lows = _first_starts(specs, time_scale, lambda s: _low(s.at), lambda s: _opt(_low, s))
    highs = _first_starts(specs, time_scale, lambda s: _high(s.at), lambda s: _opt(_high, s))
    return {i: (lows[i], highs[i]) for i in lows}


def _first_starts(
    specs: Sequence[StepSpec],
    scale: float,
    at_of: Callable[[StepSpec], float],
    for_of: Callable[[StepSpec], float | None],
) -> dict[int, float]:
    """Run time of each spec's first start: (start of its 'after' [+ its for]) + at."""
    by_name = {s.name: s for s in specs if s.name is not None}
    out: dict[int, float] = {}
    for spec in specs:
        chain: list[StepSpec] = []
        cur = spec
        while cur.source_index not in out:
            if any(c.source_index == cur.source_index for c in chain):
                raise ValueError(f"step {cur.name!r}: 'after' forms a cycle")
            chain.append(cur)
            if cur.after is None:
                break
            ref = by_name.get(cur.after)
            if ref is None:
                raise ValueError(f"step {cur.source_index}: after {cur.after!r}: no such step")
            cur = ref
        for c in reversed(chain):
            base = 0.0
            if c.after is not None:
                ref = by_name[c.after]
                base = out[ref.source_index]
                if c.after_end:
                    length = for_of(ref)
                    if length is None:
                        raise ValueError(f"after {c.after}.end: {c.after!r} has no 'for'")
                    base = base + length / scale
            out[c.source_index] = base + at_of(c) / scale
    return out


def _draw(rng: random.Random, value: float | Between) -> float:
    """A fixed value as it is; a random one uniform in [low, high], to the millisecond."""
    if isinstance(value, Between):
        return min(max(round(rng.uniform(value.low, value.high), 3), value.low), value.high)
    return value


def _pick(rng: random.Random, target: str | Choose) -> str:
    return rng.choice(target.options) if isinstance(target, Choose) else target


def _low(value: float | Between) -> float:
    return value.low if isinstance(value, Between) else value


def _high(value: float | Between) -> float:
    return value.high if isinstance(value, Between) else value


def _opt(bound: Callable[[float | Between], float], s: StepSpec) -> float | None:
    return None if s.duration is None else bound(s.duration)


def _params(s: StepSpec, target: str) -> dict[str, ParamValue]:
    params = {k: list(v) if isinstance(v, list) else v for k, v in s.params.items()}
    if s.action == "promote" and params.get("policy", "named") == "named":
        params["candidates"] = [target]
    return params


def _instance_name(s: StepSpec, k: int) -> str | None:
    if s.repeat < 2:
        return s.name
    return f"{s.name or f'step{s.source_index}'}#{k + 1}"


# --------------------------------------------------------------------------------------------
# The plan, as text


def real_time(seconds: float) -> str:
    """A span of real time, compactly: 0.25s, 45s, 3m00s, 10m00.5s, 1h02m05s."""
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    sec = f"{s:02d}" if (h or m) else f"{s}"
    if frac:
        sec += f".{frac:03d}".rstrip("0")
    if h:
        return f"{h}h{m:02d}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def format_size(n: int) -> str:
    """Bytes in the unit a scenario would use: 16MB, 512kB, 1000B (1kB = 1024 B)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def format_kafka(topology: KafkaTopology, workload: Workload) -> str:
    """A Kafka cluster and its producer's durability knobs, e.g. '3 brokers, RF 3,
    min.insync 2, unclean election off; acks=all idempotent'."""
    t, w = topology, workload
    brokers = f"{t.brokers} broker{'s' if t.brokers != 1 else ''}"
    parts = [
        brokers,
        f"RF {t.replication_factor}",
        f"min.insync {t.min_insync_replicas}",
        f"unclean election {'on' if t.unclean_leader_election else 'off'}",
    ]
    if t.partitions != 1:
        parts.append(f"{t.partitions} partitions")
    producer = f"acks={w.acks} " + ("idempotent" if w.enable_idempotence else "not idempotent")
    if w.commit_timeout is not None:
        producer += f", delivery timeout {w.commit_timeout:g} s"
    return ", ".join(parts) + "; " + producer


def format_summary(scenario: Scenario) -> str:
    """One line: (for Kafka, the cluster and the producer's knobs,) the workload, the RPO, the
    seed and, when compressed, the real-time scale."""
    w, e, n = scenario.workload, scenario.expect, scenario.time_scale
    topology = scenario.topology
    kafka = f"kafka {format_kafka(topology, w)}; " if isinstance(topology, KafkaTopology) else ""
    line = (
        f"{scenario.name}: {kafka}workload {w.rate:g}/s x {w.concurrency} for {w.duration:g} s; "
        f"RPO {e.rpo:g} s; seed {scenario.seed}"
    )
    if isinstance(topology, Topology) and topology.archive is not None:
        timeout = topology.archive.timeout
        line += f"; WAL archive with archive_timeout {timeout:g} s" + (
            f" ({real_time(timeout * n)} real)" if n != 1 else ""
        )
    if n != 1:
        d = scenario.declared
        line += (
            f"; time_scale {n:g}: {real_time(d.workload.duration)} of incident time replayed in "
            f"{real_time(w.duration)} (RPO {real_time(d.expect.rpo)} real)"
        )
    return line


def format_plan(scenario: Scenario) -> list[str]:
    """The resolved timeline, one line per step start and end, in the order the runner acts
    (ends before starts at the same instant), then the workload stop. Each time shows its
    real-time equivalent when the scenario has a time_scale. A fault lasting past the stop
    is healed there (the stop line says so)."""
    n = scenario.time_scale
    stop = scenario.workload.duration
    kafka = scenario.system == "kafka"

    def t(x: float, pad: bool = True) -> str:
        text = f"{x:7.3f}s" if pad else f"{x:.3f}s"
        return text + (f" (real {real_time(x * n)})" if n != 1 else "")

    items: list[tuple[float, int, int, str]] = []
    for s in scenario.schedule:
        name = f"  [{s.name}]" if s.name else ""
        tags = name + ("  [outage]" if s.outage else "")
        details = [*(_meaning(s.target) if kafka else []), *_details(s)]
        until = ""
        if s.duration is not None and s.action in LASTING_ACTIONS:
            end = s.at + s.duration
            until = f" until {t(end, pad=False)}"
            if end < stop:
                items.append((end, 0, s.index, f"t={t(end)}  {_end_text(s)}{name}"))
        elif s.action == "crash":
            details.append("stays down")
        elif s.action in LASTING_ACTIONS:
            until = " until the end"
        what = f"{s.action} {s.target}" + (f" ({'; '.join(details)})" if details else "")
        items.append((s.at, 1, s.index, f"t={t(s.at)}  {what}{until}{tags}"))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    lines = [text for _, _, _, text in items]
    lines.append(f"t={t(stop)}  workload stops; heal all; final read")
    return lines


#: what a Kafka link group covers, by group
_GROUP_MEANING = {
    "fetch-from": "followers' fetches from {}",
    "quorum-of": "quorum links of {}",
    "all-of": "every link of {}",
}
_LEADER_NOW = "partition 0's leader at that moment"


def _meaning(target: str) -> list[str]:
    """What a Kafka target stands for when it is symbolic (``leader``, a link group): the
    runner resolves it when the step runs."""
    group, sep, node = target.partition(":")
    if not sep:
        return [_LEADER_NOW] if target == LEADER else []
    if group not in LINK_GROUPS:
        return []
    return [_GROUP_MEANING[group].format(_LEADER_NOW if node == LEADER else node)]


def _details(s: Step) -> list[str]:
    """What the plan shows in parentheses after the action and its target."""
    p = s.params
    if s.action == "partition":
        return [f"{p.get('mode')}, {p.get('direction', 'both')}"]
    if s.action == "latency":
        jitter = s.float_param("jitter", 0.0)
        return [
            f"{_short(s.float_param('delay', 0.0))} delay"
            + (f", {_short(jitter)} jitter" if jitter else "")
        ]
    if s.action == "bandwidth":
        return [f"{s.float_param('rate_kbps', 0.0):g}KB/s"]
    if s.action == "crash":
        return [f"links {p.get('links', 'cut')}"]
    if s.action == "pause":
        return [str(p["process"]) if "process" in p else "every process"]
    if s.action == "clock_skew":
        offset = s.float_param("offset", 0.0)
        drift = s.float_param("drift_ppm", 0.0)
        return [
            f"{'+' if offset >= 0 else '-'}{_short(abs(offset))}"
            + (f", drift {drift:g} ppm" if drift else "")
        ]
    if s.action == "archive_fail":
        return ["archive_command fails"]
    if s.action == "restore":
        return ["a new primary from the base backup + WAL archive"]
    if s.action == "promote":
        parts = []
        if s.target == MOST_UP_TO_DATE:
            parts.append("of " + ", ".join(s.list_param("candidates")))
        lag = p.get("max_lag_bytes")
        if isinstance(lag, int):
            parts.append(f"refused beyond {format_size(lag)} of lag")
        return parts
    return []


def _end_text(s: Step) -> str:
    if s.action == "crash":
        return f"recover {s.target} (crash ends)"
    if s.action == "pause":
        return f"resume {s.target}"
    if s.action == "archive_fail":
        return f"archive_command works again on {s.target}"
    return f"heal {s.action} {s.target}"


def _short(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
