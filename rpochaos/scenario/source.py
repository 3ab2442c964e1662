"""A scenario file's YAML as a tree of nodes that remember their line, and the base of the
checker: it collects every problem (file, line, key, given, expected) instead of stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import yaml

from rpochaos.errors import Problem
from rpochaos.scenario.keys import _TOP_KEYS
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
        self.run_for: float | None = None  # workload.duration, once known to be valid
        #: whose rules apply: the declared system, or (when that is missing or wrong) the
        #: one the topology looks like
        self.system: SystemName = "postgres"
        self.scale = 1.0  # time_scale, once known (1 when missing or invalid)
        #: whether topology.archive is declared (None: the topology has problems of its own)
        self.archive: bool | None = None

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
