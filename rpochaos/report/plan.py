"""The plan as text (``rpochaos plan``, and the head of a run's report): a scenario's
one-line summary and its resolved timeline, one line per step start and end.

Pure: reads a ``Scenario`` and returns strings.
"""

from __future__ import annotations

from rpochaos.scenario import (
    LASTING_ACTIONS,
    LEADER,
    LINK_GROUPS,
    MOST_UP_TO_DATE,
    KafkaTopology,
    Scenario,
    Step,
    Topology,
    Workload,
)


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
        elif s.action == "crash" and "process" in s.params:
            details.append("Patroni restarts it")
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
    if s.action == "crash" and "process" in p:
        return [f"{p['process']} alone"]
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
