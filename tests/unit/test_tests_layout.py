"""The test tree mirrors the code: a unit test module is named after the module it tests
(``test_<package>_<module>[_<aspect>].py``), and no test module imports another test module or
a conftest (shared code lives in tests/helpers.py, tests/integration/helpers.py and
tests/unit/run_dirs.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ROOT / "rpochaos"
#: unit test names that test the package as a whole rather than one module
WHOLE_PACKAGE = {"facade", "tests"}


def _module_names() -> set[str]:
    names: set[str] = set()
    for path in CODE.rglob("*.py"):
        parts = path.relative_to(CODE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.add("_".join(parts))
    return names


def test_unit_tests_are_named_after_modules() -> None:
    modules = _module_names()
    strays = []
    for path in sorted((ROOT / "tests" / "unit").glob("test_*.py")):
        words = path.stem.removeprefix("test_").split("_")
        prefixes = {"_".join(words[:n]) for n in range(1, len(words) + 1)}
        if not prefixes & (modules | WHOLE_PACKAGE):
            strays.append(path.name)
    assert not strays, f"unit tests named after no module of rpochaos/: {strays}"


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests") and (
                    last.startswith("test_") or last == "conftest"
                ):
                    offenders.append(f"{path.relative_to(ROOT)} imports {node.module}")
    assert not offenders, offenders
