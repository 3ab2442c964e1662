"""The checker's shapes and scalars: a mapping with known keys, text, choices, integers,
durations, rates, sizes; each reports a problem and returns None when the value is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import rpochaos.scenario.fields as value_checks
from rpochaos.scenario.keys import (
    _DECLARE,
    _EXPECT_KEYS,
    _KAFKA_TOPOLOGY_KEYS,
    _KAFKA_WORKLOAD_KEYS,
    _REPLICATION_MODES,
    _SYNC_COMMITS,
    _TOPOLOGY_KEYS,
    _WORKLOAD_KEYS,
)
from rpochaos.scenario.limits import (
    MAX_INTEGER,
    MAX_SIZE,
)
from rpochaos.scenario.messages import (
    _BETWEEN,
    _DURATION,
    _MISSING,
    _POSITIVE_DURATION,
    _RATE,
    _SIZE,
    _join,
    _one_of,
    _suggest,
)
from rpochaos.scenario.model import (
    MAX_BROKERS,
    Between,
)
from rpochaos.scenario.source import _Y, _given, _Source
from rpochaos.scenario.units import (
    parse_size,
)

_T = TypeVar("_T")
_N = TypeVar("_N", int, float)


class _Values(_Source):
    # -- structure --------------------------------------------------------------------------

    def mapping(
        self,
        y: _Y | None,
        path: str,
        line: int | None,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        elsewhere: Sequence[str] = (),
        elsewhere_note: str = "",
    ) -> dict[str, tuple[int, _Y]] | None:
        """Check that ``y`` is a mapping with known keys and every required key.

        ``line`` is where the mapping is named (its key's line). Returns the entries, or None
        if ``y`` is missing or not a mapping (having reported it when it is not). An unknown
        key in ``elsewhere`` (another system's key) is explained with ``elsewhere_note``.
        """
        if y is None:
            return None
        if y.kind != "map":
            self.add(
                y.line, path or "(file)", _given(y), "a mapping with keys " + ", ".join(allowed)
            )
            return None
        for key, (kline, _) in y.entries.items():
            if key not in allowed:
                hint = f" ({key} belongs to {elsewhere_note})" if key in elsewhere else ""
                self.add(
                    kline,
                    _join(path, key),
                    repr(key),
                    "a known key: " + ", ".join(allowed) + (hint or _suggest(key, allowed)),
                )
        for key in required:
            if key not in y.entries:
                self.add(line, _join(path, key), _MISSING, self._describe(path, key))
        return {k: v for k, v in y.entries.items() if k in allowed}

    def _describe(self, path: str, key: str) -> str:
        kafka = self.system == "kafka"
        topology_keys = _KAFKA_TOPOLOGY_KEYS if kafka else _TOPOLOGY_KEYS
        workload_keys = _KAFKA_WORKLOAD_KEYS if kafka else _WORKLOAD_KEYS
        return {
            "system": "'postgres' or 'kafka'",
            "topology": "a mapping with keys " + ", ".join(topology_keys),
            "workload": "a mapping with keys " + ", ".join(workload_keys),
            "brokers": f"an integer from 1 to {MAX_BROKERS}: the number of brokers",
            "replication_factor": "an integer from 1 to topology.brokers",
            "min_insync_replicas": "an integer from 1 to topology.replication_factor: declare "
            "it, it is a durability knob (Kafka's default is 1)",
            "unclean_leader_election": "true or false: declare it, it is a durability knob "
            "(Kafka's default is false)",
            "acks": f"one of 0, 1, all: {_DECLARE} (kafka-python 2.x: 1, 3.x: all)",
            "enable_idempotence": f"true or false: {_DECLARE} (kafka-python 2.x: false, 3.x: true)",
            "expect": "a mapping with keys " + ", ".join(_EXPECT_KEYS),
            "schedule": "a list of steps, exactly one with outage: true",
            "synchronous_commit": _one_of(_SYNC_COMMITS),
            "replicas": "a list of replicas (may be empty)",
            "mode": _one_of(_REPLICATION_MODES),
            "name": "a name like 'replica1' ([a-z][a-z0-9_]*)",
            "rate": _RATE,
            "duration": _POSITIVE_DURATION,
            "at": _DURATION,
            "rpo": _DURATION,
            "between": "[LOW, HIGH]: two durations",
            "choose": "a list of targets to choose from",
            "timeout": "a duration > 0 like '60s': archive_timeout (declare it: it bounds what "
            "archive recovery loses)",
        }.get(key, "a value")

    # -- scalars ----------------------------------------------------------------------------

    def string(self, y: _Y | None, path: str, expected: str = "text") -> str | None:
        if y is None:
            return None
        if y.kind != "scalar" or not isinstance(y.value, str):
            self.add(y.line, path, _given(y), expected)
            return None
        return y.value

    def checked(self, y: _Y | None, path: str, check: Callable[[object], _T]) -> _T | None:
        """``y``'s value through one of ``fields``' checks; a problem (and None) if wrong."""
        if y is None:
            return None
        try:
            return check(y.value if y.kind == "scalar" else None)
        except value_checks.Wrong as e:
            self.add(y.line, path, _given(y), e.expected)
            return None

    def integer(
        self,
        y: _Y | None,
        path: str,
        minimum: int | None,
        maximum: int = MAX_INTEGER,
        why: str = "",
    ) -> int | None:
        """An integer >= ``minimum`` (any sign when None) and <= ``maximum`` (``why`` says
        what the upper bound protects)."""
        return self.checked(y, path, lambda v: value_checks.integer(v, minimum, maximum, why))

    def duration(
        self, y: _Y | None, path: str, positive: bool = False, alternative: str = ""
    ) -> float | None:
        return self.checked(y, path, lambda v: value_checks.duration(v, positive, alternative))

    def time_value(self, y: _Y | None, path: str, positive: bool) -> float | Between | None:
        """A duration, or ``{between: [LOW, HIGH]}`` (a random one)."""
        if y is None:
            return None
        if y.kind != "map":
            return self.duration(y, path, positive, alternative=_BETWEEN + " for a random one")
        entries = self.mapping(y, path, y.line, ("between",), ("between",))
        if entries is None or "between" not in entries:
            return None
        b = entries["between"][1]
        bpath = f"{path}.between"
        low_text = "0 < LOW" if positive else "LOW"
        expected = f"two durations [LOW, HIGH] with {low_text} <= HIGH, like [2s, 4s]"
        if b.kind != "seq" or len(b.items) != 2:
            given = f"a list of {len(b.items)}" if b.kind == "seq" else _given(b)
            self.add(b.line, bpath, given, expected)
            return None
        low = self.duration(b.items[0], f"{bpath}[0]", positive)
        high = self.duration(b.items[1], f"{bpath}[1]", positive)
        if low is None or high is None:
            return None
        if low > high:
            self.add(b.line, bpath, f"[{b.items[0].raw}, {b.items[1].raw}]", expected)
            return None
        return Between(low, high)

    def size(self, y: _Y | None, path: str) -> int | None:
        return self.at_most(y, path, self.parsed(y, path, parse_size, _SIZE), MAX_SIZE, "1024GB")

    def at_most(
        self, y: _Y | None, path: str, value: _N | None, maximum: float, shown: str
    ) -> _N | None:
        """``value`` (already checked) if it is <= ``maximum``, else a problem and None."""
        if y is None or value is None or value <= maximum:
            return value
        self.add(y.line, path, _given(y), f"at most {shown}")
        return None

    def parsed(
        self, y: _Y | None, path: str, parse: Callable[[str], _T], expected: str
    ) -> _T | None:
        """A text value run through ``parse``; a problem (and None) when it is not text or
        ``parse`` raises ValueError."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            return parse(v)
        except ValueError:
            self.add(y.line, path, _given(y), expected)
            return None

    def boolean(self, y: _Y | None, path: str) -> bool | None:
        return self.checked(y, path, value_checks.boolean)
