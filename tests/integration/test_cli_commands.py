"""Every command the README and ``--help`` list runs, as a user runs it (the installed
``rpochaos`` entry point, in a subprocess), with cheap arguments: no traceback, a documented
exit code. The README's command block is the command table's, and ``--help`` agrees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rpochaos import cli as cli_module
from tests.helpers import ROOT, SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ENTRY_POINT = Path(sys.executable).parent / "rpochaos"
GAMEDAY = ROOT / "examples" / "gameday"
INVENTORY = ("--inventory", str(GAMEDAY / "staging.inventory.yaml"))
DOCUMENTED_EXITS = {0, 1, 2, 130, 254, 255}  # README: "Exit codes: ..."
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def rpochaos(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    assert ENTRY_POINT.exists(), f"{ENTRY_POINT}: rpochaos is not installed in this venv"
    return subprocess.run(
        [str(ENTRY_POINT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"## Using it\n\n```sh\n(.*?)\n```", text, re.S)
    assert m, "README.md has no '## Using it' command block"
    return m.group(1)


def readme_commands() -> dict[str, set[str]]:
    """Command -> its documented subcommands (``images build|status``)."""
    out: dict[str, set[str]] = {}
    for line in readme_block().splitlines():
        m = re.match(r"rpochaos (\w+)(?: ([a-z]+(?:\|[a-z]+)+))?", line)
        if m:
            out[m.group(1)] = set(m.group(2).split("|")) if m.group(2) else set()
    return out


def help_commands() -> dict[str, set[str]]:
    """Command -> its subcommand choices, as ``rpochaos --help`` and ``rpochaos CMD --help``
    list them."""
    top = rpochaos("--help")
    assert top.returncode == 0, top.stderr
    m = re.search(r"\{([a-z,]+)\}", top.stdout)
    assert m, top.stdout
    out: dict[str, set[str]] = {}
    for name in m.group(1).split(","):
        h = rpochaos(name, "--help")
        assert h.returncode == 0 and "Traceback" not in h.stdout + h.stderr, h.stdout + h.stderr
        usage = h.stdout.split("\n\n")[0]
        choice = re.search(r"\{([a-z]+(?:,[a-z]+)+)\}", usage)
        out[name] = set(choice.group(1).split(",")) if choice else set()
    return out


def test_the_readme_command_block_is_the_command_table() -> None:
    assert readme_block() == cli_module.readme_block()


def test_help_and_the_readme_list_the_same_commands_and_subcommands() -> None:
    assert help_commands() == readme_commands()


def _invocations(
    tmp: Path, have_pg: bool
) -> list[tuple[tuple[str, ...], dict[str, str], set[int]]]:
    run_dir = tmp / "runs" / "one"
    return [
        # a real run of the demo scenario: it is built to FAIL
        (
            ("run", "pg-async-partition-crash", "--out", str(run_dir), "-q", "--no-html"),
            {},
            {1} if have_pg else {254},
        ),
        (("validate", str(SCENARIOS)), {}, {0}),
        (("validate", "pg-split-brain", "no-such-scenario"), {}, {254}),
        (("list",), {}, {0}),
        (("plan", "pg-async-partition-crash", "--seed", "3"), {}, {0}),
        (("report", str(tmp / "runs")), {}, {0}),
        (("report", str(tmp / "nowhere")), {}, {254}),
        (("images", "status"), {}, {0, 254}),  # 254: no engine here
        (("images", "build"), NO_ENGINE, {254}),  # cheap: no engine answers
        (("analyze", str(run_dir)), {}, {1} if have_pg else {254}),
        (("analyze", str(run_dir), "--json"), {}, {1} if have_pg else {254}),
        # the witness read the crashed primary's disk in that run: its lost rows
        (("lost", str(run_dir)), {}, {0} if have_pg else {254}),
        (("lost", str(run_dir), "--format", "sql"), {}, {0} if have_pg else {254}),
        (("lost", str(tmp / "nowhere")), {}, {254}),
        (("doctor",), {}, {0, 254}),
        (("schema",), {}, {0}),
        # a scenario with no search space is refused before any run (real searches:
        # tests/integration/test_search.py)
        (("search", str(SCENARIOS / "pg-split-brain.yaml"), "--budget", "1"), {}, {254}),
        # plan only (nothing runs there: the preflight fails, exit 2) and a heal with nothing
        # reachable (2: what is left is unknown)
        (("gameday", str(GAMEDAY / "async-partition-crash.plan.yaml"), *INVENTORY), {}, {0, 2}),
        (("heal", *INVENTORY), {}, {0, 2}),
        (("gc", str(tmp / "runs")), {}, {0}),
        (("gc", str(tmp / "runs"), "--force", "--run", "0123456789"), {}, {0}),
    ]


def test_every_documented_command_runs_without_a_traceback(tmp_path: Path) -> None:
    from rpochaos import deps
    from rpochaos.errors import MissingDependency

    try:
        deps.pg_bindir(), deps.db_user(), deps.toxiproxy_server()
        have_pg = True
    except MissingDependency:
        have_pg = os.environ.get("CI") == "true"  # under CI the run must really happen
    documented = readme_commands()
    exercised: dict[str, set[str]] = {}
    for args, env, expected in _invocations(tmp_path, have_pg):
        proc = rpochaos(*args, env=env, timeout=180)
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text, f"rpochaos {' '.join(args)}:\n{text}"
        assert proc.returncode in DOCUMENTED_EXITS, (args, proc.returncode, text)
        assert proc.returncode in expected, (args, proc.returncode, text)
        subs = exercised.setdefault(args[0], set())
        if documented.get(args[0]):
            subs.add(args[1])
    assert exercised == documented, "a documented command or subcommand is not exercised here"


def test_the_printed_schema_validates_every_shipped_scenario(tmp_path: Path) -> None:
    """``rpochaos schema > s.json``, then a standard JSON Schema validator over every shipped
    scenario file (as an editor would with yaml-language-server)."""
    import jsonschema
    import yaml

    printed = rpochaos("schema")
    assert printed.returncode == 0 and "Traceback" not in printed.stderr, printed.stderr
    (tmp_path / "s.json").write_text(printed.stdout)
    schema = json.loads((tmp_path / "s.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(SCENARIOS.rglob("*.yaml"))
    assert len(files) >= 15
    for f in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(f.read_text()))]
        assert not errors, (f, errors)
    broken = yaml.safe_load((SCENARIOS / "pg-async-partition-crash.yaml").read_text())
    broken["workload"]["rate"] = "fast"
    assert list(validator.iter_errors(broken)), "a wrong rate must not validate"


def test_doctor_fails_only_on_a_missing_required_program() -> None:
    """What only some systems need (here etcd, for Patroni) is shown as optional and does not
    fail ``doctor`` (the README's demo runs it first); a missing Toxiproxy does."""
    optional = rpochaos("doctor", env={"RPOCHAOS_ETCD": "/nonexistent/etcd"})
    assert "Traceback" not in optional.stdout + optional.stderr
    line = next(x for x in optional.stdout.splitlines() if " etcd " in f" {x} ")
    assert line.startswith("optional"), optional.stdout
    required = rpochaos("doctor", env={"RPOCHAOS_TOXIPROXY": "/nonexistent/toxiproxy-server"})
    assert required.returncode == 254, required.stdout
    assert any(x.startswith("missing") and "toxiproxy" in x for x in required.stdout.splitlines())
    if all(not x.startswith("missing") for x in optional.stdout.splitlines()):
        assert optional.returncode == 0, optional.stdout
