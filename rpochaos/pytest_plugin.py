"""pytest plugin: ``pytest --rpo-scenario PATH_OR_NAME`` and the ``rpo_run`` fixture.

Each scenario becomes one test item whose outcome is its verdict: PASS passes; FAIL and
UNKNOWN fail, with the summary (and, for UNKNOWN, the reason) as the failure text. Results
are attached to the item as JUnit properties (``--junitxml``). The same library call runs the
scenario as the CLI does, so both give the same verdict.

Options (each also an ini key): ``--rpo-scenario`` (repeatable; a file, a folder, a glob, or
a scenario name looked up in ``rpo_scenarios_dir``, default ``scenarios``; the lookup is
``rpochaos.finder``'s, as in the CLI),
``--rpo-backend`` / ``rpo_backend`` (default ``local``), ``--rpo-runs-dir`` /
``rpo_runs_dir`` (default ``runs``). With no test paths on the command line, only the
scenarios are collected; with paths, both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_PATHS = pytest.StashKey[set[Path]]()
_RESULTS = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rpochaos", "RPO chaos scenarios")
    g.addoption(
        "--rpo-scenario",
        action="append",
        default=[],
        metavar="PATH_OR_NAME",
        help="run a scenario file, folder, glob or name as a test (repeatable)",
    )
    g.addoption("--rpo-backend", default=None, help="backend for scenarios (default: local)")
    g.addoption("--rpo-runs-dir", default=None, help="where run directories go (default: runs)")
    g.addoption(
        "--rpo-repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each scenario N times; the summary gives meets-RPO %% per scenario",
    )
    parser.addini(
        "rpo_scenarios_dir", "folder where scenario names are looked up", default="scenarios"
    )
    parser.addini(
        "rpo_backend",
        "backend for scenarios (default: $RPOCHAOS_BACKEND, the "
        "scenario's backend key, else local)",
        default="",
    )
    parser.addini("rpo_runs_dir", "where run directories go", default="runs")


def _scenarios_dir(config: pytest.Config) -> Path:
    sdir = Path(str(config.getini("rpo_scenarios_dir")))
    return sdir if sdir.is_absolute() else config.rootpath / sdir


def _setting(config: pytest.Config, opt: str, ini: str) -> str:
    value = config.getoption(opt)
    return str(value) if value is not None else str(config.getini(ini))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rpo_scenario: an rpochaos scenario collected as a test")
    config.stash[_RESULTS] = []
    specs: list[str] = config.getoption("rpo_scenario") or []
    if not specs:
        config.stash[_PATHS] = set()
        return
    from rpochaos import finder

    try:
        paths = finder.find_all(specs, _scenarios_dir(config))
    except finder.ScenarioNotFound as e:
        raise pytest.UsageError(f"--rpo-scenario: {e}") from None
    config.stash[_PATHS] = {p.resolve() for p in paths}
    wanted = [str(p) for p in paths]
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args.extend(a for a in wanted if a not in config.args)
    else:
        config.args[:] = wanted


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.resolve() in parent.config.stash.get(_PATHS, set()):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from rpochaos.errors import ScenarioError
        from rpochaos.scenario import load

        try:
            sc = load(self.path)
        except ScenarioError as e:
            raise self.CollectError(str(e)) from None
        n = int(self.config.getoption("rpo_repeat") or 1)
        if n < 1:
            raise pytest.UsageError(f"--rpo-repeat {n}: expected an integer >= 1")
        for i in range(n):
            name = sc.name if n == 1 else f"{sc.name}[{i + 1}]"
            yield ScenarioItem.from_parent(self, name=name, scenario=sc)


class ScenarioVerdict(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("verdict"))
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.add_marker(pytest.mark.rpo_scenario)

    def runtest(self) -> None:
        from rpochaos.run import run

        cfg = self.config
        res = run(
            self.scenario,
            backend=_setting(cfg, "rpo_backend", "rpo_backend") or None,
            runs_root=Path(_setting(cfg, "rpo_runs_dir", "rpo_runs_dir")),
        )
        _record(self, res.result)
        if res.result["verdict"] != "PASS":
            raise ScenarioVerdict(res.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioVerdict):
            from rpochaos.report.summary import lines

            r = excinfo.value.result
            return "\n".join([f"{r['verdict']}: {r['scenario']}", *lines(r)])
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"rpo-scenario: {self.name}"


def _record(item: pytest.Item, result: dict[str, Any]) -> None:
    """Attach the headline numbers as JUnit properties and remember them for the summary."""
    from rpochaos.report.junit import properties

    props = properties(result)
    props["rpo_report"] = str(Path(str(result.get("run_dir"))) / "report.html")
    item.user_properties.extend(props.items())
    item.config.stash[_RESULTS].append((item.nodeid, result))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    terminalreporter.section("rpochaos scenarios")
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for _, r in results:
        by_scenario.setdefault(str(r.get("scenario")), []).append(r)
    if any(len(v) > 1 for v in by_scenario.values()):
        from rpochaos.report.index import repeat_lines, repeat_summary

        for name, rs in by_scenario.items():
            for line in repeat_lines(repeat_summary(rs)):
                terminalreporter.write_line(f"{name}: {line}")
    for nodeid, r in results:
        w = r.get("writes", {})
        win = r.get("data_loss_window_s")
        terminalreporter.write_line(
            f"{r['verdict']:7s} {nodeid}: lost {w.get('lost')}/{w.get('acknowledged')}, "
            f"window {'n/a' if win is None else f'{win:.3f}'} s vs RPO {r['rpo_declared_s']} s"
        )


@pytest.fixture
def rpo_run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Run a scenario (a path, a name, or a Scenario) and return its RunResult.

    Keyword arguments go to ``rpochaos.run.run``; the run directory defaults to tmp_path.
    The result's numbers are attached to the test as JUnit properties.
    """
    from rpochaos.run import run

    def _run(scenario: Any, **kw: Any) -> Any:
        if isinstance(scenario, str):
            from rpochaos import finder

            scenario = finder.find_one(scenario, _scenarios_dir(request.config))
        kw.setdefault("runs_root", tmp_path / "runs")
        kw.setdefault("backend", _setting(request.config, "rpo_backend", "rpo_backend") or None)
        res = run(scenario, **kw)
        _record(request.node, res.result)
        return res

    return _run
