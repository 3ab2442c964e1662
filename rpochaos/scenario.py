"""Scenario files: load, validate, and the resolved model.

A scenario is data, validated before anything starts. ``load(path)`` returns a ``Scenario``
or raises ``ScenarioError`` listing *every* problem at once, each with file, line, key,
what was given and what was expected.

File format (YAML)::

    # comment: what this demonstrates and what outcome to expect
    name: pg-async-partition-crash      # optional, defaults to the file's stem
    description: ...                    # optional
    system: postgres                    # required; only "postgres" for now
    seed: 7                             # optional int, default 0
    topology:
      synchronous_commit: "on"          # required: off | local | remote_write | on | remote_apply
                                        #   (YAML's bare on/off booleans are accepted as "on"/"off")
      num_sync: 1                       # optional int >= 1, default 1: FIRST n / ANY n
      replicas:                         # required list (may be empty)
        - name: replica1                # [a-z][a-z0-9_]*, unique, not "primary" or "client"
          mode: async                   # required: async | sync | quorum (no sync+quorum mix)
      settings:                         # optional map of extra PostgreSQL settings (str/int/float)
        wal_sender_timeout: 10s
    workload:
      rate: 500/s                       # required: N/s or N/m, > 0
      concurrency: 4                    # optional int >= 1, default 1
      duration: 12s                     # required duration > 0
      commit_timeout: 1s                # optional duration: the client cancels a commit still
                                        #   waiting after this long (PostgreSQL cancel request)
      connect_timeout: 1s               # optional duration, default 1s
    schedule:                           # list of steps; each has exactly one action key
      - at: 3s                          # required duration, < workload.duration
        partition: replica1->primary    # action: target
        mode: blackhole                 # partition only: blackhole | reset (required)
        direction: both                 # partition: both | upstream | downstream (default both)
        for: 5s                         # optional duration; without it the fault lasts to the end
      - at: 4s
        latency: client->primary
        delay: 200ms                    # latency only, required
        jitter: 0ms                     # latency only, optional
      - at: 5s
        bandwidth: replica1->primary
        rate: 64KB/s                    # bandwidth only, required, KB/s > 0
      - at: 8s
        crash: primary                  # crash | restart | promote take a node name
        links: cut                      # crash only: cut (default) | keep; see below
        outage: true                    # exactly one step must declare the outage
      - at: 8500ms
        promote: replica1               # promote takes a replica
    expect:
      rpo: 1s                           # required duration >= 0
      max_lost: 0                       # optional int assertions
      min_lost: 1
      max_rto: 5s                       # optional duration

A crash kills every process of the node at once (SIGKILL). With ``links: cut`` (the default)
it also cuts, at the same instant, every proxied link to and from the node, dropping what is
still in flight through them: the node's host and its network die together, as in a machine
or zone loss. With ``links: keep`` only the processes die; the kernel still delivers what
they had already handed to their sockets (a process crash on a live host).

Links are named by direction: ``<replica>->primary`` for each replica's replication link and
``client-><node>`` for the workload's path to each node. Durations: ``250ms``, ``5s``, ``1.5s``,
``2m`` (a bare number is an error). Rates: ``1000/s``, ``60/m``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import yaml

from rpochaos.errors import Problem, ScenarioError

ReplicationMode = Literal["async", "sync", "quorum"]
SyncCommit = Literal["off", "local", "remote_write", "on", "remote_apply"]
Action = Literal["partition", "latency", "bandwidth", "crash", "restart", "promote"]
#: actions whose target is a link ("a->b"); the others target a node
LINK_ACTIONS: frozenset[str] = frozenset({"partition", "latency", "bandwidth"})
NODE_ACTIONS: frozenset[str] = frozenset({"crash", "restart", "promote"})


@dataclass(frozen=True)
class Replica:
    name: str
    mode: ReplicationMode


@dataclass(frozen=True)
class Topology:
    synchronous_commit: SyncCommit
    replicas: tuple[Replica, ...]
    num_sync: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # values rendered as strings

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node name, primary first."""
        return ("primary", *(r.name for r in self.replicas))

    @property
    def links(self) -> tuple[str, ...]:
        """Every faultable link: each replica's replication link, then client->node."""
        return (
            *(f"{r.name}->primary" for r in self.replicas),
            *(f"client->{n}" for n in self.nodes),
        )

    @property
    def synchronous_standby_names(self) -> str:
        """The value PostgreSQL gets: '' (all async), 'FIRST n (a, b)' or 'ANY n (a, b)'."""
        sync = [r.name for r in self.replicas if r.mode == "sync"]
        quorum = [r.name for r in self.replicas if r.mode == "quorum"]
        if quorum:
            return f"ANY {self.num_sync} ({', '.join(quorum)})"
        if sync:
            return f"FIRST {self.num_sync} ({', '.join(sync)})"
        return ""


@dataclass(frozen=True)
class Workload:
    rate: float  # writes per second
    duration: float  # seconds
    concurrency: int = 1
    commit_timeout: float | None = None  # seconds
    connect_timeout: float = 1.0  # seconds


@dataclass(frozen=True)
class Step:
    """One scheduled action. ``params`` holds the action's own keys, already parsed:
    partition: mode (str), direction (str); latency: delay (s, float), jitter (s, float);
    bandwidth: rate_kbps (float). Node actions have no params."""

    index: int  # position in the schedule list, 0-based
    at: float  # seconds after the workload starts
    action: Action
    target: str  # link ("replica1->primary") or node ("primary")
    duration: float | None = None  # 'for', seconds; None = until the end of the run
    outage: bool = False
    params: dict[str, str | float] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class Expect:
    rpo: float  # seconds
    max_lost: int | None = None
    min_lost: int | None = None
    max_rto: float | None = None  # seconds


@dataclass(frozen=True)
class Scenario:
    name: str
    system: Literal["postgres"]
    topology: Topology
    workload: Workload
    schedule: tuple[Step, ...]  # sorted by 'at', ties in file order
    expect: Expect
    seed: int = 0
    description: str = ""
    path: Path | None = None  # the file it came from, if any

    @property
    def outage_step(self) -> Step:
        """The step that declares the outage (validation guarantees exactly one)."""
        return next(s for s in self.schedule if s.outage)


# --------------------------------------------------------------------------------------------
# Durations and rates

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION_RE = re.compile(_NUMBER + r"(ms|s|m)")
_RATE_RE = re.compile(_NUMBER + r"/(s|m)")
_BANDWIDTH_RE = re.compile(_NUMBER + r"(KB|kB|MB)/s")
_DURATION_UNITS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
}
_RATE_UNITS: dict[str, Fraction] = {"s": Fraction(1), "m": Fraction(1, 60)}
#: KB per unit; 1 MB/s = 1000 KB/s
_BANDWIDTH_UNITS: dict[str, Fraction] = {"KB": Fraction(1), "kB": Fraction(1), "MB": Fraction(1000)}


def _to_float(value: Fraction, text: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{text!r} is too large") from None


def parse_duration(text: str) -> float:
    """'250ms' -> 0.25, '5s' -> 5.0, '1.5s' -> 1.5, '2m' -> 120.0. Raises ValueError otherwise."""
    m = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '250ms', '5s' or '2m'")
    return _to_float(Fraction(m.group(1)) * _DURATION_UNITS[m.group(2)], text)


def parse_rate(text: str) -> float:
    """'1000/s' -> 1000.0, '60/m' -> 1.0 (per second). Raises ValueError otherwise."""
    m = _RATE_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a rate like '1000/s' or '60/m'")
    value = Fraction(m.group(1)) * _RATE_UNITS[m.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} is not a rate > 0")
    return _to_float(value, text)


def _parse_bandwidth(text: str) -> float:
    """'64KB/s' -> 64.0, '1MB/s' -> 1000.0 (KB/s). Raises ValueError otherwise."""
    m = _BANDWIDTH_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a bandwidth like '64KB/s'")
    value = Fraction(m.group(1)) * _BANDWIDTH_UNITS[m.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} is not a bandwidth > 0")
    return _to_float(value, text)


# --------------------------------------------------------------------------------------------
# The YAML tree, with lines

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_SCENARIO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: settings rpochaos sets itself (from the topology, or to run the cluster)
_MANAGED_SETTINGS = frozenset(
    {
        "synchronous_commit",
        "synchronous_standby_names",
        "port",
        "listen_addresses",
        "unix_socket_directories",
        "cluster_name",
    }
)
_REPLICATION_MODES: tuple[str, ...] = ("async", "sync", "quorum")
_SYNC_COMMITS: tuple[str, ...] = ("off", "local", "remote_write", "on", "remote_apply")
_ACTIONS: tuple[str, ...] = ("partition", "latency", "bandwidth", "crash", "restart", "promote")
_ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "partition": ("mode", "direction"),
    "latency": ("delay", "jitter"),
    "bandwidth": ("rate",),
    "crash": ("links",),
    "restart": (),
    "promote": (),
}
#: actions that may last ('for'); restart and promote are instantaneous
_ACTIONS_WITH_FOR = frozenset({"partition", "latency", "bandwidth", "crash"})
_PARTITION_MODES: tuple[str, ...] = ("blackhole", "reset")
_DIRECTIONS: tuple[str, ...] = ("both", "upstream", "downstream")
_STEP_KEYS: tuple[str, ...] = (
    "at",
    *_ACTIONS,
    "mode",
    "direction",
    "delay",
    "jitter",
    "rate",
    "links",
    "for",
    "outage",
)
_CRASH_LINKS: tuple[str, ...] = ("cut", "keep")
_TOP_KEYS = ("name", "description", "system", "seed", "topology", "workload", "schedule", "expect")
_TOPOLOGY_KEYS = ("synchronous_commit", "num_sync", "replicas", "settings")
_REPLICA_KEYS = ("name", "mode")
_WORKLOAD_KEYS = ("rate", "concurrency", "duration", "commit_timeout", "connect_timeout")
_EXPECT_KEYS = ("rpo", "max_lost", "min_lost", "max_rto")

_DURATION = "a duration like '250ms', '5s' or '2m'"
_POSITIVE_DURATION = "a duration > 0 like '250ms', '5s' or '2m'"
_RATE = "a rate > 0 like '500/s' or '60/m'"
_BANDWIDTH = "a bandwidth > 0 like '64KB/s', '64kB/s' or '1MB/s'"
_MISSING = "nothing"


def _one_of(options: Sequence[str]) -> str:
    return "one of " + ", ".join(options)


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class _Y:
    """A composed YAML node: a scalar (``value``), a mapping (``entries``) or a list (``items``)."""

    kind: Literal["scalar", "map", "seq"]
    line: int
    value: object = None
    raw: str = ""
    items: list[_Y] = field(default_factory=list)
    #: key -> (line of the key, value); the first occurrence of a duplicated key wins
    entries: dict[str, tuple[int, _Y]] = field(default_factory=dict)


def _given(y: _Y | None) -> str:
    """How a value is shown in a problem: what was written in the file."""
    if y is None:
        return _MISSING
    if y.kind == "map":
        return "a mapping" if y.entries else "an empty mapping"
    if y.kind == "seq":
        return "a list" if y.items else "an empty list"
    v = y.value
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return y.raw if y.raw else "an empty value"
    return y.raw if y.raw else repr(v)


class _Checker:
    """Walks the tree, collecting every problem, and builds the model if there are none."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.run_for: float | None = None  # workload.duration, once known to be valid

    def add(self, line: int | None, key: str, given: str, expected: str) -> None:
        self.problems.append(Problem(self.file, line, key, given, expected))

    # -- tree building ----------------------------------------------------------------------

    def tree(self, text: str) -> _Y | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else None
            what = " ".join(str(s) for s in (e.context, e.problem) if s) or "invalid YAML"
            self.add(line, "(file)", f"invalid YAML ({what})", "well-formed YAML")
            return None
        except yaml.YAMLError as e:
            self.add(None, "(file)", f"invalid YAML ({e})", "well-formed YAML")
            return None
        except RecursionError:
            self.add(None, "(file)", "YAML nested too deeply", "a scenario of ordinary depth")
            return None
        if root is None:
            self.add(1, "(file)", "an empty file", "a mapping with keys " + ", ".join(_TOP_KEYS))
            return None
        loader = yaml.SafeLoader("")
        try:
            return self._convert(root, "", loader, {}, set())
        except RecursionError:
            self.add(None, "(file)", "YAML nested too deeply", "a scenario of ordinary depth")
            return None
        finally:
            loader.dispose()

    def _convert(
        self,
        node: yaml.Node,
        path: str,
        loader: yaml.SafeLoader,
        done: dict[int, _Y],
        active: set[int],
    ) -> _Y:
        line = node.start_mark.line + 1
        if id(node) in done:  # an alias of a node already converted
            return done[id(node)]
        if id(node) in active:
            self.add(
                line, path or "(file)", "a recursive alias", "a value that does not contain itself"
            )
            return _Y("scalar", line)
        if isinstance(node, yaml.ScalarNode):
            try:
                value = loader.construct_object(node, deep=True)
            except yaml.YAMLError:
                self.add(
                    line, path or "(file)", f"{node.value!r} tagged {node.tag}", "a plain value"
                )
                value = None
            y = _Y("scalar", line, value=value, raw=str(node.value))
        elif isinstance(node, yaml.SequenceNode):
            active.add(id(node))
            y = _Y("seq", line)
            for i, item in enumerate(node.value):
                y.items.append(self._convert(item, f"{path}[{i}]", loader, done, active))
            active.discard(id(node))
        else:
            assert isinstance(node, yaml.MappingNode)
            active.add(id(node))
            y = _Y("map", line)
            for knode, vnode in node.value:
                kline = knode.start_mark.line + 1
                key: object = None
                if isinstance(knode, yaml.ScalarNode):
                    try:
                        key = loader.construct_object(knode, deep=True)
                    except yaml.YAMLError:
                        key = None
                if not isinstance(key, str):
                    shown = knode.value if isinstance(knode, yaml.ScalarNode) else "a collection"
                    self.add(kline, _join(path, str(shown)), f"key {shown!r}", "a text key")
                    continue
                kpath = _join(path, key)
                if key in y.entries:
                    first = y.entries[key][0]
                    self.add(
                        kline,
                        kpath,
                        f"{key!r} a second time",
                        f"each key once (first at line {first})",
                    )
                    continue
                y.entries[key] = (kline, self._convert(vnode, kpath, loader, done, active))
            active.discard(id(node))
        done[id(node)] = y
        return y

    # -- structure --------------------------------------------------------------------------

    def mapping(
        self,
        y: _Y | None,
        path: str,
        line: int | None,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, tuple[int, _Y]] | None:
        """Check that ``y`` is a mapping with known keys and every required key.

        ``line`` is where the mapping is named (its key's line). Returns the entries, or None
        if ``y`` is missing or not a mapping (having reported it when it is not).
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
                self.add(
                    kline,
                    _join(path, key),
                    repr(key),
                    "a known key: " + ", ".join(allowed) + _suggest(key, allowed),
                )
        for key in required:
            if key not in y.entries:
                self.add(line, _join(path, key), _MISSING, self._describe(path, key))
        return {k: v for k, v in y.entries.items() if k in allowed}

    @staticmethod
    def _describe(path: str, key: str) -> str:
        return {
            "system": "'postgres'",
            "topology": "a mapping with keys " + ", ".join(_TOPOLOGY_KEYS),
            "workload": "a mapping with keys " + ", ".join(_WORKLOAD_KEYS),
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
        }.get(key, "a value")

    # -- scalars ----------------------------------------------------------------------------

    def string(self, y: _Y | None, path: str, expected: str = "text") -> str | None:
        if y is None:
            return None
        if y.kind != "scalar" or not isinstance(y.value, str):
            self.add(y.line, path, _given(y), expected)
            return None
        return y.value

    def choice(self, y: _Y | None, path: str, options: Sequence[str]) -> str | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, str) or v not in options:
            self.add(y.line, path, _given(y), _one_of(options))
            return None
        return v

    def integer(self, y: _Y | None, path: str, minimum: int | None) -> int | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, int) or isinstance(v, bool) or (minimum is not None and v < minimum):
            expected = "an integer" if minimum is None else f"an integer >= {minimum}"
            self.add(y.line, path, _given(y), expected)
            return None
        return v

    def duration(self, y: _Y | None, path: str, positive: bool = False) -> float | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            seconds = parse_duration(v)
        except ValueError:
            seconds = None
        if seconds is None or (positive and seconds <= 0):
            self.add(y.line, path, _given(y), _POSITIVE_DURATION if positive else _DURATION)
            return None
        return seconds

    def rate(self, y: _Y | None, path: str) -> float | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            return parse_rate(v)
        except ValueError:
            self.add(y.line, path, _given(y), _RATE)
            return None

    def bandwidth(self, y: _Y | None, path: str) -> float | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        try:
            if not isinstance(v, str):
                raise ValueError
            return _parse_bandwidth(v)
        except ValueError:
            self.add(y.line, path, _given(y), _BANDWIDTH)
            return None

    def boolean(self, y: _Y | None, path: str) -> bool | None:
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if not isinstance(v, bool):
            self.add(y.line, path, _given(y), "true or false")
            return None
        return v

    # -- sections ---------------------------------------------------------------------------

    def topology(self, y: _Y | None, line: int | None) -> tuple[Topology | None, list[str] | None]:
        """The topology, and the replica names to check targets against (None: unknown)."""
        path = "topology"
        entries = self.mapping(y, path, line, _TOPOLOGY_KEYS, ("synchronous_commit", "replicas"))
        if entries is None:
            return None, None
        ok = True

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        sc_y = get("synchronous_commit")
        sync_commit: str | None = None
        if sc_y is not None:
            if sc_y.kind == "scalar" and isinstance(sc_y.value, bool):
                sync_commit = "on" if sc_y.value else "off"
            else:
                sync_commit = self.choice(sc_y, f"{path}.synchronous_commit", _SYNC_COMMITS)
        ok = ok and sync_commit is not None

        num_sync_y = get("num_sync")
        num_sync = self.integer(num_sync_y, f"{path}.num_sync", 1)
        ok = ok and (num_sync is not None or num_sync_y is None)

        replicas: list[Replica] = []
        names: list[str] | None = None
        rep_y = get("replicas")
        if rep_y is not None and rep_y.kind != "seq":
            self.add(rep_y.line, f"{path}.replicas", _given(rep_y), "a list of replicas")
            ok = False
        elif rep_y is not None:
            names = []
            first_sync: tuple[str, str] | None = None  # (mode, path) of the first sync/quorum
            n_sync = 0  # replicas whose (valid) mode is sync or quorum
            seen: dict[str, str] = {}
            for i, item in enumerate(rep_y.items):
                rpath = f"{path}.replicas[{i}]"
                r = self.mapping(item, rpath, item.line, _REPLICA_KEYS, _REPLICA_KEYS)
                if r is None:
                    ok = False
                    continue
                name: str | None = None
                if "name" in r:
                    name_y = r["name"][1]
                    if isinstance(name_y.value, str) and name_y.value not in names:
                        names.append(name_y.value)
                    name = self.string(name_y, f"{rpath}.name", self._describe(rpath, "name"))
                    if name is not None:
                        if not _NAME_RE.fullmatch(name):
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                self._describe(rpath, "name"),
                            )
                            name = None
                        elif name in ("primary", "client"):
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                "a name other than 'primary' and 'client' (they are reserved)",
                            )
                            name = None
                        elif name in seen:
                            self.add(
                                name_y.line,
                                f"{rpath}.name",
                                repr(name),
                                f"a unique name ({seen[name]} is already {name!r})",
                            )
                            name = None
                        else:
                            seen[name] = rpath
                mode: str | None = None
                if "mode" in r:
                    mode_y = r["mode"][1]
                    mode = self.choice(mode_y, f"{rpath}.mode", _REPLICATION_MODES)
                    if mode in ("sync", "quorum"):
                        if first_sync is None:
                            first_sync = (mode, rpath)
                        if first_sync[0] == mode:
                            n_sync += 1
                        else:
                            self.add(
                                mode_y.line,
                                f"{rpath}.mode",
                                repr(mode),
                                f"async or {first_sync[0]}: sync and quorum replicas can't be "
                                f"mixed ({first_sync[1]} is {first_sync[0]})",
                            )
                            mode = None
                if name is None or mode is None:
                    ok = False
                    continue
                replicas.append(Replica(name, cast(ReplicationMode, mode)))
            if num_sync is not None and num_sync_y is not None and 0 < n_sync < num_sync:
                self.add(
                    num_sync_y.line,
                    f"{path}.num_sync",
                    _given(num_sync_y),
                    f"at most {n_sync} (the number of sync/quorum replicas)",
                )
                ok = False

        settings: dict[str, str] = {}
        set_y = get("settings")
        if set_y is not None:
            if set_y.kind != "map":
                self.add(
                    set_y.line,
                    f"{path}.settings",
                    _given(set_y),
                    "a mapping of PostgreSQL settings",
                )
                ok = False
            else:
                for key, (kline, vy) in set_y.entries.items():
                    spath = f"{path}.settings.{key}"
                    if not _SETTING_RE.fullmatch(key):
                        self.add(kline, spath, repr(key), "a PostgreSQL setting name")
                        ok = False
                        continue
                    if key.lower() in _MANAGED_SETTINGS:
                        self.add(
                            kline,
                            spath,
                            repr(key),
                            "a setting rpochaos does not manage (it sets "
                            + ", ".join(sorted(_MANAGED_SETTINGS))
                            + " itself; use topology.synchronous_commit and replica modes)",
                        )
                        ok = False
                        continue
                    v = vy.value if vy.kind == "scalar" else None
                    if isinstance(v, bool):
                        settings[key] = "on" if v else "off"
                    elif isinstance(v, str | int | float):
                        settings[key] = str(v)
                    else:
                        self.add(vy.line, spath, _given(vy), "a string or a number")
                        ok = False

        if rep_y is None or not ok or sync_commit is None:
            return None, names
        topo = Topology(
            synchronous_commit=cast(SyncCommit, sync_commit),
            replicas=tuple(replicas),
            num_sync=num_sync if num_sync is not None else 1,
            settings=settings,
        )
        return topo, names

    def workload(self, y: _Y | None, line: int | None) -> Workload | None:
        path = "workload"
        entries = self.mapping(y, path, line, _WORKLOAD_KEYS, ("rate", "duration"))
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rate = self.rate(get("rate"), f"{path}.rate")
        duration = self.duration(get("duration"), f"{path}.duration", positive=True)
        self.run_for = duration
        conc_y = get("concurrency")
        concurrency = self.integer(conc_y, f"{path}.concurrency", 1)
        ct_y = get("commit_timeout")
        commit_timeout = self.duration(ct_y, f"{path}.commit_timeout", positive=True)
        cn_y = get("connect_timeout")
        connect_timeout = self.duration(cn_y, f"{path}.connect_timeout", positive=True)
        if (
            rate is None
            or duration is None
            or (conc_y is not None and concurrency is None)
            or (ct_y is not None and commit_timeout is None)
            or (cn_y is not None and connect_timeout is None)
        ):
            return None
        return Workload(
            rate=rate,
            duration=duration,
            concurrency=concurrency if concurrency is not None else 1,
            commit_timeout=commit_timeout,
            connect_timeout=connect_timeout if connect_timeout is not None else 1.0,
        )

    def expect(self, y: _Y | None, line: int | None) -> Expect | None:
        path = "expect"
        entries = self.mapping(y, path, line, _EXPECT_KEYS, ("rpo",))
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rpo = self.duration(get("rpo"), f"{path}.rpo")
        max_y, min_y, rto_y = get("max_lost"), get("min_lost"), get("max_rto")
        max_lost = self.integer(max_y, f"{path}.max_lost", 0)
        min_lost = self.integer(min_y, f"{path}.min_lost", 0)
        max_rto = self.duration(rto_y, f"{path}.max_rto")
        if min_lost is not None and max_lost is not None and min_lost > max_lost:
            assert min_y is not None
            self.add(
                min_y.line,
                f"{path}.min_lost",
                _given(min_y),
                f"at most expect.max_lost ({max_lost}), or no loss count could pass",
            )
            return None
        if (
            rpo is None
            or (max_y is not None and max_lost is None)
            or (min_y is not None and min_lost is None)
            or (rto_y is not None and max_rto is None)
        ):
            return None
        return Expect(rpo=rpo, max_lost=max_lost, min_lost=min_lost, max_rto=max_rto)

    def schedule(
        self,
        y: _Y | None,
        line: int | None,
        topology_names: list[str] | None,
        run_for: float | None,
    ) -> list[Step] | None:
        path = "schedule"
        if y is None:
            return None
        if y.kind != "seq":
            self.add(y.line, path, _given(y), self._describe("", "schedule"))
            return None
        steps: list[Step] = []
        ok = True
        outage_at: str | None = None  # path of the first step declaring the outage
        for i, item in enumerate(y.items):
            spath = f"{path}[{i}]"
            if item.kind != "map":
                self.add(
                    item.line, spath, _given(item), "a step: a mapping with 'at' and one action key"
                )
                ok = False
                continue
            step, is_outage = self.step(item, spath, i, topology_names, run_for)
            if is_outage:
                if outage_at is None:
                    outage_at = spath
                else:
                    oy = item.entries["outage"][1]
                    self.add(
                        oy.line,
                        f"{spath}.outage",
                        _given(oy),
                        f"at most one step with outage: true ({outage_at} already declares it)",
                    )
                    ok = False
            if step is None:
                ok = False
            else:
                steps.append(step)
        if outage_at is None:
            self.add(
                line,
                path,
                "no step with outage: true",
                "exactly one step with outage: true (the moment the outage begins)",
            )
            ok = False
        return sorted(steps, key=lambda s: s.at) if ok else None

    def step(
        self,
        y: _Y,
        path: str,
        index: int,
        topology_names: list[str] | None,
        run_for: float | None,
    ) -> tuple[Step | None, bool]:
        """One step, and whether it (validly) declares the outage."""
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
        # unknown keys, and keys that belong to another action
        allowed: tuple[str, ...] = _STEP_KEYS
        if action is not None:
            allowed = (
                "at",
                action,
                *_ACTION_PARAMS[action],
                *(("for",) if action in _ACTIONS_WITH_FOR else ()),
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
            return entries[key][1] if key in entries else None

        # at
        at: float | None = None
        at_y = get("at")
        if at_y is None:
            self.add(y.line, f"{path}.at", _MISSING, _DURATION)
            ok = False
        else:
            at = self.duration(at_y, f"{path}.at")
            if at is not None and run_for is not None and at >= run_for:
                self.add(
                    at_y.line,
                    f"{path}.at",
                    _given(at_y),
                    f"a time before the end of the workload (workload.duration is {run_for:g}s)",
                )
                at = None
            ok = ok and at is not None

        # for
        duration: float | None = None
        for_y = get("for")
        if for_y is not None and "for" in allowed:
            duration = self.duration(for_y, f"{path}.for", positive=True)
            ok = ok and duration is not None

        # outage
        outage = False
        outage_y = get("outage")
        if outage_y is not None:
            b = self.boolean(outage_y, f"{path}.outage")
            ok = ok and b is not None
            outage = bool(b)

        if action is None:
            return None, outage

        # target
        target_y = entries[action][1]
        target = self.string(target_y, f"{path}.{action}", self._target_expected(action, None))
        if target is not None and topology_names is not None:
            valid = self._targets(action, topology_names)
            if target not in valid:
                self.add(
                    target_y.line,
                    f"{path}.{action}",
                    repr(target),
                    self._target_expected(action, valid) + _suggest(target, valid),
                )
                target = None
        ok = ok and target is not None

        # params
        params: dict[str, str | float] = {}
        if action == "partition":
            if get("mode") is None:
                self.add(y.line, f"{path}.mode", _MISSING, _one_of(_PARTITION_MODES))
                ok = False
            else:
                mode = self.choice(get("mode"), f"{path}.mode", _PARTITION_MODES)
                ok = ok and mode is not None
                params["mode"] = mode or ""
            direction = "both"
            if get("direction") is not None:
                d = self.choice(get("direction"), f"{path}.direction", _DIRECTIONS)
                ok = ok and d is not None
                direction = d or ""
            params["direction"] = direction
        elif action == "latency":
            if get("delay") is None:
                self.add(y.line, f"{path}.delay", _MISSING, _DURATION)
                ok = False
            else:
                delay = self.duration(get("delay"), f"{path}.delay")
                ok = ok and delay is not None
                params["delay"] = delay or 0.0
            jitter = 0.0
            if get("jitter") is not None:
                j = self.duration(get("jitter"), f"{path}.jitter")
                ok = ok and j is not None
                jitter = j or 0.0
            params["jitter"] = jitter
        elif action == "bandwidth":
            if get("rate") is None:
                self.add(y.line, f"{path}.rate", _MISSING, _BANDWIDTH)
                ok = False
            else:
                kbps = self.bandwidth(get("rate"), f"{path}.rate")
                ok = ok and kbps is not None
                params["rate_kbps"] = kbps or 0.0
        elif action == "crash":
            links = "cut"
            if get("links") is not None:
                lk = self.choice(get("links"), f"{path}.links", _CRASH_LINKS)
                ok = ok and lk is not None
                links = lk or ""
            params["links"] = links

        if not ok or at is None or target is None:
            return None, outage
        step = Step(
            index=index,
            at=at,
            action=cast(Action, action),
            target=target,
            duration=duration,
            outage=outage,
            params=params,
            line=y.line,
        )
        return step, outage

    @staticmethod
    def _targets(action: str, replicas: list[str]) -> list[str]:
        if action in LINK_ACTIONS:
            topo = Topology("on", tuple(Replica(n, "async") for n in replicas))
            return list(topo.links)
        if action == "promote":
            return list(replicas)
        return ["primary", *replicas]

    @staticmethod
    def _target_expected(action: str, valid: list[str] | None) -> str:
        if action in LINK_ACTIONS:
            what = "a link like 'replica1->primary' or 'client->primary'"
        elif action == "promote":
            what = "a replica's name"
        else:
            what = "a node's name ('primary' or a replica's)"
        if valid is None:
            return what
        if not valid:
            return f"{what}, but there are no replicas in topology.replicas"
        return f"{what}; these exist: " + ", ".join(valid)

    # -- the whole file ---------------------------------------------------------------------

    def scenario(self, text: str, default_name: str, path: Path | None) -> Scenario | None:
        root = self.tree(text)
        if root is None:
            return None
        if root.kind != "map":
            self.add(
                root.line, "(file)", _given(root), "a mapping with keys " + ", ".join(_TOP_KEYS)
            )
            return None
        entries = self.mapping(
            root, "", root.line, _TOP_KEYS, ("system", "topology", "workload", "schedule", "expect")
        )
        assert entries is not None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        def key_line(key: str) -> int | None:
            return entries[key][0] if key in entries else None

        name = default_name
        name_y = get("name")
        if name_y is not None:
            expected = "a name like 'pg-async-partition' ([A-Za-z0-9][A-Za-z0-9._-]*)"
            n = self.string(name_y, "name", expected)
            if n is not None and not _SCENARIO_NAME_RE.fullmatch(n):
                self.add(name_y.line, "name", repr(n), expected)
            name = n or ""
        description = self.string(get("description"), "description") or ""
        system_y = get("system")
        if system_y is not None:
            v = system_y.value if system_y.kind == "scalar" else None
            if v != "postgres":
                self.add(
                    system_y.line,
                    "system",
                    _given(system_y),
                    "'postgres' (the only system supported for now)",
                )
        seed = self.integer(get("seed"), "seed", None) or 0
        topology, names = self.topology(get("topology"), key_line("topology"))
        workload = self.workload(get("workload"), key_line("workload"))
        schedule = self.schedule(get("schedule"), key_line("schedule"), names, self.run_for)
        expect = self.expect(get("expect"), key_line("expect"))
        if self.problems:
            return None
        assert topology is not None and workload is not None
        assert schedule is not None and expect is not None
        return Scenario(
            name=name,
            system="postgres",
            topology=topology,
            workload=workload,
            schedule=tuple(schedule),
            expect=expect,
            seed=seed,
            description=description,
            path=path,
        )


def _sorted(problems: list[Problem]) -> list[Problem]:
    """File order: by line (stable), problems without a line last."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _parse(text: str, source: str, default_name: str, path: Path | None) -> Scenario:
    checker = _Checker(source)
    scenario = checker.scenario(text, default_name, path)
    if checker.problems or scenario is None:
        raise ScenarioError(_sorted(checker.problems))
    return scenario


def loads(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``source`` names it in error messages."""
    stem = Path(source).stem if source.endswith((".yaml", ".yml")) else ""
    return _parse(text, source, stem or "scenario", None)


def load(path: str | Path) -> Scenario:
    """Load and validate one scenario file. Raises ScenarioError listing every problem."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        problem = Problem(str(p), None, "(file)", f"undecodable bytes ({e.reason})", "UTF-8 text")
        raise ScenarioError([problem]) from None
    return _parse(text, str(p), p.stem, p)


# --------------------------------------------------------------------------------------------
# Plain data, for the run record


def to_dict(scenario: Scenario) -> dict[str, object]:
    """The resolved scenario as plain JSON-able data (seconds as floats), for the run record."""
    t, w, e = scenario.topology, scenario.workload, scenario.expect
    return {
        "name": scenario.name,
        "description": scenario.description,
        "system": scenario.system,
        "seed": scenario.seed,
        "path": str(scenario.path) if scenario.path is not None else None,
        "topology": {
            "synchronous_commit": t.synchronous_commit,
            "num_sync": t.num_sync,
            "replicas": [{"name": r.name, "mode": r.mode} for r in t.replicas],
            "settings": dict(t.settings),
            "synchronous_standby_names": t.synchronous_standby_names,  # informative only
        },
        "workload": {
            "rate": float(w.rate),
            "duration": float(w.duration),
            "concurrency": w.concurrency,
            "commit_timeout": _opt_float(w.commit_timeout),
            "connect_timeout": float(w.connect_timeout),
        },
        "schedule": [
            {
                "index": s.index,
                "at": float(s.at),
                "action": s.action,
                "target": s.target,
                "duration": _opt_float(s.duration),
                "outage": s.outage,
                "params": {k: (v if isinstance(v, str) else float(v)) for k, v in s.params.items()},
                "line": s.line,
            }
            for s in scenario.schedule
        ],
        "expect": {
            "rpo": float(e.rpo),
            "max_lost": e.max_lost,
            "min_lost": e.min_lost,
            "max_rto": _opt_float(e.max_rto),
        },
    }


def _opt_float(x: float | None) -> float | None:
    return None if x is None else float(x)


def _bad(what: str, value: object, expected: str) -> ValueError:
    return ValueError(f"stored scenario: {what} is {value!r}, expected {expected}")


def _d(data: dict[str, object], key: str, where: str) -> dict[str, object]:
    v = data.get(key)
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise _bad(_join(where, key), v, "a mapping")
    return cast(dict[str, object], v)


def _l(data: dict[str, object], key: str, where: str) -> list[object]:
    v = data.get(key)
    if not isinstance(v, list):
        raise _bad(_join(where, key), v, "a list")
    return v


def _s(data: dict[str, object], key: str, where: str, options: Sequence[str] = ()) -> str:
    v = data.get(key)
    if not isinstance(v, str) or (options and v not in options):
        raise _bad(_join(where, key), v, _one_of(options) if options else "a string")
    return v


def _i(data: dict[str, object], key: str, where: str) -> int:
    v = data.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "an integer")
    return v


def _oi(data: dict[str, object], key: str, where: str) -> int | None:
    return None if data.get(key) is None else _i(data, key, where)


def _f(data: dict[str, object], key: str, where: str) -> float:
    v = data.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise _bad(_join(where, key), v, "a number")
    return float(v)


def _of(data: dict[str, object], key: str, where: str) -> float | None:
    return None if data.get(key) is None else _f(data, key, where)


def _as_dict(v: object, where: str) -> dict[str, object]:
    return _d({"": v}, "", where)


def from_dict(data: dict[str, object]) -> Scenario:
    """Inverse of ``to_dict`` (used by ``analyze`` on a stored run)."""
    t = _d(data, "topology", "")
    w = _d(data, "workload", "")
    e = _d(data, "expect", "")
    replicas = []
    for i, r in enumerate(_l(t, "replicas", "topology")):
        rd = _as_dict(r, f"topology.replicas[{i}]")
        where = f"topology.replicas[{i}]"
        mode = _s(rd, "mode", where, _REPLICATION_MODES)
        replicas.append(Replica(_s(rd, "name", where), cast(ReplicationMode, mode)))
    settings = {
        k: _s(_d(t, "settings", "topology"), k, "topology.settings")
        for k in _d(t, "settings", "topology")
    }
    steps = []
    for i, s in enumerate(_l(data, "schedule", "")):
        where = f"schedule[{i}]"
        sd = _as_dict(s, where)
        params: dict[str, str | float] = {}
        for k, v in _d(sd, "params", where).items():
            params[k] = v if isinstance(v, str) else _f({k: v}, k, f"{where}.params")
        outage = sd.get("outage")
        if not isinstance(outage, bool):
            raise _bad(f"{where}.outage", outage, "true or false")
        steps.append(
            Step(
                index=_i(sd, "index", where),
                at=_f(sd, "at", where),
                action=cast(Action, _s(sd, "action", where, _ACTIONS)),
                target=_s(sd, "target", where),
                duration=_of(sd, "duration", where),
                outage=outage,
                params=params,
                line=_oi(sd, "line", where),
            )
        )
    path = data.get("path")
    if path is not None and not isinstance(path, str):
        raise _bad("path", path, "a string or null")
    return Scenario(
        name=_s(data, "name", ""),
        system=cast(Literal["postgres"], _s(data, "system", "", ("postgres",))),
        topology=Topology(
            synchronous_commit=cast(
                SyncCommit, _s(t, "synchronous_commit", "topology", _SYNC_COMMITS)
            ),
            replicas=tuple(replicas),
            num_sync=_i(t, "num_sync", "topology"),
            settings=settings,
        ),
        workload=Workload(
            rate=_f(w, "rate", "workload"),
            duration=_f(w, "duration", "workload"),
            concurrency=_i(w, "concurrency", "workload"),
            commit_timeout=_of(w, "commit_timeout", "workload"),
            connect_timeout=_f(w, "connect_timeout", "workload"),
        ),
        schedule=tuple(steps),
        expect=Expect(
            rpo=_f(e, "rpo", "expect"),
            max_lost=_oi(e, "max_lost", "expect"),
            min_lost=_oi(e, "min_lost", "expect"),
            max_rto=_of(e, "max_rto", "expect"),
        ),
        seed=_i(data, "seed", ""),
        description=_s(data, "description", ""),
        path=Path(path) if path is not None else None,
    )
