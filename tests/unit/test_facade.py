"""The public façade: every name in ``__all__`` resolves, and the library's public surface is
complete (the names the README and docs use)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import rpochaos

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves() -> None:
    for name in rpochaos.__all__:
        assert getattr(rpochaos, name) is not None, name
    assert sorted(rpochaos.__all__) == rpochaos.__all__


def test_the_api_the_docs_use_is_public() -> None:
    wanted = {"run", "load", "loads", "analyze", "analyze_result", "Result", "RunResult"}
    wanted |= {"Scenario", "RpochaosError", "ScenarioError", "MissingDependency"}
    assert wanted <= set(rpochaos.__all__)


def test_names_are_the_defining_modules_own() -> None:
    from rpochaos.errors import ScenarioError
    from rpochaos.result import Result, analyze
    from rpochaos.scenario import load

    assert rpochaos.load is load and rpochaos.analyze is analyze
    assert rpochaos.Result is Result and rpochaos.ScenarioError is ScenarioError


def test_run_stays_the_function_after_its_module_is_imported() -> None:
    module = importlib.import_module("rpochaos.run")
    assert callable(rpochaos.run) and rpochaos.run is module.run


def test_every_error_shares_one_root() -> None:
    for name in rpochaos.__all__:
        value = getattr(rpochaos, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, rpochaos.RpochaosError), name


def test_import_is_cheap_and_unknown_names_fail() -> None:
    code = (
        "import sys, rpochaos\n"
        "assert 'rpochaos.run' not in sys.modules, 'the façade imported the runner eagerly'\n"
        "try:\n    rpochaos.nope\n"
        "except AttributeError:\n    pass\n"
        "else:\n    raise SystemExit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_package_ships_its_type_marker() -> None:
    assert (ROOT / "rpochaos" / "py.typed").is_file()
