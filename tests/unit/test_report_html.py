"""report.html and index.html from literal run directories (pure: no server runs; the run
directory is tests/unit/run_dirs.py's ``make_run_dir``)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rpochaos.report.html import (
    REPORT,
    _error_intervals,
    human_bytes,
    load_run_data,
    nice_ticks,
    render_html,
    write_html,
)
from rpochaos.report.index import (
    INDEX,
    find_runs,
    quantile,
    repeat_lines,
    repeat_summary,
    write_index,
)
from rpochaos.result import analyze
from rpochaos.store import EVENTS, HISTORY, RESULT
from tests.unit.run_dirs import CRASH, CUT, make_run_dir

EXTERNAL = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _svg(page: str) -> ET.Element:
    m = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert m, "no <svg> in the page"
    return ET.fromstring(m.group(0))  # well-formed XML or this raises


def _series(svg: ET.Element) -> set[str]:
    return {el.get("data-series", "") for el in svg.iter() if el.get("data-series")}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    make_run_dir(d)
    return d


# -- the report --------------------------------------------------------------------------------


def test_literal_run_measures_as_designed(run_dir: Path) -> None:
    r = json.loads((run_dir / RESULT).read_text())
    assert r["verdict"] == "FAIL"
    assert r["writes"]["lost"] == 200  # 100/s for 2 s
    assert r["data_loss_window_s"] == pytest.approx(2.0, abs=0.02)


def test_report_is_one_offline_file_with_the_whole_timeline(run_dir: Path) -> None:
    out = write_html(run_dir)
    assert out == run_dir / REPORT
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched from anywhere: no URL at all, no script/link/img/import
    assert not EXTERNAL.search(page)
    assert "http://" not in page and "https://" not in page
    for banned in ("<script", "<link", "<img", "@import", "url("):
        assert banned not in page.lower(), banned
    svg = _svg(page)
    assert {
        "acks",
        "lost",
        "lag-bytes-replica1",
        "flush-lag-replica1",
        "stalled-replica1",
    } <= _series(svg)
    classes = {el.get("class") for el in svg.iter()}
    assert {"fault", "instant", "outage", "recovery-point", "rpo-line", "window", "rpo"} <= classes
    kinds = {el.get("data-kind") for el in svg.iter() if el.get("class") == "fault"}
    assert kinds == {"partition"}
    instants = {el.get("data-kind") for el in svg.iter() if el.get("class") == "instant"}
    assert instants == {"crash", "promote"}
    text = " ".join("".join(el.itertext()) for el in svg.iter("text"))
    assert "partition replica1->primary" in text
    assert "data-loss window 2.0" in text and "RPO 1 s" in text
    # the summary
    assert 'id="verdict"' in page and ">FAIL<" in page
    r = json.loads((run_dir / RESULT).read_text())
    assert f"200 / {r['writes']['acknowledged']}" in page  # lost / acknowledged
    assert "rpochaos run scenarios/literal-async.yaml --seed 7 --backend local" in page
    assert "PostgreSQL 15.99" in page and "synchronous_commit" in page
    assert "observer-error" in page  # the primary was unreadable 4.0 .. 4.6 s


def test_lost_writes_rug_sits_where_they_completed(run_dir: Path) -> None:
    svg = _svg(render_html(load_run_data(run_dir)))
    rug = next(el for el in svg.iter() if el.get("data-series") == "lost")
    xs = [float(x) for x in re.findall(r"M([\d.]+),", rug.get("d", ""))]
    assert len(xs) > 50  # 200 lost writes over 2 s: many distinct ticks
    # the time axis: 0 s and the outage line give the scale
    outage = next(el for el in svg.iter() if el.get("class") == "outage")
    x_outage = float(outage.get("x1", "0"))
    x0 = 84.0  # LEFT: t = 0
    x_cut = x0 + (x_outage - x0) * CUT / CRASH
    assert min(xs) >= x_cut - 1 and max(xs) <= x_outage + 1
    # the red part of the bars is there too
    assert any(el.get("class") == "lost-bar" for el in svg.iter())


def test_report_without_observations_still_renders(tmp_path: Path) -> None:
    d = tmp_path / "run"
    make_run_dir(d, observations=False)
    page = write_html(d).read_text()
    svg = _svg(page)
    assert {"acks", "lost"} <= _series(svg)
    assert not any(s.startswith("lag-") for s in _series(svg))
    assert "no-observations" in page
    assert "No observer samples" in page


def test_unknown_run_without_final_read_renders(tmp_path: Path) -> None:
    d = tmp_path / "run"
    r = make_run_dir(d, final_read=False)
    assert r["verdict"] == "UNKNOWN"
    page = write_html(d).read_text()
    _svg(page)
    assert ">UNKNOWN<" in page and "n/a" in page


def test_missing_result_json_is_recomputed_in_memory(run_dir: Path) -> None:
    (run_dir / RESULT).unlink()
    page = write_html(run_dir).read_text()
    assert "result.json was missing" in page
    assert not (run_dir / RESULT).exists()  # the report does not write it


def test_everything_from_the_run_directory_is_escaped(tmp_path: Path) -> None:
    d = tmp_path / "run"
    make_run_dir(d, description='<script>alert("x")</script> & <b>')
    page = write_html(d).read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in page


def test_empty_history_renders(tmp_path: Path) -> None:
    d = tmp_path / "run"
    make_run_dir(d)
    (d / HISTORY).write_text("")
    analyze(d)
    _svg(write_html(d).read_text())


def test_helpers() -> None:
    assert nice_ticks(0, 9.2, 10) == [float(i) for i in range(10)]
    assert nice_ticks(0, 1, 4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 2**20) == "3 MiB"
    samples: list[dict[str, Any]] = [
        {"t": 0.0, "error": None},
        {"t": 0.1, "error": "down"},
        {"t": 0.2, "error": "down"},
        {"t": 0.3, "error": None},
        {"t": 0.4, "error": "again"},
    ]
    assert _error_intervals(samples) == [(0.1, 0.3, "down"), (0.4, 0.4, "again")]


# -- across runs -------------------------------------------------------------------------------


def _res(verdict: str, window: float | None, lost: int = 0, rpo: float = 1.0) -> dict[str, Any]:
    return {
        "scenario": "s",
        "verdict": verdict,
        "data_loss_window_s": window,
        "rpo_declared_s": rpo,
        "writes": {"lost": lost, "acknowledged": 100},
    }


def test_repeat_summary() -> None:
    runs = [
        _res("PASS", 1.0, 0),
        _res("PASS", 0.5, 0),
        _res("FAIL", 3.0, 30),
        _res("FAIL", 10.0, 100),
        _res("UNKNOWN", None),
        _res("FAIL", 2.0, 20),
    ]
    s = repeat_summary(runs)
    assert (s["runs"], s["pass"], s["fail"], s["unknown"]) == (6, 2, 3, 1)
    assert s["meets_rpo_pct"] == pytest.approx(33.3)
    w = s["windows_s"]
    assert w["n"] == 5 and w["min"] == 0.5 and w["max"] == 10.0
    assert w["median"] == 2.0
    assert w["p90"] == pytest.approx(3.0 + 0.6 * 7.0)  # linear between ranks 3 and 4
    assert s["rpo_declared_s"] == 1.0 and s["scenarios"] == ["s"]
    lines = repeat_lines(s)
    assert lines[0].startswith("meets RPO (1.000 s): 33.3 % of 6 runs")
    assert "median 2.000 s" in lines[1] and "p90 7.200 s" in lines[1]


def test_repeat_summary_edges() -> None:
    empty = repeat_summary([])
    assert empty["runs"] == 0 and empty["meets_rpo_pct"] is None
    assert empty["windows_s"]["median"] is None
    one = repeat_summary([_res("PASS", 0.25)])
    assert one["meets_rpo_pct"] == 100.0
    assert one["windows_s"]["p90"] == 0.25
    mixed = repeat_summary([_res("PASS", 0.1, rpo=1.0), _res("PASS", 0.1, rpo=2.0)])
    assert mixed["rpo_declared_s"] is None
    assert quantile([1.0, 2.0], 0.5) == 1.5 and quantile([], 0.5) is None


def test_index_lists_every_run_with_a_link_to_its_report(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a = root / "literal-async" / "20250101T000000.000000Z"
    b = root / "literal-async" / "20250101T000100.000000Z"
    c = root / "elsewhere"
    make_run_dir(a)
    make_run_dir(b, observations=False)
    make_run_dir(c, final_read=False)
    (root / "not-a-run").mkdir()
    assert find_runs(root) == sorted([a, b, c])
    out = write_index(root)
    assert out == root / INDEX
    page = out.read_text()
    assert page.count('<tr class="run">') == 3
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 3
    for h in hrefs:
        assert not h.startswith(("http:", "https:", "/"))
        assert (root / h).is_file()  # each report was written, relative link resolves
    assert '<tr class="scenario"><td>literal-async</td><td class="n">3</td>' in page
    assert "0 %" in page  # none of the three meets the RPO
    assert ">UNKNOWN<" in page and ">FAIL<" in page


# -- issue 19: requested -> effective ----------------------------------------------------------


def _with_effect_times(d: Path, start_gap: float, heal_gap: float, outage_gap: float) -> None:
    """Rewrite the literal run's events as a newer runner writes them."""
    events = [json.loads(x) for x in (d / EVENTS).read_text().splitlines()]
    out: list[dict[str, Any]] = []
    for e in events:
        out.append(e)
        if e["type"] == "step_start":
            gap = outage_gap if e["outage"] else start_gap
            out.append({"type": "step_effective", "index": e["index"], "t": e["t"] + gap})
            if e["outage"]:
                out.append(
                    {
                        "type": "outage",
                        "index": e["index"],
                        "t": e["t"] + gap,
                        "requested_t": e["t"],
                    }
                )
        elif e["type"] == "step_end":
            e["requested_t"] = e["t"] - heal_gap
    (d / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in out))
    analyze(d)


def test_gaps_over_a_millisecond_are_drawn_as_thin_bands(run_dir: Path) -> None:
    _with_effect_times(run_dir, start_gap=0.004, heal_gap=0.002, outage_gap=0.06)
    page = write_html(run_dir).read_text()
    svg = _svg(page)
    bands = [el for el in svg.iter() if el.get("class") == "fault-gap"]
    titles = sorted("".join(el.itertext()) for el in bands)
    # partition start and heal, crash and promote starts (4 ms), the outage (60 ms); the crash
    # step's own band and the outage's are the same interval
    assert len(bands) == 5, titles
    assert any(
        t.startswith("partition replica1->primary (")
        and "requested .. in effect 2.000 .. 2.004 s (+4.0 ms)" in t
        for t in titles
    )
    assert any("heal requested .. healed" in t and "(+2.0 ms)" in t for t in titles)
    assert any(
        t.startswith("outage: requested .. in force 4.000 .. 4.060 s (+60.0 ms)") for t in titles
    )
    widths = [float(el.get("width", "0")) for el in bands]
    assert all(w < 12 for w in widths)  # thin: 60 ms of a 6 s axis is ~11 px
    # the faults table gives both ends; the resolution table the outage's request
    assert "<td>2.004 s (+4.0 ms)</td>" in page
    assert "<td>4.060 s (+60.0 ms)</td>" in page
    assert "<th>outage requested at</th><td>4.000 s</td>" in page
    assert "± 10.0 ms" in page  # 100 writes/s


def test_gaps_of_a_millisecond_or_less_are_not_drawn(run_dir: Path) -> None:
    _with_effect_times(run_dir, start_gap=0.0005, heal_gap=0.001, outage_gap=0.0009)
    svg = _svg(write_html(run_dir).read_text())
    assert not [el for el in svg.iter() if el.get("class") == "fault-gap"]


def test_old_runs_show_unknown_not_a_gap(run_dir: Path) -> None:
    page = write_html(run_dir).read_text()
    assert "fault-gap" not in page
    assert "<th>outage requested at</th><td>unknown</td>" in page
    assert "<td>unknown</td>" in page
