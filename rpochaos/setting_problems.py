"""Declared settings that cannot be run as given (MariaDB's, Patroni's), and the one
ScenarioError that names them all.

A settings class lists its own ``SettingProblem`` values (keys relative to the settings
block); ``raise_problems`` places each at ``<path>.<key>`` of the scenario ``file`` (no
line: the settings are checked after the file's lines are gone) and raises once, so a user
sees every mistake in one go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rpochaos.errors import Problem, ScenarioError


@dataclass(frozen=True)
class SettingProblem:
    """One declared setting that cannot be run as given."""

    key: str
    given: str
    expected: str


def unknown_keys(data: Mapping[str, object], known: tuple[str, ...]) -> list[SettingProblem]:
    """A problem for every key of ``data`` not in ``known``, in ``data``'s order."""
    expected = "one of " + ", ".join(known)
    return [SettingProblem(str(k), "an unknown key", expected) for k in data if k not in known]


def raise_problems(problems: Iterable[SettingProblem], *, file: str, path: str) -> None:
    """ScenarioError listing every one of ``problems`` at ``<path>.<key>`` in ``file``, in
    their order; nothing when there is none."""
    found = [Problem(file, None, f"{path}.{p.key}", p.given, p.expected) for p in problems]
    if found:
        raise ScenarioError(found)
