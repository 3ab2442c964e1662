"""What validates runs: scenario files generated as mutations of the shipped ones (keys
deleted or duplicated, wrong types, random durations and rates, huge and negative numbers,
unicode, YAML syntax breaks, empty and binary files) either load or raise ScenarioError
(which ``rpochaos validate`` turns into exit 254), quickly; whatever loads also resolves with
another seed, prints its plan and survives its run record's round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpochaos.errors import ScenarioError
from rpochaos.report.plan import format_plan, format_summary
from rpochaos.scenario import Scenario, from_dict, load, loads, to_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {p.name: p.read_text() for p in sorted((ROOT / "scenarios").rglob("*.yaml"))}
#: a placeholder that the text mutations swap for an integer past the YAML loader's limit
HUGE = "HUGEINTEGERLITERAL"

#: values that are wrong somewhere, or right somewhere else
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 1, 2**63, -(2**63), 10**20, HUGE]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.from_regex(
        r"[-+]?[0-9]{1,400}(\.[0-9]{1,5})?(ms|s|m|/s|/m|KB/s|kB/s|MB/s|B|kB|MB|GB)?", fullmatch=True
    ),
    st.sampled_from(
        [
            "5s",
            "0s",
            "250ms",
            "2m",
            "500/s",
            "64KB/s",
            "16MB",
            "primary",
            "replica1",
            "leader",
            "broker1",
            "client->primary",
            "fetch-from:leader",
            "é∂ƒ©",
            "\u202e",
            "a" * 300,
            "{between: [1s, 2s]}",
        ]
    ),
    st.lists(st.sampled_from(["1s", "2s", "primary", "replica1", 3]), max_size=3),
    st.fixed_dictionaries(
        {"between": st.lists(st.sampled_from(["1s", "3s", "0s", -1]), max_size=3)}
    ),
    st.fixed_dictionaries(
        {"choose": st.lists(st.sampled_from(["primary", "replica1", "x"]), max_size=3)}
    ),
)


def _paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place in a loaded YAML document, the root excluded."""
    out: list[tuple[object, ...]] = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*path, i)))
    return out


def _parent(doc: object, path: tuple[object, ...]) -> dict[object, object] | list[object]:
    node = doc
    for step in path[:-1]:
        node = node[step]  # type: ignore[index]
    assert isinstance(node, dict | list)
    return node


@st.composite
def tree_mutation(draw: st.DrawFn) -> str:
    """A shipped scenario with one to three places deleted, replaced or moved."""
    text = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    doc = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(doc)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = _parent(doc, path)
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "rename", "wrap"]))
        if op == "delete":
            del parent[key]  # type: ignore[arg-type]
        elif op == "replace":
            parent[key] = draw(VALUES)  # type: ignore[index]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "for", "at", "outage", "names", "é"]))] = parent.pop(
                key
            )
        else:
            parent[key] = [parent[key]]  # type: ignore[index]
    dumped = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return dumped.replace(HUGE, "9" * draw(st.integers(4000, 6000)))


@st.composite
def text_mutation(draw: st.DrawFn) -> str:
    """A shipped scenario's text with lines duplicated or dropped, or characters inserted."""
    lines = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["duplicate", "drop", "insert", "truncate"]))
        if op == "duplicate":  # a key a second time, or a step twice
            lines.insert(i, lines[i])
        elif op == "drop":
            del lines[i]
        elif op == "insert":
            junk = draw(
                st.sampled_from(
                    [
                        "{",
                        "[",
                        "]",
                        ":",
                        "\t",
                        '"',
                        "'",
                        "&a",
                        "*a",
                        "!!",
                        "- ",
                        "? ",
                        "|",
                        "%",
                        "@",
                        "\x00",
                        "é",
                        "\ufeff",
                    ]
                )
            )
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + junk + lines[i][j:]
        else:
            lines = lines[: i + 1]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def _accepted(sc: Scenario) -> None:
    """What must work for any scenario that validates."""
    other = sc.with_seed(sc.seed + 1)
    assert len(other.schedule) == len(sc.schedule)
    assert format_plan(sc)[-1].endswith("final read")
    assert format_summary(sc).startswith(sc.name)
    assert from_dict(json.loads(json.dumps(to_dict(sc)))) == sc


def _check(text: str) -> None:
    start = time.perf_counter()
    try:
        sc = loads(text, "fuzz.yaml")
    except ScenarioError as e:
        assert e.problems and all(p.key for p in e.problems)
    else:
        _accepted(sc)
    assert time.perf_counter() - start < 2.0


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(tree_mutation(), text_mutation()))
def test_a_mutated_scenario_loads_or_is_reported(text: str) -> None:
    _check(text)


@settings(max_examples=50, deadline=2000)
@given(st.one_of(st.binary(max_size=200), st.just(b""), st.just(b"\xff\xfe\x00")))
def test_a_binary_or_empty_file_is_reported(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "binary.yaml"
        path.write_bytes(data)
        try:
            sc = load(path)
        except ScenarioError as e:
            assert e.problems
        else:
            _accepted(sc)


def test_every_shipped_scenario_passes_what_accepted_files_must() -> None:
    for text in SHIPPED.values():
        _accepted(loads(text))


def test_validate_reports_a_huge_integer_without_a_traceback(tmp_path: Path) -> None:
    lines = SHIPPED["pg-async-partition-crash.yaml"].splitlines()
    text = "\n".join(ln for ln in lines if not ln.startswith("seed:"))
    path = tmp_path / "huge.yaml"
    path.write_text(text + "\nseed: " + "9" * 5000 + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rpochaos.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 254, proc.stderr
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "seed" in out and "ordinary size" in out
