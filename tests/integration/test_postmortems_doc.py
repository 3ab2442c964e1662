"""docs/postmortems.md as a user follows it: every ``$ `` command of its ``sh`` blocks runs,
in order, in a directory that looks like the top of a checkout (its ``scenarios/``), with the
installed ``rpochaos``; what the doc shows of their output is what they print (the CSV
header, the witness's line in its shape, the SQL statement count = the lost count)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DOC = ROOT / "docs" / "postmortems.md"
BIN = Path(sys.executable).parent
#: the witness's line as the doc shows it, numbers aside
WITNESS_LINE = re.compile(
    r"witness: ok: (\d+) lost writes on primary's disk, 0 gone, (\d+) in flight at the crash "
    r"\(pg_waldump: (\d+) commits past the fork at [0-9A-F]+/[0-9A-F]+, took [\d.]+ s\)"
)


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [ln[2:] for b in blocks for ln in b.splitlines() if ln.startswith("$ ")]


def _shown(text: str) -> list[str]:
    return re.findall(r"```text\n(.*?)```", text, re.S)


def test_the_postmortem_walkthrough_runs_as_documented(real_pg: None, tmp_path: Path) -> None:
    text = DOC.read_text()
    commands = _commands(text)
    assert [c.split()[0] for c in commands] == ["rpochaos", "rpochaos", "head", "rpochaos", "grep"]
    (tmp_path / "scenarios").symlink_to(SCENARIOS)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    out: list[str] = []
    for cmd in commands:
        proc = subprocess.run(
            ["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=200
        )
        assert "Traceback" not in proc.stdout + proc.stderr, cmd
        expected = 1 if cmd.startswith("rpochaos run") else 0  # the incident FAILs its RPO
        assert proc.returncode == expected, (cmd, proc.stdout, proc.stderr)
        out.append(proc.stdout)
    result = json.loads((tmp_path / "runs" / "incident" / "result.json").read_text())
    lost, w = result["writes"]["lost"], result["witness"]
    # 1. the witness's line: every lost write on the old primary, none gone
    m = WITNESS_LINE.search(out[0].replace("\n  ", " "))
    assert m is not None, out[0]
    assert int(m.group(1)) == lost == w["on_old_primary"] and w["gone"] == 0
    assert int(m.group(3)) == int(m.group(1)) + int(m.group(2))
    shown = _shown(text)
    assert WITNESS_LINE.fullmatch(shown[0].strip()), "the doc's witness line is not its shape"
    # 2. the CSV: the header as shown, a row per lost write, all on the old primary
    assert out[2].splitlines()[0] == shown[1].splitlines()[0]
    rows = (tmp_path / "lost.csv").read_text().splitlines()[1:]
    assert len(rows) == lost and {r.split(",")[1] for r in rows} == {"on_old_primary"}
    # the SQL: one statement per lost write
    assert int(out[4].strip()) == lost
