"""How a schedule step is written, for the JSON Schema and the docs' key table: every key a
step may have, its type as written (durations as '5s', ``{between: [..]}``, ``{choose: [..]}``)
and bounds. Steps are validated by ``steps`` and ``targets``, key by key: which keys a step
takes depends on its action, and its target on the topology.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.fields import FieldInfo

from rpochaos.scenario.limits import MAX_DRIFT_PPM, MAX_STEP_NAME
from rpochaos.scenario.model import MAX_REPEAT, PATRONI_PROCESSES, PAUSE_PROCESSES
from rpochaos.scenario.units import (
    BANDWIDTH_PATTERN,
    DURATION_PATTERN,
    OFFSET_PATTERN,
    RATE_PATTERN,
    SIZE_PATTERN,
)


def _written(pattern: str, description: str) -> FieldInfo:
    """The schema's view of a value written as a string with a unit: it must match
    ``pattern`` and is described as ``description`` (``_pattern`` reads the pattern back)."""
    info: FieldInfo = Field(pattern=pattern, description=description)
    return info


Duration = Annotated[str, _written(DURATION_PATTERN, "a duration like '250ms', '5s' or '2m'")]
Offset = Annotated[str, _written(OFFSET_PATTERN, "a signed duration like '30s', '+30s' or '-2m'")]
Rate = Annotated[str, _written(RATE_PATTERN, "a rate > 0 like '500/s' or '60/m'")]
Bandwidth = Annotated[
    str, _written(BANDWIDTH_PATTERN, "a bandwidth > 0 like '64KB/s', '64kB/s' or '1MB/s'")
]
Size = Annotated[str, _written(SIZE_PATTERN, "a size like '16MB', '512kB' or '0B' (1kB = 1024 B)")]
Setting = str | int | float | bool


def _pattern(unit: object) -> str:
    """The regular expression of a unit type (what ``_written`` was given)."""
    for info in getattr(unit, "__metadata__", ()):
        for meta in getattr(info, "metadata", ()):
            if getattr(meta, "pattern", None) is not None:
                return str(meta.pattern)
    raise ValueError(f"{unit!r} has no pattern")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Between(_Section):
    """A random duration, drawn from the seed."""

    between: Annotated[list[Duration], Field(min_length=2, max_length=2)] = Field(
        description="[LOW, HIGH]: two durations, LOW <= HIGH"
    )


class Choose(_Section):
    """A random target, drawn from the seed."""

    choose: Annotated[list[str], Field(min_length=1)] = Field(
        description="the targets to choose from"
    )


class Range(_Section):
    """A magnitude a search explores (``rpochaos search``); a plain run draws it from the
    seed (``rpochaos.scenario.ranges``)."""

    range: Annotated[list[str], Field(min_length=2, max_length=2)] = Field(
        description="[LOW, HIGH] in the key's units, LOW <= HIGH"
    )


TimeValue = Duration | Between
Target = str | Choose


_ACTION = "an action and its target"
#: every value ``process`` takes, whichever action and topology (``steps`` and ``rules``
#: check which goes with which)
_PROCESSES = tuple(
    dict.fromkeys([*PAUSE_PROCESSES, *(p for ps in PATRONI_PROCESSES.values() for p in ps)])
)


class Step(_Section):
    """One step: exactly one action key (its value is the target), the action's own keys,
    and timing keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: (
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=MAX_STEP_NAME)]
        | None
    ) = Field(None, description="`[a-z][a-z0-9_-]*`, unique")
    at: TimeValue | None = Field(
        None, description="start, after the workload's start or the 'after' step's"
    )
    after: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*(\.end)?$")] | None = Field(
        None, description="a step's name, or NAME.end (its start + its 'for')"
    )
    every: Duration | None = Field(None, description="> 0: between repetitions' starts")
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT)] | None = Field(
        None, description="how many times the step happens"
    )
    for_: TimeValue | Range | None = Field(
        None, alias="for", description="> 0: how long a lasting fault lasts, then it heals"
    )
    outage: bool | None = Field(None, description="exactly one step declares the outage")
    partition: Target | None = Field(None, description=f"{_ACTION}: a link")
    latency: Target | None = Field(None, description=f"{_ACTION}: a link")
    bandwidth: Target | None = Field(None, description=f"{_ACTION}: a link")
    crash: Target | None = Field(None, description=f"{_ACTION}: a node")
    restart: Target | None = Field(None, description=f"{_ACTION}: a node")
    promote: Target | None = Field(
        None, description=f"{_ACTION}: a replica or most_up_to_date (PostgreSQL)"
    )
    pause: Target | None = Field(None, description=f"{_ACTION}: a node")
    io_stall: Target | None = Field(None, description=f"{_ACTION}: a node")
    clock_skew: Target | None = Field(None, description=f"{_ACTION}: a node")
    archive_fail: Target | None = Field(
        None, description=f"{_ACTION}: primary (needs topology.archive)"
    )
    restore: Target | None = Field(None, description=f"{_ACTION}: primary (needs topology.archive)")
    mode: Literal["blackhole", "reset"] | None = Field(None, description="partition, required")
    direction: Literal["both", "upstream", "downstream"] | None = Field(
        None, description="partition, default both"
    )
    delay: Duration | Range | None = Field(None, description="latency, required")
    jitter: Duration | Range | None = Field(None, description="latency, default 0")
    rate: Bandwidth | Range | None = Field(None, description="bandwidth, required")
    links: Literal["cut", "keep"] | None = Field(None, description="crash, default cut")
    process: Literal[_PROCESSES] | None = Field(  # type: ignore[valid-type]
        None,
        description="pause (PostgreSQL): one server process, or patroni (manager: patroni: "
        "Patroni alone); crash (manager: patroni): postmaster, the postmaster tree alone "
        "(no for). Default: every process of the node",
    )
    candidates: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="promote most_up_to_date: the replicas to choose among"
    )
    max_lag: Size | None = Field(None, description="promote: refuse beyond this much lag")
    offset: Offset | Range | None = Field(None, description="clock_skew, required")
    drift_ppm: Annotated[float, Field(ge=-MAX_DRIFT_PPM, le=MAX_DRIFT_PPM)] | None = Field(
        None, description="clock_skew: microseconds per second, default 0"
    )
