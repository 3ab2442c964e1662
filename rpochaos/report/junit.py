"""JUnit XML for the CLI (``rpochaos run --junit FILE``): one testcase per run, failing on
FAIL or UNKNOWN, with the same properties the pytest plugin attaches."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from rpochaos.measure import Verdict
from rpochaos.report.summary import lines
from rpochaos.result import Result, as_result

Property = str | int | float | None


def properties(result: Result | Mapping[str, object]) -> dict[str, Property]:
    """The headline numbers, as (name, value) pairs shared by the CLI and pytest outputs."""
    r = as_result(result)
    return {
        "rpo_verdict": r.verdict.value,
        "rpo_lost": r.writes.lost,
        "rpo_acknowledged": r.writes.acknowledged,
        "rpo_window_s": r.data_loss_window_s,
        "rpo_window_resolution_s": r.window_resolution_s,
        "rpo_declared_s": r.rpo_declared_s,
        "rpo_rto_s": r.rto_s,
        "rpo_run_dir": r.run_dir,
    }


def write_junit(
    results: Sequence[Result | Mapping[str, object]], path: Path, suite: str = "rpochaos"
) -> Path:
    """Write ``path``: one ``testsuite`` of one ``testcase`` per result (named after its
    scenario, ``name[i]`` when a name repeats), failing unless the verdict is PASS, with the
    ``properties`` and the console summary as the failure's text. Returns ``path``."""
    rs = [as_result(r) for r in results]
    failures = sum(1 for r in rs if r.verdict != Verdict.PASS)
    ts = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(rs)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for i, r in enumerate(rs):
        name = str(r.scenario)
        if len(rs) > 1 and sum(1 for x in rs if str(x.scenario) == name) > 1:
            name = f"{name}[{i + 1}]"
        tc = ET.SubElement(ts, "testcase", classname="rpochaos.scenario", name=name)
        props = ET.SubElement(tc, "properties")
        for k, v in properties(r).items():
            ET.SubElement(props, "property", name=k, value="" if v is None else str(v))
        if r.verdict != Verdict.PASS:
            f = ET.SubElement(tc, "failure", message=f"{r.verdict.value}: " + "; ".join(r.reasons))
            f.text = "\n".join(lines(r))
    root = ET.Element("testsuites")
    root.append(ts)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
