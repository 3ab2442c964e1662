"""JUnit XML from literal results: one testcase per run, failing unless PASS, the properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rpochaos.report.junit import properties, write_junit
from rpochaos.result import Result


def _r(verdict: str, name: str = "s", **over: Any) -> dict[str, Any]:
    return {
        "scenario": name,
        "verdict": verdict,
        "reasons": [f"because {verdict}", "and more"],
        "rpo_declared_s": 1.0,
        "data_loss_window_s": 0.5,
        "window_resolution_s": 0.0025,
        "writes": {"lost": 4, "acknowledged": 100},
        "rto_s": None,
        "run_dir": "/runs/x",
        **over,
    }


def test_properties() -> None:
    assert properties(_r("PASS")) == {
        "rpo_verdict": "PASS",
        "rpo_lost": 4,
        "rpo_acknowledged": 100,
        "rpo_window_s": 0.5,
        "rpo_window_resolution_s": 0.0025,
        "rpo_declared_s": 1.0,
        "rpo_rto_s": None,
        "rpo_run_dir": "/runs/x",
    }
    assert properties(Result.from_dict(_r("FAIL")))["rpo_verdict"] == "FAIL"


def test_one_case_per_run_failing_unless_pass(tmp_path: Path) -> None:
    results = [
        _r("PASS", "a"),
        _r("FAIL", "b"),
        _r("UNKNOWN", "b"),
        Result.from_dict(_r("PASS", "c")),
    ]
    out = write_junit(results, tmp_path / "j.xml", suite="mine")
    assert out == tmp_path / "j.xml"
    root = ET.parse(out).getroot()
    (suite,) = root.iter("testsuite")
    assert suite.get("name") == "mine"
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    cases = list(suite.iter("testcase"))
    assert [c.get("name") for c in cases] == ["a", "b[2]", "b[3]", "c"]
    failures = {c.get("name"): c.find("failure") for c in cases}
    assert failures["a"] is None and failures["c"] is None
    fail = failures["b[2]"]
    assert fail is not None
    assert fail.get("message") == "FAIL: because FAIL; and more"
    assert (fail.text or "").startswith("lost 4 of 100 acknowledged writes")
    unknown = failures["b[3]"]
    assert unknown is not None and (unknown.get("message") or "").startswith("UNKNOWN: ")
    props = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    assert props["rpo_rto_s"] == "" and props["rpo_window_s"] == "0.5"
