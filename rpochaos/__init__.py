"""rpochaos: measure how much acknowledged data an outage loses, against a declared RPO.

The library API (the CLI and the pytest plugin are thin faces over it)::

    import rpochaos
    sc = rpochaos.load("scenarios/pg-async-partition-crash.yaml")   # ScenarioError on bad input
    res = rpochaos.run(sc)                                          # RunResult
    res.verdict, res.exit_code, res.result["writes"]["lost"]
    typed = rpochaos.Result.load(res.run_dir)                       # the typed result.json
    again = rpochaos.analyze(res.run_dir)                           # recompute from the directory

Errors share one root, ``RpochaosError``: ``ScenarioError`` (bad input, every problem with its
file and line), ``MissingDependency`` (a program is not installed; says how to install it),
``ProxyError``, ``TopologyError``, ``WorkloadError``.

Names are imported on first use, so ``import rpochaos`` stays cheap. ``rpochaos.run`` is the
function even after the module of the same name is imported (that module stays
``sys.modules["rpochaos.run"]``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rpochaos.errors import (
        MissingDependency,
        Problem,
        ProxyError,
        RpochaosError,
        ScenarioError,
        TopologyError,
        WorkloadError,
    )
    from rpochaos.measure import Verdict
    from rpochaos.result import Result, analyze, analyze_result
    from rpochaos.run import RunResult, run
    from rpochaos.scenario import Scenario, Step, json_schema, load, loads

#: public name -> the module that defines it
_WHERE: dict[str, str] = {
    "run": "rpochaos.run",
    "RunResult": "rpochaos.run",
    "load": "rpochaos.scenario",
    "loads": "rpochaos.scenario",
    "json_schema": "rpochaos.scenario",
    "Scenario": "rpochaos.scenario",
    "Step": "rpochaos.scenario",
    "analyze": "rpochaos.result",
    "analyze_result": "rpochaos.result",
    "Result": "rpochaos.result",
    "Verdict": "rpochaos.measure",
    "RpochaosError": "rpochaos.errors",
    "Problem": "rpochaos.errors",
    "ScenarioError": "rpochaos.errors",
    "MissingDependency": "rpochaos.errors",
    "ProxyError": "rpochaos.errors",
    "TopologyError": "rpochaos.errors",
    "WorkloadError": "rpochaos.errors",
}

__all__ = [
    "MissingDependency",
    "Problem",
    "ProxyError",
    "Result",
    "RpochaosError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Step",
    "TopologyError",
    "Verdict",
    "WorkloadError",
    "analyze",
    "analyze_result",
    "json_schema",
    "load",
    "loads",
    "run",
]


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'rpochaos' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package object: keeps the façade's ``run`` function when the import system binds
    the submodule ``rpochaos.run`` onto the package after loading it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "run" and isinstance(value, types.ModuleType):
            value = value.run
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
