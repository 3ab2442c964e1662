"""``load`` and ``loads``: a scenario file to a validated, resolved ``Scenario``, or a
``ScenarioError`` listing every problem at once in file order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario.keys import (
    _TOP_KEYS,
)
from rpochaos.scenario.model import (
    Scenario,
    Topology,
    resolve,
)
from rpochaos.scenario.ranges import draw_ranges
from rpochaos.scenario.rules import _ScheduleChecks
from rpochaos.scenario.searchform import SearchSection
from rpochaos.scenario.searchrules import check_search
from rpochaos.scenario.shapes import ScenarioFile
from rpochaos.scenario.source import _Y, _given


class _Checker(_ScheduleChecks):
    """Walks the tree, collecting every problem, and builds the model if there are none."""

    # -- the whole file ---------------------------------------------------------------------

    def choose_system(self, root: _Y) -> bool:
        """Set ``self.system``: the declared one, or, when it is missing or not a system, the
        one the file looks like (a topology with brokers, or a workload with acks, is Kafka).
        Returns whether it was inferred."""
        entry = root.entries.get("system")
        v = entry[1].value if entry is not None and entry[1].kind == "scalar" else None
        if v == "postgres" or v == "kafka" or v == "mariadb":
            self.system = v
            return False
        topology = root.entries.get("topology")
        workload = root.entries.get("workload")
        looks_kafka = (topology is not None and "brokers" in topology[1].entries) or (
            workload is not None and "acks" in workload[1].entries
        )
        looks_mariadb = topology is not None and any(
            k.startswith("rpl_semi_sync_") for k in topology[1].entries
        )
        self.system = "kafka" if looks_kafka else "mariadb" if looks_mariadb else "postgres"
        return True

    def scenario(self, text: str, default_name: str, path: Path | None) -> Scenario | None:
        root = self.tree(text)
        if root is None:
            return None
        if root.kind != "map":
            self.add(
                root.line, "(file)", _given(root), "a mapping with keys " + ", ".join(_TOP_KEYS)
            )
            return None
        inferred = self.choose_system(root)
        draw_ranges(self, root)
        _, good = self.section(ScenarioFile, root, "", root.line)
        entries = {k: v for k, v in root.entries.items() if k in _TOP_KEYS}

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        def key_line(key: str) -> int | None:
            return entries[key][0] if key in entries else None

        name = str(good.get("name") or default_name)
        description = str(good.get("description") or "")
        system_y = get("system")
        if system_y is not None and inferred:
            self.add(
                system_y.line,
                "system",
                _given(system_y),
                "'postgres' or 'kafka' or 'mariadb' (the rest of the file is checked as "
                f"{self.system})",
            )
        seed = good.get("seed", 0)
        assert isinstance(seed, int)
        backend = good.get("backend")
        assert backend is None or isinstance(backend, str)
        time_scale = good.get("time_scale")
        assert time_scale is None or isinstance(time_scale, float)
        scale = time_scale if time_scale is not None else 1.0
        self.scale = scale
        topology, names = self.topology(get("topology"), key_line("topology"))
        workload = self.workload(get("workload"), key_line("workload"))
        specs = self.schedule(get("schedule"), key_line("schedule"), names, self.run_for, scale)
        expect = self.expect(get("expect"), key_line("expect"))
        search, _ = self.section(SearchSection, get("search"), "search", key_line("search"))
        check_search(self, get("search"), specs, search is not None)
        if isinstance(topology, Topology) and specs:
            self.process_steps(specs, topology)
            if topology.manager == "patroni":
                self.patroni_steps(specs, topology)
        if self.problems:
            return None
        assert topology is not None and workload is not None
        assert specs is not None and expect is not None
        return Scenario(
            name=name,
            system=self.system,
            topology=topology,
            workload=replace(
                workload, rate=workload.rate * scale, duration=workload.duration / scale
            ),
            schedule=resolve(specs, seed, time_scale=scale),
            expect=replace(
                expect,
                rpo=expect.rpo / scale,
                max_rto=None if expect.max_rto is None else expect.max_rto / scale,
            ),
            seed=seed,
            description=description,
            path=path,
            time_scale=scale,
            specs=tuple(specs),
            backend=backend,
        )


def _sorted(problems: list[Problem]) -> list[Problem]:
    """File order: by line (stable), problems without a line last."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _parse(text: str, source: str, default_name: str, path: Path | None) -> Scenario:
    checker = _Checker(source)
    scenario = checker.scenario(text, default_name, path)
    if checker.problems or scenario is None:
        raise ScenarioError(_sorted(checker.problems))
    return scenario


def loads(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario text; ``source`` names it in error messages."""
    stem = Path(source).stem if source.endswith((".yaml", ".yml")) else ""
    return _parse(text, source, stem or "scenario", None)


def load(path: str | Path) -> Scenario:
    """Load and validate one scenario file. Raises ScenarioError listing every problem."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        problem = Problem(str(p), None, "(file)", f"undecodable bytes ({e.reason})", "UTF-8 text")
        raise ScenarioError([problem]) from None
    return _parse(text, str(p), p.stem, p)
