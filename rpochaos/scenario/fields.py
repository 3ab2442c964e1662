"""Scenario values, checked one at a time: each check takes a value as the YAML loader read it
and returns it parsed (seconds, per-second rates, integers...) or raises ``Wrong`` with what
was expected, in the words problems use. The same checks back the checker's scalar methods
(``values``) and the pydantic annotated types (``Duration``, ``Rate``, ``Count``...) that the
section models (``sections``) validate whole sections with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, get_args

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from rpochaos.scenario.limits import (
    MAX_BANDWIDTH_KBPS,
    MAX_CONCURRENCY,
    MAX_DRIFT_PPM,
    MAX_DURATION_S,
    MAX_DURATION_TEXT,
    MAX_INTEGER,
    MAX_NAME,
    MAX_NODE_NAME,
    MAX_PARTITIONS,
    MAX_RATE,
    MAX_TIME_SCALE,
)
from rpochaos.scenario.messages import (
    _BANDWIDTH,
    _DURATION,
    _OFFSET,
    _POSITIVE_DURATION,
    _RATE,
)
from rpochaos.scenario.model import (
    MAX_BROKERS,
    MOST_UP_TO_DATE,
    PATRONI_PROCESSES,
    PAUSE_PROCESSES,
    ReplicationMode,
    SyncCommit,
)
from rpochaos.scenario.units import (
    BANDWIDTH_PATTERN,
    DURATION_PATTERN,
    OFFSET_PATTERN,
    RATE_PATTERN,
    _parse_bandwidth,
    parse_duration,
    parse_rate,
)

#: the error type pydantic reports for a wrong scenario value; its ctx holds ``expected``
ERROR_TYPE = "scenario_value"


class Wrong(ValueError):
    """A value that is not what its key takes; ``expected`` says what would be."""

    def __init__(self, expected: str, given: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        #: what to show as given, when not the value as written (e.g. a length)
        self.given = given


def duration(v: object, positive: bool = False, alternative: str = "") -> float:
    """'250ms', '5s', '2m' -> seconds, > 0 when ``positive``, at most the longest duration."""
    try:
        if not isinstance(v, str):
            raise ValueError
        seconds: float | None = parse_duration(v)
    except ValueError:
        seconds = None
    if seconds is None or (positive and seconds <= 0):
        expected = _POSITIVE_DURATION if positive else _DURATION
        raise Wrong(expected + (f", or {alternative}" if alternative else ""))
    if seconds > MAX_DURATION_S:
        raise Wrong(f"a duration of at most {MAX_DURATION_TEXT}")
    return seconds


def _text_at_most(
    v: object, parse: Callable[[str], float], expected: str, maximum: float, too_big: str
) -> float:
    """``v`` as ``parse`` reads it: Wrong(``expected``) when ``v`` is not text or ``parse``
    raises ValueError, Wrong(``too_big``) when the value is above ``maximum``."""
    try:
        if not isinstance(v, str):
            raise ValueError
        value = parse(v)
    except ValueError:
        raise Wrong(expected) from None
    if value > maximum:
        raise Wrong(too_big)
    return value


def rate(v: object) -> float:
    """'500/s', '60/m' -> per second, > 0 and at most the highest rate."""
    return _text_at_most(v, parse_rate, _RATE, MAX_RATE, f"at most {MAX_RATE:.0f}/s")


def integer(v: object, minimum: int | None, maximum: int = MAX_INTEGER, why: str = "") -> int:
    """An integer (not a boolean) >= ``minimum`` and <= ``maximum`` (``why`` says why)."""
    if not isinstance(v, int) or isinstance(v, bool) or (minimum is not None and v < minimum):
        raise Wrong("an integer" if minimum is None else f"an integer >= {minimum}")
    low = -maximum if minimum is None else minimum
    if not low <= v <= maximum:
        raise Wrong(f"an integer from {low} to {maximum}" + (f" ({why})" if why else ""))
    return v


def bounded(v: object, high: int | None, expected: str) -> int:
    """An integer from 1 to ``high`` (no upper bound when None)."""
    if not isinstance(v, int) or isinstance(v, bool) or v < 1 or (high is not None and v > high):
        raise Wrong(expected)
    return v


#: what a Kafka topic name is
TOPIC_EXPECTED = (
    "a Kafka topic name: 1 to 249 of [A-Za-z0-9._-], not '.' or '..', not starting "
    "with '__' (internal topics)"
)
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"


def topic(v: object) -> str:
    if (
        not isinstance(v, str)
        or not re.fullmatch(TOPIC_PATTERN[1:-1], v)
        or v in (".", "..")
        or v.startswith("__")
    ):
        raise Wrong(TOPIC_EXPECTED)
    return v


#: what a scenario name is
NAME_EXPECTED = "a name like 'pg-async-partition' ([A-Za-z0-9][A-Za-z0-9._-]*)"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
TIME_SCALE_EXPECTED = (
    "a number >= 1: how many times faster than real time the run replays the file's "
    "timeline (60 replays 10 minutes in 10 s)"
)


def scenario_name(v: object) -> str:
    """A scenario's name: it names the run's directory."""
    if not isinstance(v, str) or not re.fullmatch(NAME_PATTERN[1:-1], v):
        raise Wrong(NAME_EXPECTED)
    if len(v) > MAX_NAME:
        raise Wrong(
            f"{NAME_EXPECTED} of at most {MAX_NAME} characters (it names the run's directory)",
            given=f"a name of {len(v)} characters",
        )
    return v


def text(v: object) -> str:
    if not isinstance(v, str):
        raise Wrong("text")
    return v


def number(v: object, minimum: float, maximum: float, expected: str) -> float:
    """A finite number (not a boolean) from ``minimum`` to ``maximum``."""
    if (
        not isinstance(v, int | float)
        or isinstance(v, bool)
        or not float("-inf") < v < float("inf")
        or v < minimum
    ):
        raise Wrong(expected)
    if v > maximum:
        raise Wrong(f"{expected}; at most {maximum:g}")
    return float(v)


REPLICA_NAME_EXPECTED = "a name like 'replica1' ([a-z][a-z0-9_]*)"
REPLICA_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
RESERVED_NAMES = ("primary", "client", MOST_UP_TO_DATE)
REPLICATION_MODES: tuple[str, ...] = get_args(ReplicationMode)


def replica_name(v: object) -> str:
    """A replica's name: a directory name and PostgreSQL's application_name."""
    if not isinstance(v, str) or not re.fullmatch(REPLICA_NAME_PATTERN[1:-1], v):
        raise Wrong(REPLICA_NAME_EXPECTED)
    if len(v) > MAX_NODE_NAME:
        raise Wrong(
            f"a name of at most {MAX_NODE_NAME} characters (PostgreSQL's limit for "
            "application_name, which names the replica)",
            given=f"a name of {len(v)} characters",
        )
    if v in RESERVED_NAMES:
        raise Wrong("a name other than primary, client and most_up_to_date (reserved)")
    return v


def replication_mode(v: object) -> str:
    if not isinstance(v, str) or v not in REPLICATION_MODES:
        raise Wrong("one of " + ", ".join(REPLICATION_MODES))
    return v


SYNC_COMMITS: tuple[str, ...] = get_args(SyncCommit)


def sync_commit(v: object) -> str:
    """PostgreSQL's synchronous_commit; YAML's booleans (a bare on/off) read as on/off."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if not isinstance(v, str) or v not in SYNC_COMMITS:
        raise Wrong("one of " + ", ".join(SYNC_COMMITS))
    return v


def offset(v: object) -> float:
    """A signed duration: '30s', '+30s', '-2m' -> seconds."""
    try:
        if not isinstance(v, str):
            raise ValueError
        sign = -1.0 if v.startswith("-") else 1.0
        seconds = parse_duration(v[1:] if v[:1] in "+-" else v)
    except ValueError:
        raise Wrong(_OFFSET) from None
    if seconds > MAX_DURATION_S:
        raise Wrong(f"an offset of at most {MAX_DURATION_TEXT}")
    return sign * seconds


def bandwidth(v: object) -> float:
    """'64KB/s', '1MB/s' -> KB/s, > 0 and at most the highest bandwidth."""
    return _text_at_most(v, _parse_bandwidth, _BANDWIDTH, MAX_BANDWIDTH_KBPS, "at most 10000MB/s")


def choice(options: tuple[str, ...]) -> Callable[[object], str]:
    """A check that the value is one of ``options``."""

    def check(v: object) -> str:
        if not isinstance(v, str) or v not in options:
            raise Wrong("one of " + ", ".join(options))
        return v

    return check


def boolean(v: object) -> bool:
    if not isinstance(v, bool):
        raise Wrong("true or false")
    return v


def acks(v: object) -> str:
    """Kafka producer acks: "0", "1" or "all" (YAML's integers 0 and 1 accepted)."""
    if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
        return str(v)
    if isinstance(v, str) and v in ("0", "1", "all"):
        return v
    raise Wrong("one of 0, 1, all (write -1 as all)")


def pydantic_error(e: Wrong) -> PydanticCustomError:
    """``e`` as the error pydantic collects: its ctx carries ``expected``."""
    ctx = {"expected": e.expected, **({"given": e.given} if e.given is not None else {})}
    return PydanticCustomError(ERROR_TYPE, "{expected}", ctx)


def _pydantic(check: Callable[[object], Any]) -> PlainValidator:
    """``check`` as a pydantic validator: ``Wrong`` becomes an error carrying ``expected``."""

    def validate(v: object) -> Any:
        try:
            return check(v)
        except Wrong as e:
            raise pydantic_error(e) from None

    return PlainValidator(validate)


def _file(schema: dict[str, object]) -> WithJsonSchema:
    """How the value is written in the file, for the JSON Schema."""
    return WithJsonSchema(schema)


_DURATION_FORM = _file({"type": "string", "pattern": DURATION_PATTERN})
_RATE_FORM = _file({"type": "string", "pattern": RATE_PATTERN})
_BOOLEAN_FORM = _file({"type": "boolean"})

Duration = Annotated[float, _pydantic(duration), _DURATION_FORM]
PositiveDuration = Annotated[float, _pydantic(lambda v: duration(v, positive=True)), _DURATION_FORM]
OptionalDuration = Annotated[float | None, _pydantic(duration), _DURATION_FORM]
OptionalPositiveDuration = Annotated[
    float | None, _pydantic(lambda v: duration(v, positive=True)), _DURATION_FORM
]
Rate = Annotated[float, _pydantic(rate), _RATE_FORM]
Boolean = Annotated[bool, _pydantic(boolean), _BOOLEAN_FORM]
Acks = Annotated[str, _pydantic(acks), _file({"enum": [0, 1, "0", "1", "all"]})]
Concurrency = Annotated[
    int,
    _pydantic(
        lambda v: integer(
            v, 1, MAX_CONCURRENCY, "each writer is a thread with a connection of its own"
        )
    ),
    _file({"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY}),
]
OptionalLossCount = Annotated[
    int | None,
    _pydantic(lambda v: integer(v, 0)),
    _file({"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}),
]
Brokers = Annotated[
    int,
    _pydantic(
        lambda v: bounded(
            v, MAX_BROKERS, f"an integer from 1 to {MAX_BROKERS}: the number of brokers"
        )
    ),
    _file({"type": "integer", "minimum": 1, "maximum": MAX_BROKERS}),
]
Partitions = Annotated[
    int,
    _pydantic(lambda v: integer(v, 1, MAX_PARTITIONS, "partitions of one topic")),
    _file({"type": "integer", "minimum": 1, "maximum": MAX_PARTITIONS}),
]
Topic = Annotated[str, _pydantic(topic), _file({"type": "string", "pattern": TOPIC_PATTERN})]
SyncCommitValue = Annotated[
    str,
    _pydantic(sync_commit),
    _file({"anyOf": [{"enum": list(SYNC_COMMITS)}, {"type": "boolean"}]}),
]
NumSync = Annotated[
    int, _pydantic(lambda v: integer(v, 1)), _file({"type": "integer", "minimum": 1})
]


def checked_elsewhere(form: object) -> PlainValidator:
    """A key the section's checker reads itself (its problems are at lines inside it);
    ``form`` is how it is written, for the JSON Schema."""
    return PlainValidator(lambda v: v, json_schema_input_type=form)


ScenarioName = Annotated[
    str | None,
    _pydantic(scenario_name),
    _file({"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME}),
]
Text = Annotated[str | None, _pydantic(text), _file({"type": "string"})]
_BACKENDS = ("local", "docker")
Backend = Annotated[str | None, _pydantic(choice(_BACKENDS)), _file({"enum": list(_BACKENDS)})]
Seed = Annotated[
    int,
    _pydantic(lambda v: integer(v, None)),
    _file({"type": "integer", "minimum": -MAX_INTEGER, "maximum": MAX_INTEGER}),
]
TimeScale = Annotated[
    float,
    _pydantic(lambda v: number(v, 1.0, MAX_TIME_SCALE, TIME_SCALE_EXPECTED)),
    _file({"type": "number", "minimum": 1, "maximum": MAX_TIME_SCALE}),
]
ReplicaName = Annotated[
    str,
    _pydantic(replica_name),
    _file({"type": "string", "pattern": REPLICA_NAME_PATTERN, "maxLength": MAX_NODE_NAME}),
]
ReplicationModeValue = Annotated[
    str, _pydantic(replication_mode), _file({"enum": list(REPLICATION_MODES)})
]


PARTITION_MODES = ("blackhole", "reset")
DIRECTIONS = ("both", "upstream", "downstream")
CRASH_LINKS = ("cut", "keep")
PartitionMode = Annotated[
    str, _pydantic(choice(PARTITION_MODES)), _file({"enum": list(PARTITION_MODES)})
]
Direction = Annotated[str, _pydantic(choice(DIRECTIONS)), _file({"enum": list(DIRECTIONS)})]
CrashLinks = Annotated[str, _pydantic(choice(CRASH_LINKS)), _file({"enum": list(CRASH_LINKS)})]
#: what ``process:`` may name on a pause: a PostgreSQL server process (plain PostgreSQL) or
#: Patroni (manager: patroni); which one a topology takes is a cross-section rule
#: (``rules.process_steps``)
PAUSE_PROCESS_VALUES: tuple[str, ...] = (*PAUSE_PROCESSES, *PATRONI_PROCESSES["pause"])
PAUSE_PROCESS_EXPECTED = (
    "one of "
    + ", ".join(PAUSE_PROCESSES)
    + " (a PostgreSQL server process), or "
    + " or ".join(PATRONI_PROCESSES["pause"])
    + " (manager: patroni: Patroni alone)"
)
#: what ``process:`` may name on a crash (manager: patroni only)
CRASH_PROCESS_VALUES: tuple[str, ...] = PATRONI_PROCESSES["crash"]
CRASH_PROCESS_EXPECTED = (
    " or ".join(CRASH_PROCESS_VALUES) + " (manager: patroni: the postmaster tree alone, "
    "Patroni restarts it), or no process (the whole node)"
)


def _process(options: tuple[str, ...], expected: str) -> Callable[[object], str]:
    def check(v: object) -> str:
        if not isinstance(v, str) or v not in options:
            raise Wrong(expected)
        return v

    return check


PauseProcess = Annotated[
    str | None,
    _pydantic(_process(PAUSE_PROCESS_VALUES, PAUSE_PROCESS_EXPECTED)),
    _file({"enum": list(PAUSE_PROCESS_VALUES)}),
]
CrashProcess = Annotated[
    str | None,
    _pydantic(_process(CRASH_PROCESS_VALUES, CRASH_PROCESS_EXPECTED)),
    _file({"enum": list(CRASH_PROCESS_VALUES)}),
]
Bandwidth = Annotated[
    float, _pydantic(bandwidth), _file({"type": "string", "pattern": BANDWIDTH_PATTERN})
]
Offset = Annotated[float, _pydantic(offset), _file({"type": "string", "pattern": OFFSET_PATTERN})]
DRIFT_EXPECTED = "a number of microseconds per second (ppm), e.g. 50 or -20"
DriftPpm = Annotated[
    float,
    _pydantic(lambda v: number(v, -1e6, MAX_DRIFT_PPM, DRIFT_EXPECTED)),
    _file({"type": "number", "minimum": -1e6, "maximum": MAX_DRIFT_PPM}),
]
