"""The scenario package's layout: its public names, no import cycle (the schedule and the
reports depend on the model, never the other way), and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import rpochaos.scenario as scenario

PACKAGE = Path(scenario.__file__).parent
ROOT = PACKAGE.parents[1]

#: what other modules, tests and benchmarks import from rpochaos.scenario
USED = {
    "LASTING_ACTIONS", "LINK_GROUPS", "MAX_BROKERS", "Action", "Archive", "Between", "Choose",
    "Expect", "KafkaTopology", "ParamValue", "Replica", "Scenario", "Step", "StepSpec",
    "Topology", "Workload", "from_dict", "kafka_link_names", "load", "loads", "parse_duration",
    "parse_rate", "parse_size", "to_dict", "json_schema", "resolve", "start_bounds",
    "LEADER", "MOST_UP_TO_DATE", "_KAFKA_MANAGED_SETTINGS",
}  # fmt: skip


def test_every_name_others_import_is_exported() -> None:
    assert set(scenario.__all__) >= USED
    assert all(hasattr(scenario, name) for name in scenario.__all__)


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("rpochaos")}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_scenario_package_never_imports_the_schedule_or_the_reports() -> None:
    for path in PACKAGE.glob("*.py"):
        for module in _imports(path):
            assert not module.startswith(("rpochaos.schedule", "rpochaos.report")), path


def test_no_import_cycle_among_the_scenario_modules_and_their_users() -> None:
    paths = [*PACKAGE.glob("*.py"), ROOT / "rpochaos" / "schedule.py"]
    paths.append(ROOT / "rpochaos" / "report" / "plan.py")
    graph = {_name(p): _imports(p) for p in paths}
    done: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, " -> ".join((*trail, node))
        if node in done:
            return
        for dep in graph.get(node, ()):
            visit(dep, (*trail, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_every_module_is_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path
