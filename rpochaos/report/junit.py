"""JUnit XML for the CLI (``rpochaos run --junit FILE``): one testcase per run, failing on
FAIL or UNKNOWN, with the same properties the pytest plugin attaches."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rpochaos.report.summary import lines


def properties(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers, as (name, value) pairs shared by the CLI and pytest outputs."""
    w = result.get("writes", {})
    return {
        "rpo_verdict": result.get("verdict"),
        "rpo_lost": w.get("lost"),
        "rpo_acknowledged": w.get("acknowledged"),
        "rpo_window_s": result.get("data_loss_window_s"),
        "rpo_declared_s": result.get("rpo_declared_s"),
        "rpo_rto_s": result.get("rto_s"),
        "rpo_run_dir": result.get("run_dir"),
    }


def write_junit(results: list[dict[str, Any]], path: Path, suite: str = "rpochaos") -> Path:
    failures = sum(1 for r in results if r.get("verdict") != "PASS")
    ts = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for i, r in enumerate(results):
        name = str(r.get("scenario"))
        if len(results) > 1 and sum(1 for x in results if x.get("scenario") == name) > 1:
            name = f"{name}[{i + 1}]"
        tc = ET.SubElement(ts, "testcase", classname="rpochaos.scenario", name=name)
        props = ET.SubElement(tc, "properties")
        for k, v in properties(r).items():
            ET.SubElement(props, "property", name=k, value="" if v is None else str(v))
        if r.get("verdict") != "PASS":
            f = ET.SubElement(
                tc, "failure", message=f"{r.get('verdict')}: " + "; ".join(r.get("reasons", []))
            )
            f.text = "\n".join(lines(r))
    root = ET.Element("testsuites")
    root.append(ts)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
