"""Every command a document shows in a code block is run by a test, as a user runs it.

The README, docs/ and examples/ are read for command lines inside fenced blocks (``$ `` and
trailing ``# comments`` dropped, ``\\`` continuations joined). Each one must be claimed by an
entry of ``WHERE``: either a test elsewhere that runs it (named by its file and function,
which must exist), the CI entry point, or this file, which runs the commands no other test
runs (the demo, the benchmarks) with arguments that keep CI's budget. A new command in a doc
that nothing claims fails the accounting test with its file and line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = [pytest.mark.integration]

#: the programs a documented command line starts with (output lines and prose do not)
_PROGRAM = re.compile(
    r"^(?:\$ )?((?:rpochaos|\./dev|\.venv/bin/\w+|python3?|pytest|scripts/[\w.-]+|\.ci/run)\b.*)$"
)
#: what follows ``rpochaos`` in a command (an output line such as "rpochaos bench: ..." is not)
_SUBCOMMANDS = {
    "run", "validate", "list", "plan", "report", "images", "analyze", "doctor", "search",
    "gameday", "heal", "schema", "gc", "lost",
}  # fmt: skip


@dataclass(frozen=True)
class Documented:
    """One command line a document shows: where, and the command as a user types it."""

    file: str
    line: int
    command: str


def _docs() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return found + sorted((ROOT / "examples").glob("**/*.md"))


def documented() -> list[Documented]:
    """Every command line in a fenced block of the README, docs/ and examples/."""
    out: list[Documented] = []
    for path in _docs():
        fenced = False
        pending: tuple[int, str] | None = None
        for no, raw in enumerate(path.read_text().splitlines(), 1):
            if raw.lstrip().startswith("```"):
                fenced, pending = not fenced, None
                continue
            if not fenced:
                continue
            text = raw.strip()
            if pending is not None:  # a continuation of the line above
                start, head = pending
                text = f"{head} {text}"
            else:
                m = _PROGRAM.match(text)
                if m is None:
                    continue
                start, text = no, m.group(1)
            text = re.sub(r"\s+#\s.*$", "", text).strip()
            if text.endswith("\\"):
                pending = (start, text[:-1].strip())
                continue
            pending = None
            words = text.split()
            if words[0] == "rpochaos" and (len(words) < 2 or words[1] not in _SUBCOMMANDS):
                continue
            out.append(Documented(str(path.relative_to(ROOT)), start, text))
    return out


#: this file runs the command (the test named below, in this file)
HERE = "tests/integration/test_doc_commands.py::"
_BENCH = HERE + "test_the_benchmark_runs_and_prints_its_three_parts"
_CLI = (
    "tests/integration/test_cli_commands.py::test_every_documented_command_runs_without_a_traceback"
)
_PLAN = (
    "tests/unit/test_report_plan.py::test_the_documented_scenarios_load_and_plan_as_the_docs_show"
)
_SEARCH = "tests/integration/test_search.py::"
_GAMEDAY = "tests/integration/test_gameday.py::"
_GAMEDAY_KAFKA = "tests/integration/test_gameday_kafka.py::"
#: (pattern on the command, who runs it): a test ``path::function``, or ".ci/run"; first match
WHERE: list[tuple[str, str]] = [
    (r"^\./dev demo$", HERE + "test_dev_demo_sets_up_and_runs_the_canonical_scenario"),
    (r"^\./dev test$", ".ci/run"),
    (r"^\./dev bench$", _BENCH),
    (r"^\.venv/bin/python bench/run\.py( --quick)?$", _BENCH),
    (r"^\.venv/bin/python bench/scale\.py",
     HERE + "test_the_scale_benchmark_runs_and_keeps_its_directory"),
    (r"^\.venv/bin/python bench/journal_formats\.py$",
     HERE + "test_the_journal_format_benchmark_runs"),
    # the README's command block (placeholders in capitals, alternatives with |)
    (r"^rpochaos \w+ .*([A-Z_]{3,}|\|)", _CLI),
    (r"^rpochaos (doctor|schema)$", _CLI),
    (r"^rpochaos (validate broken|plan [\w-]+)\.yaml$", _PLAN),
    (r"^rpochaos (run pg-async-partition-crash|lost) .*runs/incident\b",
     "tests/integration/test_postmortems_doc.py::"
     "test_the_postmortem_walkthrough_runs_as_documented"),
    (r"^rpochaos search scenarios/search/sync-never-breaks\.yaml",
     _SEARCH + "test_the_sync_scenario_breaks_nothing_and_says_how_many_it_tried"),
    (r"^rpochaos search scenarios/search/async-partition-boundary\.yaml --boundary",
     _SEARCH + "test_boundary_mode_brackets_the_flip_between_a_pass_and_a_fail"),
    (r"^(rpochaos search|pytest --rpo-search) scenarios/search/async-partition-boundary\.yaml",
     _SEARCH + "test_a_found_failure_is_replayed_first_and_its_file_reproduces"),
    (r"^rpochaos run scenarios/pg-async-partition-crash\.yaml --backend kubernetes --kubeconfig",
     "tests/integration/test_kubernetes.py::"
     "test_async_partition_then_crash_loses_the_partition_window"),
    (r"^rpochaos run scenarios/patroni-async-host-crash\.yaml --backend docker$",
     "tests/integration/test_patroni_docker.py::"
     "test_async_host_crash_loses_the_cut_to_crash_window"),
    (r"^pytest -n 2 --rpo-scenario ",
     "tests/integration/test_plugin_parallel.py::"
     "test_two_workers_run_scenarios_side_by_side_without_colliding"),
    (r"^(\$ )?\.venv/bin/python bench/longrun\.py",
     HERE + "test_the_long_run_benchmark_runs"),
    (r"^\.venv/bin/python bench/parallel\.py",
     HERE + "test_the_parallel_benchmark_runs_both_ways"),
    (r"^pytest --rpo-scenario ",
     "tests/integration/test_plugin.py::test_collection_by_folder_glob_and_name"),
    (r"^python -m rpochaos\.gameday plan examples/gameday/kafka-\S+ .*--execute",
     _GAMEDAY_KAFKA + "test_acks1_leader_cut_then_killed_game_day_loses_acknowledged_messages"),
    (r"^python -m rpochaos\.gameday plan examples/gameday/kafka-",
     _GAMEDAY_KAFKA + "test_kafka_plan_changes_nothing"),
    (r"^python -m rpochaos\.gameday plan .*--execute",
     _GAMEDAY + "test_execute_without_terminal_or_confirmation_is_refused"),
    (r"^python -m rpochaos\.gameday plan ", _GAMEDAY + "test_plan_changes_nothing"),
    (r"^python -m rpochaos\.gameday heal ",
     _GAMEDAY + "test_heal_after_sigkill_mid_partition_leaves_no_toxic_and_no_paused_container"),
    (r"^scripts/(docker-setup\.sh|kafka-jars\.sh)$", ".ci/run"),
    (r"^\.venv/bin/python -m pytest tests/integration/test_kafka\.py", ".ci/run"),
]  # fmt: skip


def _claim(command: str) -> str | None:
    return next((who for pattern, who in WHERE if re.search(pattern, command)), None)


def test_every_documented_command_is_run_by_a_test() -> None:
    unclaimed = [
        f"{d.file}:{d.line}: {d.command}" for d in documented() if _claim(d.command) is None
    ]
    assert not unclaimed, "documented commands no test runs:\n" + "\n".join(unclaimed)
    assert len(documented()) >= 40  # the reader finds the docs' commands at all


def test_every_claim_names_a_test_that_exists_and_is_still_needed() -> None:
    ci = (ROOT / ".ci" / "run").read_text() + (ROOT / "dev").read_text()
    assert "./dev test" in ci and "setup_docker" in ci and "setup_kafka" in ci
    used = {_claim(d.command) for d in documented()}
    for pattern, who in WHERE:
        assert who in used, f"{pattern!r} claims no documented command: remove it"
        if who == ".ci/run":
            continue
        path, _, name = who.partition("::")
        text = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", text, re.M), f"{who} does not exist"


def _run(
    *argv: str, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.timeout(300)
def test_dev_demo_sets_up_and_runs_the_canonical_scenario(real_pg: None, tmp_path: Path) -> None:
    """The README's first command: set-up (cached here), doctor, then the canonical scenario,
    whose verdict is FAIL (exit 1) by design."""
    out = tmp_path / "demo"
    proc = _run("./dev", "demo", "--out", str(out), "--no-html", timeout=280)
    _no_traceback(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  pg-async-partition-crash" in proc.stdout
    assert "postgres" in proc.stdout.split("topology up")[0]  # doctor's table came first
    r = json.loads((out / "result.json").read_text())
    assert r["verdict"] == "FAIL" and r["writes"]["lost"] > 0


@pytest.mark.timeout(400)
def test_the_benchmark_runs_and_prints_its_three_parts(real_pg: None) -> None:
    """``./dev bench --quick``: the wrapper passes its arguments to bench/run.py, which measures
    throughput, accuracy and bring-up and writes its figures (the full run is the same code
    with three 10 s rounds and a 5 s partition: ~4 min, not run in CI)."""
    latest = ROOT / "bench" / "results" / "latest.json"
    before = latest.read_bytes() if latest.exists() else None
    try:
        proc = _run("./dev", "bench", "--quick", timeout=380)
        _no_traceback(proc)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for part in ("1. Throughput", "2. Accuracy", "3. Bring-up", "injected from effective"):
            assert part in proc.stdout, proc.stdout
        figures = json.loads(latest.read_text())
        assert figures and figures != (json.loads(before) if before else None)
    finally:  # the committed figures are the ones docs/performance.md quotes
        if before is not None:
            latest.write_bytes(before)


@pytest.mark.timeout(300)
def test_the_scale_benchmark_runs_and_keeps_its_directory(tmp_path: Path) -> None:
    """docs/performance.md's scale commands, at 100,000 writes (the doc's 1 M and 10 M take
    minutes); ``--keep`` leaves the run directory, which ``rpochaos analyze`` reads."""
    out = tmp_path / "s"
    proc = _run(
        sys.executable,
        "bench/scale.py",
        "--writes",
        "100000",
        "--dir",
        str(out),
        "--keep",
        timeout=280,
    )
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = sorted(p.parent for p in out.glob("**/history.jsonl"))
    assert kept, list(out.glob("**/*"))
    analyze = _run(
        sys.executable, "-m", "rpochaos.cli", "analyze", str(kept[0]), "--json",
        timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    _no_traceback(analyze)
    assert analyze.returncode in (0, 1, 2), analyze.stdout + analyze.stderr
    assert json.loads(analyze.stdout)["writes"]["acknowledged"] > 90_000  # of 100,000 attempted


@pytest.mark.timeout(200)
def test_the_journal_format_benchmark_runs() -> None:
    proc = _run(sys.executable, "bench/journal_formats.py", "--writes", "20000", timeout=180)
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "write format 2" in proc.stdout and "read  format 2" in proc.stdout


@pytest.mark.timeout(400)
def test_the_parallel_benchmark_runs_both_ways(real_pg: None) -> None:
    """docs/performance.md's parallel benchmark, on two short scenarios (the doc's run of the
    six PostgreSQL scenarios takes ~4 min)."""
    proc = _run(
        sys.executable, "bench/parallel.py", "--scenarios",
        "pg-sync-partition-crash", "pg-async-lag-within-rpo", timeout=380,
    )  # fmt: skip
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wall: serial" in proc.stdout and "-n 2" in proc.stdout
    assert "verdicts the same in both runs" in proc.stdout, proc.stdout
    assert proc.stdout.count("PASS") == 4, proc.stdout


@pytest.mark.timeout(300)
def test_the_long_run_benchmark_runs(real_pg: None, tmp_path: Path) -> None:
    """docs/performance.md's long run, for 30 s at 300 writes/s (the doc's runs take 4 and 10
    minutes); ``--keep`` leaves a run directory that analyses."""
    out = tmp_path / "long"
    proc = _run(
        sys.executable, "bench/longrun.py", "--minutes", "0.5", "--rate", "300",
        "--keep", str(out), timeout=280,
    )  # fmt: skip
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "harness RSS:" in proc.stdout and "analyze: exit 1" in proc.stdout, proc.stdout
    assert json.loads((out / "result.json").read_text())["verdict"] == "FAIL"
