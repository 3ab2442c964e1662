"""pytest: ``pytest --rpo-search SCENARIO.yaml --rpo-search-budget N`` runs a search as a test.

Registered as its own plugin (entry point ``rpochaos_search`` in pyproject.toml). Each
``--rpo-search`` file becomes one test item, ``rpo-search[<file>]``; when any is given, the
other collected tests are deselected (a search is the session's point, and each example is a
full run). The item fails when the search finds a schedule that breaks the RPO, with the
shrunk schedule, its reproduction rate and its reproduce command in the message. A search
whose runs had no verdict (UNKNOWN) fails the item too, saying so: it has not shown that the
RPO holds. Bad input (a scenario that does not
validate) is an error of the item, with the usual file:line problems.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from rpochaos.errors import ScenarioError
from rpochaos.search.cli import run_search
from rpochaos.search.output import reproduce_command, summary_lines


class SearchFailed(Exception):
    """The search found a schedule that breaks the RPO (or could not judge)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rpochaos search")
    group.addoption(
        "--rpo-search",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="run a search of this scenario file as a test (repeatable)",
    )
    group.addoption(
        "--rpo-search-budget", type=int, default=10, help="runs spent looking (default 10)"
    )
    group.addoption(
        "--rpo-search-repeats", type=int, default=None, help="K repeats per shrink candidate"
    )
    group.addoption(
        "--rpo-search-runs-root",
        default="runs",
        help="where the runs, their index and the example database go (default runs)",
    )


class SearchItem(pytest.Item):
    def __init__(self, *, scenario: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.scenario = scenario

    def runtest(self) -> None:
        cfg = self.config
        args = argparse.Namespace(
            scenario=self.scenario,
            budget=cfg.getoption("--rpo-search-budget"),
            repeats=cfg.getoption("--rpo-search-repeats"),
            min_fails=None,
            boundary=None,
            out=None,
            runs_root=Path(cfg.getoption("--rpo-search-runs-root")),
            backend=None,
            seed=0,
            shrink_seconds=900.0,
            fresh=False,
        )
        console = Console(file=io.StringIO(), highlight=False)
        space, result, out_dir, found = run_search(args, console, log=False)
        lines = summary_lines(space, result, found)
        if result.status == "found":
            if found is not None:
                lines.append(found.read_text(encoding="utf-8"))
                lines.append(reproduce_command(found))
            raise SearchFailed("\n".join(lines))
        if result.status == "unknown":
            raise SearchFailed("\n".join([*lines, f"search directory: {out_dir}"]))
        self.user_properties.append(("rpo_search", " ".join(lines)))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: object = None,
    ) -> str:
        if isinstance(excinfo.value, SearchFailed | ScenarioError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return Path(self.scenario), None, f"rpo-search[{self.scenario}]"


def _items(session: pytest.Session, scenarios: list[str]) -> Iterator[SearchItem]:
    for s in scenarios:
        yield SearchItem.from_parent(session, name=f"rpo-search[{s}]", scenario=s)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    scenarios: list[str] = config.getoption("--rpo-search")
    if not scenarios:
        return
    if items:
        config.hook.pytest_deselected(items=list(items))
    items[:] = list(_items(session, scenarios))
