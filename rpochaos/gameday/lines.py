"""A YAML file as plain data plus the line of every value, and pydantic errors as problems.

``read_yaml(text, file)`` returns ``(data, lines)`` where ``lines`` maps a path of keys and
list indices (a tuple) to the 1-based line of that value (a mapping key's own line for the
key). ``problems_of(error, lines, file, data)`` turns a pydantic ``ValidationError`` into
``Problem`` records (file, line, key, given, expected), every one, in order.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml
from pydantic import ValidationError

from rpochaos.errors import Problem

Path_ = tuple[str | int, ...]


def read_yaml(text: str, file: str) -> tuple[object, dict[Path_, int], list[Problem]]:
    """Parse ``text``; on a YAML error return no data and one problem at its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, {}, [Problem(file, line, "(file)", f"invalid YAML ({e.problem})", "YAML")]
    except yaml.YAMLError as e:
        return None, {}, [Problem(file, None, "(file)", f"invalid YAML ({e})", "YAML")]
    lines: dict[Path_, int] = {}
    if root is not None:
        _walk(root, (), lines)
    return data, lines, []


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = str(k.value)
            lines[(*path, key)] = k.start_mark.line + 1
            _walk(v, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def line_of(lines: Mapping[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, else of its nearest ancestor that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _given(data: object, path: Path_) -> str:
    cur = data
    for part in path:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            continue
        if isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
            continue
        return "nothing (missing)"
    text = repr(cur)
    return text if len(text) <= 80 else text[:77] + "..."


def problems_of(
    error: ValidationError, lines: Mapping[Path_, int], file: str, data: object
) -> list[Problem]:
    out: list[Problem] = []
    for err in error.errors():
        path: Path_ = tuple(p for p in err["loc"] if isinstance(p, str | int))
        if err["type"] == "missing":
            given = "nothing (missing)"
        elif err["type"] == "extra_forbidden":
            given = f"unknown key {path[-1]!r}" if path else "an unknown key"
        else:
            given = _given(data, path)
        expected = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            expected = "only the keys this section documents (docs/gamedays.md)"
        out.append(Problem(file, line_of(lines, path), dotted(path), given, expected))
    return out
