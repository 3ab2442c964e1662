"""A scenario file's YAML as a tree of nodes that remember their line, and the base of the
checker: it collects every problem (file, line, key, given, expected) instead of stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import yaml

from rpochaos.errors import Problem
from rpochaos.scenario.keys import _TOP_KEYS
from rpochaos.scenario.limits import MAX_SHOWN
from rpochaos.scenario.messages import (
    _MISSING,
    _join,
)
from rpochaos.scenario.model import SystemName


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


class _Source:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        #: (line, key) of values the YAML loader could not read: reported once, when read
        self.unreadable: set[tuple[int, str]] = set()
        self.run_for: float | None = None  # workload.duration, once known to be valid
        #: whose rules apply: the declared system, or (when that is missing or wrong) the
        #: one the topology looks like
        self.system: SystemName = "postgres"
        self.scale = 1.0  # time_scale, once known (1 when missing or invalid)
        #: whether topology.archive is declared (None: the topology has problems of its own)
        self.archive: bool | None = None
        #: topology.manager is patroni (node->DCS links exist then)
        self.managed = False

    def add(self, line: int | None, key: str, given: str, expected: str) -> None:
        """Record a problem (none more for a value already reported as unreadable)."""
        if line is not None and (line, key) in self.unreadable:
            return
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
                    line,
                    path or "(file)",
                    f"{_shown(node.value)} tagged {node.tag}",
                    "a plain value",
                )
                value = None
            except ValueError:  # an integer past Python's digit limit, an impossible date
                self.add(line, path or "(file)", _shown(node.value), _ORDINARY)
                self.unreadable.add((line, path or "(file)"))
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
                    except (yaml.YAMLError, ValueError):
                        key = None
                if not isinstance(key, str):
                    shown = knode.value if isinstance(knode, yaml.ScalarNode) else "a collection"
                    short = _shorten(str(shown))
                    kpath = _join(path, short) if short else path or "(file)"
                    given = f"key {short!r}" if short else "an empty key"
                    self.add(kline, kpath, given, "a text key")
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
        return _shown(v)
    if v is None:
        return _shorten(y.raw) if y.raw else "an empty value"
    return _shorten(y.raw) if y.raw else _shorten(repr(v))


#: what a value past the YAML loader's limits is expected to be
_ORDINARY = "a value of ordinary size (an integer has at most 4300 digits)"


def _shorten(text: str) -> str:
    """``text``, or its start and end around the number of characters left out."""
    if len(text) <= MAX_SHOWN:
        return text
    half = MAX_SHOWN // 2
    return f"{text[:half]}...({len(text) - 2 * half} more)...{text[-half // 2 :]}"


def _shown(text: str) -> str:
    """A text value as a problem shows it: quoted, shortened when long."""
    return repr(text) if len(text) <= MAX_SHOWN else repr(_shorten(text))
