"""Finding scenario files: the one lookup behind the CLI and the pytest plugin.

A *spec* is, tried in this order:

1. a glob (it contains ``*``, ``?`` or ``[``): the ``.yaml``/``.yml`` files it matches,
   relative to the current directory, else relative to the scenarios directory;
2. a folder: its ``.yaml``/``.yml`` files (not its subfolders), sorted;
3. a file: that file, whatever its name ends with;
4. a name: ``<name>.yaml`` or ``<scenarios dir>/<name>.yaml`` (or ``.yml``, or ``<name>``
   itself), where a name may have folders (``incidents/partition-stops-wal-shipping``);
   else the one file of that stem anywhere below the scenarios directory.

The scenarios directory is the CLI's ``scenarios/`` (relative to the current directory) and
the plugin's ``rpo_scenarios_dir`` ini key. A spec that finds nothing raises
``ScenarioNotFound`` (a ``ScenarioError``: the CLI exits 254, the plugin reports a usage
error) naming the spec, where it looked and the closest names (did you mean).
"""

from __future__ import annotations

import difflib
import glob
from collections.abc import Iterable
from pathlib import Path

from rpochaos.errors import Problem, ScenarioError

#: the CLI's scenarios directory, relative to the current directory
DEFAULT_DIR = Path("scenarios")
SUFFIXES = (".yaml", ".yml")
_GLOB_CHARS = "*?["


class ScenarioNotFound(ScenarioError):
    """A spec names no scenario file. ``spec`` is what was given, ``suggestions`` the closest
    known names (possibly none)."""

    def __init__(self, spec: str, scenarios_dir: Path, suggestions: list[str]) -> None:
        self.spec = spec
        self.suggestions = suggestions
        expected = f"a scenario file, a folder, a glob, or a name in {scenarios_dir}"
        if suggestions:
            expected += f" (did you mean {' or '.join(suggestions)}?)"
        super().__init__([Problem(spec, None, "scenario", "nothing by that name", expected)])
        self.scenarios_dir = scenarios_dir

    def __str__(self) -> str:
        hint = f"; did you mean {' or '.join(self.suggestions)}?" if self.suggestions else ""
        return (
            f"no scenario {self.spec!r}: not a file, a folder, a glob, nor a name in "
            f"{self.scenarios_dir}/{hint}"
        )


def _yaml_files(paths: Iterable[Path]) -> list[Path]:
    return sorted(p for p in paths if p.suffix in SUFFIXES and p.is_file())


def names(scenarios_dir: Path) -> list[str]:
    """Every scenario name under ``scenarios_dir``: its path relative to it, without the
    suffix (``pg-split-brain``, ``incidents/archive-command-fails``)."""
    if not scenarios_dir.is_dir():
        return []
    return sorted(
        str(p.relative_to(scenarios_dir).with_suffix(""))
        for p in _yaml_files(scenarios_dir.rglob("*"))
    )


def _by_name(spec: str, scenarios_dir: Path) -> list[Path]:
    candidates = [
        *(Path(f"{spec}{s}") for s in SUFFIXES),  # a path given without its suffix
        *(scenarios_dir / f"{spec}{s}" for s in SUFFIXES),
        scenarios_dir / spec,
    ]
    for cand in candidates:
        if cand.is_file():
            return [cand]
    if "/" in spec or not scenarios_dir.is_dir():
        return []
    same_stem = _yaml_files(p for s in SUFFIXES for p in scenarios_dir.rglob(f"{spec}{s}"))
    return same_stem if len(same_stem) == 1 else []


def find(spec: str, scenarios_dir: Path = DEFAULT_DIR) -> list[Path]:
    """The scenario files ``spec`` stands for (see the module docstring), in a stable order.
    Raises ScenarioNotFound when there are none."""
    if any(c in spec for c in _GLOB_CHARS):
        found = _yaml_files(Path(x) for x in glob.glob(spec))
        if not found and not Path(spec).is_absolute():
            found = _yaml_files(Path(x) for x in glob.glob(str(scenarios_dir / spec)))
    else:
        p = Path(spec)
        if p.is_dir():
            found = _yaml_files(p.iterdir())
        elif p.is_file():
            found = [p]
        else:
            found = _by_name(spec, scenarios_dir)
    if not found:
        known = names(scenarios_dir)
        stem = Path(spec).name.removesuffix(".yaml").removesuffix(".yml")
        close = difflib.get_close_matches(stem, [Path(n).name for n in known], n=3, cutoff=0.6)
        suggestions = [n for c in close for n in known if Path(n).name == c]
        raise ScenarioNotFound(spec, scenarios_dir, list(dict.fromkeys(suggestions))[:3])
    return found


def find_all(specs: Iterable[str], scenarios_dir: Path = DEFAULT_DIR) -> list[Path]:
    """Every file each spec stands for, in the order given, each file once. Raises
    ScenarioNotFound for the first spec that finds nothing."""
    out: dict[Path, None] = {}
    for spec in specs:
        for p in find(spec, scenarios_dir):
            out.setdefault(p, None)
    return list(out)


def find_one(spec: str, scenarios_dir: Path = DEFAULT_DIR) -> Path:
    """The one scenario file ``spec`` stands for. ScenarioNotFound when there is none; a
    ScenarioError when it stands for several (a folder or glob where one file is wanted)."""
    found = find(spec, scenarios_dir)
    if len(found) > 1:
        raise ScenarioError(
            [
                Problem(
                    spec,
                    None,
                    "scenario",
                    f"{len(found)} scenario files ({', '.join(str(p) for p in found[:3])}...)",
                    "one scenario file or name",
                )
            ]
        )
    return found[0]
