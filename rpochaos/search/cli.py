"""``rpochaos search SCENARIO.yaml --budget N [--repeats K] [--boundary DIM] [--out DIR]``.

``add_arguments(parser)`` declares the command's arguments and ``main(args, console)`` runs
it; ``rpochaos.cli`` and ``python -m rpochaos.search`` both use these two. Exit codes: 0 no
schedule within the budget broke the RPO, 1 a failing schedule was found (written as
``<name>.found.yaml``), 2 none failed but some runs had no verdict, 254 bad input.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rpochaos.errors import BAD_INPUT, Problem, ScenarioError, bad_input_text
from rpochaos.report.index import write_index
from rpochaos.result import EXIT_BAD_INPUT
from rpochaos.search.database import ExampleDatabase, StoredFailure
from rpochaos.search.engine import Search, SearchResult
from rpochaos.search.output import (
    example_rows,
    summary_lines,
    table_header,
    write_outputs,
)
from rpochaos.search.report import write_report
from rpochaos.search.runner import RealRuns
from rpochaos.search.space import Space, space_of

EXIT_NONE, EXIT_FOUND, EXIT_UNKNOWN = 0, 1, 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The search command's arguments, on ``p`` (a subparser or a parser of its own)."""
    p.add_argument("scenario", help="a scenario file with a search space (docs/search.md)")
    p.add_argument("--budget", type=int, default=10, help="most runs spent looking (default 10)")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="K: runs per shrink candidate (default 3) or boundary point (default 1)",
    )
    p.add_argument(
        "--min-fails", type=int, default=None, help="M: a candidate fails in >= M of K (majority)"
    )
    p.add_argument("--boundary", metavar="DIM", help="bisect one dimension (e.g. cut.for)")
    p.add_argument("--out", type=Path, help="the search's directory (default under runs root)")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="default: runs")
    p.add_argument(
        "--backend",
        default=None,
        help="where nodes run: local or docker (default: as for rpochaos run)",
    )
    p.add_argument("--seed", type=int, default=0, help="the search's own random choices")
    p.add_argument(
        "--shrink-seconds",
        type=float,
        default=900.0,
        help="wall-clock cap on shrinking (default 900; 0: do not shrink)",
    )
    p.add_argument("--fresh", action="store_true", help="do not replay stored failures")


def _bad(key: str, given: object, expected: str) -> ScenarioError:
    return ScenarioError([Problem("search", None, key, str(given), expected)])


def _check(args: argparse.Namespace, space: Space) -> None:
    if args.budget < 1:
        raise _bad("--budget", args.budget, "an integer >= 1")
    if args.repeats is not None and args.repeats < 1:
        raise _bad("--repeats", args.repeats, "an integer >= 1")
    k = args.repeats or (1 if args.boundary else 3)
    if args.min_fails is not None and not 1 <= args.min_fails <= k:
        raise _bad("--min-fails", args.min_fails, f"an integer from 1 to K = {k}")
    if args.shrink_seconds < 0:
        raise _bad("--shrink-seconds", args.shrink_seconds, "a number >= 0")
    if args.boundary is not None:
        numeric = [d.name for d in space.dimensions if d.numeric]
        if args.boundary not in numeric:
            raise _bad(
                "--boundary",
                args.boundary,
                "a numeric dimension: " + (", ".join(numeric) or "none"),
            )


def run_search(
    args: argparse.Namespace, console: Console, log: bool = True
) -> tuple[Space, SearchResult, Path, Path | None]:
    """Run the search the arguments describe and write its outputs; returns the space, the
    result, the search's directory and the .found.yaml (None when none failed). Raises
    ScenarioError for bad input (before any run) and MissingDependency."""
    space = space_of(args.scenario)
    _check(args, space)
    if args.backend is not None:
        from rpochaos.backends import resolve_backend

        resolve_backend(args.backend, None)  # ScenarioError for an unknown name, before any run
    runs_root: Path = args.runs_root
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    out_dir: Path = args.out or runs_root / space.name / f"search-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    db = ExampleDatabase(runs_root)
    stored = [] if args.fresh else db.failures(space.content_hash)

    def say(line: str) -> None:
        if log:
            console.print(line, markup=False)

    search = Search(
        space,
        RealRuns(space, out_dir, backend=args.backend),
        budget=args.budget,
        repeats=args.repeats or (1 if args.boundary else 3),
        min_fails=args.min_fails,
        shrink_seconds=args.shrink_seconds,
        max_shrink_runs=0 if args.shrink_seconds == 0 else 40,
        seed=args.seed,
        stored=stored,
        log=say,
    )
    say(f"searching {space.path}: {len(space.dimensions)} dimension(s) {', '.join(space.names)}")
    result = search.boundary(args.boundary) if args.boundary else search.run()
    found = write_outputs(out_dir, space, result)
    summary = summary_lines(space, result, found)
    write_report(out_dir, space, result, summary)
    failure = None
    if result.final is not None and result.reproduction is not None:
        complete = result.shrunk is not None and not result.shrunk.stopped
        failure = StoredFailure(result.final, complete, result.reproduction.rate, str(found or ""))
    db.record(
        space.content_hash,
        space.name,
        [
            {
                "candidate": e.candidate.to_json(),
                "verdict": e.outcome.verdict,
                "score": e.outcome.score,
            }
            for e in result.examples
        ],
        failure,
    )
    try:
        out_dir.resolve().relative_to(runs_root.resolve())
        write_index(runs_root)
    except ValueError:
        write_index(out_dir)
    return space, result, out_dir, found


def main(args: argparse.Namespace, console: Console) -> int:
    """Run ``rpochaos search``; print the table of examples and the summary. Bad input is
    printed as file, line, key, given, expected (exit 254), never as a traceback."""
    try:
        space, result, out_dir, found = run_search(args, console)
    except BAD_INPUT as e:
        console.print(bad_input_text(e), markup=False)
        return EXIT_BAD_INPUT
    table = Table(*table_header(space), title=f"{len(result.examples)} examples")
    for row in example_rows(space, result.examples):
        table.add_row(*row)
    console.print(table)
    for line in summary_lines(space, result, found):
        console.print(line, markup=False)
    console.print(f"search directory: {out_dir} (report.html, examples.md)", markup=False)
    if result.status == "found":
        return EXIT_FOUND
    return EXIT_UNKNOWN if result.status == "unknown" else EXIT_NONE
