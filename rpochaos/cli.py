"""The ``rpochaos`` command: a thin face over the library.

Every command is one entry of ``COMMANDS``: its name, its line in the README's command block,
its ``--help`` text, its arguments and its handler. ``build_parser`` and the dispatch in
``main`` are made from that list, and ``readme_block()`` renders the README's block from it
(a test checks that the README says exactly that). Adding a command is adding one entry.

Scenario arguments (``run``, ``validate``, ``list``, ``plan``) are found by
``rpochaos.finder``: a path, a folder, a glob or a name looked up in ``scenarios/``.

Exit codes: 0 PASS, 1 FAIL, 2 UNKNOWN (also a run stopped because Toxiproxy, a node or the
engine died outside the schedule), 130 interrupted (Ctrl-C or SIGTERM), 254 bad input
(scenario, arguments, missing program, a disk too full for the run), 255 internal error (a
one-line message; the traceback goes to a file it names, never to the terminal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from rpochaos import cli_arguments as opts
from rpochaos import deps, finder
from rpochaos.errors import (
    BAD_INPUT,
    Problem,
    RpochaosError,
    ScenarioError,
    bad_input_text,
)
from rpochaos.live import LiveView as _LiveView
from rpochaos.report.summary import render
from rpochaos.result import EXIT, EXIT_BAD_INPUT, EXIT_INTERNAL, analyze
from rpochaos.scenario import load

EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _cmd_validate(a: argparse.Namespace, con: Console) -> int:
    bad = 0
    for f in finder.find_all(a.files):
        try:
            sc = load(f)
        except ScenarioError as e:
            bad += 1
            con.print(str(e), markup=False)
        except OSError as e:
            bad += 1
            con.print(f"{f}: cannot read: {e.strerror}", markup=False)
        else:
            rpo = sc.expect.rpo * sc.time_scale
            con.print(
                f"ok  {f}  ({sc.name}: {len(sc.schedule)} steps, RPO {rpo:g} s)",
                markup=False,
            )
    return EXIT_BAD_INPUT if bad else 0


def _cmd_list(a: argparse.Namespace, con: Console) -> int:
    for f in finder.find_all(a.dirs or [str(finder.DEFAULT_DIR)]):
        try:
            sc = load(f)
            desc = sc.description or ""
            rpo = sc.expect.rpo * sc.time_scale
            con.print(f"{sc.name:40s} RPO {rpo:>6g} s  {desc}", markup=False)
        except (ScenarioError, OSError):
            con.print(f"{f}  (invalid: run 'rpochaos validate {f}')", markup=False)
    return 0


def _cmd_plan(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.report.plan import format_plan, format_summary

    sc = load(finder.find_one(a.scenario))
    if a.seed is not None:
        sc = sc.with_seed(a.seed)
    for line in [format_summary(sc), *format_plan(sc)]:
        con.print(line, markup=False, highlight=False)
    return 0


def _cmd_run(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.report.index import repeat_lines, repeat_summary
    from rpochaos.run import run  # heavy imports only for run

    scenario = finder.find_one(a.scenario)
    live = _LiveView(con, mode="quiet" if a.quiet else ("plain" if a.plain else "auto"))

    def log(msg: str) -> None:
        if not a.quiet:
            live.print(msg)

    if a.repeat < 1:
        raise ScenarioError([Problem("--repeat", None, "repeat", str(a.repeat), "an integer >= 1")])
    opts.kube_env(a)
    results: list[dict[str, Any]] = []
    worst = 0
    try:
        for i in range(a.repeat):
            out = a.out if a.repeat == 1 or a.out is None else Path(a.out) / f"run-{i + 1}"
            if a.repeat > 1:
                con.print(f"run {i + 1} of {a.repeat}", style="bold", highlight=False)
            res = run(
                scenario,
                backend=a.backend,
                out=out,
                runs_root=a.runs_root,
                keep_topology=a.keep_topology,
                seed=a.seed,
                log=log,
                observe_rate=a.observe_rate,
                html=not a.no_html,
                on_state=live.update,
                postgres_image=a.postgres_image,
                toxiproxy_image=a.toxiproxy_image,
                kafka_image=a.kafka_image,
            )
            live.stop()
            render(res.result, con)
            results.append(res.result)
            worst = max(worst, res.exit_code, key=lambda c: {0: 0, 2: 1, 1: 2}.get(c, 3))
            if a.push_gateway:
                _push(res.run_dir, res.result, a.push_gateway, a.push_job, con)
    finally:
        live.stop()
    if a.repeat > 1:
        for line in repeat_lines(repeat_summary(results)):
            con.print(line, markup=False, highlight=False)
    if a.junit:
        from rpochaos.report.junit import write_junit

        write_junit(results, Path(a.junit))
    return worst


def _push(run_dir: Path, result: dict[str, Any], url: str, job: str, con: Console) -> None:
    from rpochaos.observe.postgres import OBSERVATIONS, max_lag_bytes, read_observations
    from rpochaos.report.metrics import push

    obs = run_dir / OBSERVATIONS
    lag = max_lag_bytes(read_observations(obs)) if obs.exists() else None
    try:
        push(result, url, job, max_lag_bytes=lag)
        con.print(f"pushed metrics to {url} (job {job})", style="dim", markup=False)
    except OSError as e:
        con.print(f"warning: could not push metrics to {url}: {e}", markup=False)


def _cmd_images(a: argparse.Namespace, con: Console) -> int:
    from rpochaos import images

    if a.action == "build":
        for step in images.build_images(force=a.force, log=lambda m: con.print(m, markup=False)):
            con.print(str(step), markup=False)
    else:
        for name, state in images.status().items():
            con.print(f"{name:36s} {state}", markup=False)
    return 0


def _cmd_report(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.report.index import write_index

    root = Path(a.runs_root)
    if not root.is_dir():
        con.print(f"{root}: no such directory (expected a folder of run directories)", markup=False)
        return EXIT_BAD_INPUT
    path = write_index(root)
    con.print(f"wrote {path}", markup=False)
    return 0


def _cmd_analyze(a: argparse.Namespace, con: Console) -> int:
    d = Path(a.run_dir)
    if not (d / "resolved.json").exists():
        con.print(f"{d} is not a run directory (no resolved.json)", markup=False)
        return EXIT_BAD_INPUT
    result = analyze(d)
    with contextlib.suppress(Exception):  # the report is a convenience; analyze answers anyway
        from rpochaos.report.html import write_html

        write_html(d)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        render(result, con)
    return EXIT[result["verdict"]]


def _cmd_lost(a: argparse.Namespace, con: Console) -> int:
    """The lost rows as the old primary's disk held them (``rpochaos.witness.export``)."""
    from rpochaos.witness.export import ExportError, export_lost

    try:
        text = export_lost(Path(a.run_dir), a.format)
    except ExportError as e:
        con.print(str(e), markup=False)
        return EXIT_BAD_INPUT
    if a.out is None:
        sys.stdout.write(text)
    else:
        Path(a.out).write_text(text, encoding="utf-8")
        con.print(f"wrote {a.out}", markup=False)
    return 0


def _cmd_doctor(a: argparse.Namespace, con: Console) -> int:
    """Exit 254 when a required program is missing; a missing optional one (needed only by
    some systems) is shown but does not fail."""
    from rpochaos.doctor import doctor

    missing = 0
    for c in doctor():
        if c.found:
            mark = "[green]found   [/green]"
        else:
            mark = "[red]missing [/red]" if c.required else "[yellow]optional[/yellow]"
        con.print(f"{mark} {c.name:14s} ", end="")
        con.print(c.detail if c.found else f"install: {c.detail}", markup=False)
        missing += 0 if c.found or not c.required else 1
    return EXIT_BAD_INPUT if missing else 0


def _cmd_schema(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.scenario import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_search(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.search.cli import main as search_main

    return search_main(a, con)


def _search_arguments(p: argparse.ArgumentParser) -> None:
    from rpochaos.search.cli import add_arguments

    add_arguments(p)


def _cmd_gameday(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.gameday.cli import gameday_main

    return gameday_main(a, con)


def _gameday_arguments(p: argparse.ArgumentParser) -> None:
    from rpochaos.gameday.cli import add_gameday_arguments

    add_gameday_arguments(p)


def _cmd_heal(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.gameday.cli import heal_main

    return heal_main(a, con)


def _heal_arguments(p: argparse.ArgumentParser) -> None:
    from rpochaos.gameday.cli import add_heal_arguments

    add_heal_arguments(p)


def _cmd_gc(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.backends import gc
    from rpochaos.witness import role

    results = gc(Path(a.runs_root), force=a.force, run_id=a.run)
    results += role.gc() if a.run is None else []  # scratch dirs carry no run id
    failed = [r for r in results if "could not remove" in r]
    for r in results:
        con.print(r if r in failed else f"removed {r}", markup=False)
    con.print(f"{len(results) - len(failed)} leftover(s) removed", markup=False)
    if failed:
        con.print(f"{len(failed)} could not be removed (see above)", markup=False)
        return EXIT_INTERNAL
    return 0


# -- the command table ---------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Console], int]


@dataclass(frozen=True)
class Command:
    """One ``rpochaos`` command. ``synopsis``: its arguments as the README shows them (after
    ``rpochaos <name>``; may continue on further lines); ``comment``: what the README says
    of it after ``#`` (none for a multi-line synopsis); ``help``: its ``--help`` line."""

    name: str
    synopsis: str
    comment: str
    help: str
    handler: Handler
    arguments: Callable[[argparse.ArgumentParser], None] = opts.no_arguments


COMMANDS: list[Command] = [
    Command(
        "run",
        "SCENARIO.yaml [--backend local|docker|kubernetes] [--out DIR] [--seed N]\n"
        "             [--keep-topology] [--kubeconfig FILE] [--kube-context NAME]\n"
        "             [--repeat N] [--junit FILE] [--push-gateway URL] [--observe-rate HZ] "
        "[-q|--plain]",
        "",
        "run a scenario end to end",
        _cmd_run,
        opts.run_arguments,
    ),
    Command(
        "validate",
        "SCENARIO...",
        "files, folders, globs or names: every problem, with file:line",
        "check scenario files without running anything",
        _cmd_validate,
        opts.validate_arguments,
    ),
    Command(
        "list",
        "[DIR]",
        "shipped scenarios and their RPOs",
        "list scenarios in folders (default: scenarios/)",
        _cmd_list,
        opts.list_arguments,
    ),
    Command(
        "plan",
        "SCENARIO.yaml [--seed N]",
        "the resolved timeline, without running anything",
        "print a scenario's timeline without running it",
        _cmd_plan,
        opts.plan_arguments,
    ),
    Command(
        "report",
        "[RUNS_DIR]",
        "RUNS_DIR/index.html: a row per run",
        "write RUNS_DIR/index.html with a row per run",
        _cmd_report,
        opts.report_arguments,
    ),
    Command(
        "images",
        "build|status",
        "the local docker images (where no registry answers)",
        "build (or show) the local docker images",
        _cmd_images,
        opts.images_arguments,
    ),
    Command(
        "analyze",
        "RUN_DIR [--json]",
        "recompute result.json from a run directory alone",
        "recompute result.json from a run directory",
        _cmd_analyze,
        opts.analyze_arguments,
    ),
    Command(
        "lost",
        "RUN_DIR [--format csv|sql]",
        "the lost writes as the old primary's disk held them",
        "export the lost writes, read from the old primary's disk by the witness",
        _cmd_lost,
        opts.lost_arguments,
    ),
    Command(
        "doctor",
        "",
        "each external dependency: found (version) or missing (install command)",
        "list external dependencies, found or missing",
        _cmd_doctor,
    ),
    Command(
        "search",
        "SCENARIO.yaml [--budget N] [--repeats K] [--boundary DIM] [--out DIR]",
        "",
        "search a scenario's space for the smallest schedule that breaks its RPO",
        _cmd_search,
        _search_arguments,
    ),
    Command(
        "gameday",
        "PLAN.yaml --inventory INV.yaml [--execute [--confirm NAME]] [--keep-data]",
        "",
        "plan (with --execute: run) a game day on an inventory's own system",
        _cmd_gameday,
        _gameday_arguments,
    ),
    Command(
        "heal",
        "--inventory INV.yaml [--all]",
        "undo what a killed game day left (its toxics, paused containers)",
        "undo what a killed game day left",
        _cmd_heal,
        _heal_arguments,
    ),
    Command(
        "schema",
        "",
        "the scenario file's JSON Schema (editors: docs/scenarios.md)",
        "print the JSON Schema of scenario files",
        _cmd_schema,
    ),
    Command(
        "gc",
        "[RUNS_ROOT] [--force] [--run ID]",
        "remove servers and data of killed or kept runs",
        "remove servers, containers and data left by dead or kept runs",
        _cmd_gc,
        opts.gc_arguments,
    ),
]


def readme_block() -> str:
    """The README's command block, as the command table has it: one line per command (more
    for a long synopsis), comments aligned."""
    heads = [f"rpochaos {c.name} {c.synopsis}".rstrip() for c in COMMANDS]
    width = max(len(h) for h, c in zip(heads, COMMANDS, strict=True) if c.comment) + 2
    return "\n".join(
        f"{h.ljust(width)}# {c.comment}" if c.comment else h
        for h, c in zip(heads, COMMANDS, strict=True)
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rpochaos", description="Measure lost acknowledged writes against an RPO.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    for c in COMMANDS:
        sp = sub.add_parser(c.name, help=c.help, description=c.help)
        c.arguments(sp)
        sp.set_defaults(handler=c.handler)
    return p


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def _internal_error() -> str:
    """Write the current exception's traceback to a file; return its path."""
    try:
        d = deps.cache_dir()
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        d = Path(tempfile.gettempdir())
    with tempfile.NamedTemporaryFile(
        "w", prefix="internal-error-", suffix=".txt", dir=d, delete=False
    ) as f:
        f.write(traceback.format_exc())
    return f.name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    con = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _sigterm)  # SIGTERM is a Ctrl-C: heal, tear down, 130
    handler: Handler = args.handler
    try:
        return handler(args, con)
    except BAD_INPUT as e:
        err.print(bad_input_text(e), markup=False)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err.print(
            "interrupted: faults healed, processes removed; the journal is kept "
            "(rpochaos analyze RUN_DIR answers from it)",
            markup=False,
        )
        return EXIT_INTERRUPTED
    except RpochaosError as e:
        err.print(f"error: {e}", markup=False)
        return EXIT_INTERNAL
    except Exception as e:
        where = _internal_error()
        err.print(
            f"internal error (a bug in rpochaos): {type(e).__name__}: {e}\n"
            f"the details are in {where}",
            markup=False,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
