"""The ``rpochaos`` command: a thin face over the library.

Exit codes: 0 PASS, 1 FAIL, 2 UNKNOWN, 130 interrupted, 254 bad input (scenario, arguments,
missing program), 255 internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from rpochaos import deps
from rpochaos.errors import MissingDependency, Problem, RpochaosError, ScenarioError
from rpochaos.live import LiveView as _LiveView
from rpochaos.report.summary import render
from rpochaos.result import EXIT, EXIT_BAD_INPUT, EXIT_INTERNAL, analyze
from rpochaos.scenario import load

EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _scenario_files(args: list[str]) -> list[Path]:
    out: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            out.append(p)
    return out


def _cmd_validate(a: argparse.Namespace, con: Console) -> int:
    bad = 0
    for f in _scenario_files(a.files):
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
    for f in _scenario_files(a.dirs or ["scenarios"]):
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

    sc = load(a.scenario)
    if a.seed is not None:
        sc = sc.with_seed(a.seed)
    for line in [format_summary(sc), *format_plan(sc)]:
        con.print(line, markup=False, highlight=False)
    return 0


def _cmd_run(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.report.index import repeat_lines, repeat_summary
    from rpochaos.run import run  # heavy imports only for run

    live = _LiveView(con, mode="quiet" if a.quiet else ("plain" if a.plain else "auto"))

    def log(msg: str) -> None:
        if not a.quiet:
            live.print(msg)

    if a.repeat < 1:
        raise ScenarioError([Problem("--repeat", None, "repeat", str(a.repeat), "an integer >= 1")])
    results: list[dict[str, Any]] = []
    worst = 0
    try:
        for i in range(a.repeat):
            out = a.out if a.repeat == 1 or a.out is None else Path(a.out) / f"run-{i + 1}"
            if a.repeat > 1:
                con.print(f"run {i + 1} of {a.repeat}", style="bold", highlight=False)
            res = run(
                a.scenario,
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
        con.print(str(images.status()), markup=False)
    return 0


def _cmd_report(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.report.index import write_index

    path = write_index(Path(a.runs_root))
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


def _cmd_doctor(a: argparse.Namespace, con: Console) -> int:
    missing = 0
    for c in deps.doctor():
        mark = "[green]found  [/green]" if c.found else "[red]missing[/red]"
        con.print(f"{mark} {c.name:14s} ", end="")
        con.print(c.detail if c.found else f"install: {c.detail}", markup=False)
        missing += 0 if c.found or c.name == "go" else 1
    return EXIT_BAD_INPUT if missing else 0


def _cmd_gc(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.backends import gc

    removed = gc(Path(a.runs_root), force=a.force)
    for r in removed:
        con.print(f"removed {r}", markup=False)
    con.print(f"{len(removed)} leftover server(s) removed", markup=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rpochaos", description="Measure lost acknowledged writes against an RPO.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a scenario end to end")
    r.add_argument("scenario")
    r.add_argument(
        "--backend",
        default=None,
        help="where nodes run: local or docker (default: $RPOCHAOS_BACKEND, the "
        "scenario's backend key, else local)",
    )
    r.add_argument(
        "--postgres-image",
        default=None,
        help="docker: PostgreSQL image (default $RPOCHAOS_PG_IMAGE, postgres:15, "
        "else the locally built rpochaos/postgres:15)",
    )
    r.add_argument(
        "--kafka-image",
        default=None,
        help="docker: Kafka image (default $RPOCHAOS_KAFKA_IMAGE, apache/kafka:3.9.2, "
        "else the locally built rpochaos/kafka:3.9.2)",
    )
    r.add_argument(
        "--toxiproxy-image",
        default=None,
        help="docker: Toxiproxy image (default $RPOCHAOS_TOXIPROXY_IMAGE, ...)",
    )
    r.add_argument("--out", type=Path, help="run directory (default: runs/<name>/<time>)")
    r.add_argument("--runs-root", type=Path, default=Path("runs"))
    r.add_argument("--seed", type=int)
    r.add_argument(
        "--keep-topology",
        action="store_true",
        help="leave nodes and proxies running and print how to reach them",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    r.add_argument(
        "--plain",
        action="store_true",
        help="progress as plain lines every 2 s (the default when not a terminal)",
    )
    r.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run N times; print meets-RPO %% and the spread of windows",
    )
    r.add_argument(
        "--observe-rate",
        type=float,
        default=10.0,
        metavar="HZ",
        help="replication-state samples per second (0: off; default 10)",
    )
    r.add_argument("--no-html", action="store_true", help="skip report.html")
    r.add_argument("--junit", metavar="FILE", help="write a JUnit XML file with the results")
    r.add_argument("--push-gateway", metavar="URL", help="push metrics to a Prometheus Pushgateway")
    r.add_argument("--push-job", default="rpochaos", metavar="NAME")
    v = sub.add_parser("validate", help="check scenario files without running anything")
    v.add_argument("files", nargs="+")
    ls = sub.add_parser("list", help="list scenarios in folders (default: scenarios/)")
    ls.add_argument("dirs", nargs="*")
    pl = sub.add_parser("plan", help="print a scenario's timeline without running it")
    pl.add_argument("scenario")
    pl.add_argument("--seed", type=int, help="resolve random choices with this seed")
    an = sub.add_parser("analyze", help="recompute result.json from a run directory")
    an.add_argument("run_dir")
    an.add_argument("--json", action="store_true")
    sub.add_parser("doctor", help="list external dependencies, found or missing")
    im = sub.add_parser("images", help="build (or show) the local docker images")
    im.add_argument("action", choices=["build", "status"])
    im.add_argument("--force", action="store_true", help="rebuild even when present")
    rp = sub.add_parser("report", help="write RUNS_DIR/index.html with a row per run")
    rp.add_argument("runs_root", nargs="?", default="runs")
    g = sub.add_parser("gc", help="kill servers left behind by dead or kept runs")
    g.add_argument("runs_root", nargs="?", default="runs")
    g.add_argument(
        "--force",
        action="store_true",
        help="also runs whose owner is alive (e.g. kept with --keep-topology)",
    )
    return p


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    con = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _sigterm)
    handlers = {
        "run": _cmd_run,
        "validate": _cmd_validate,
        "list": _cmd_list,
        "plan": _cmd_plan,
        "analyze": _cmd_analyze,
        "doctor": _cmd_doctor,
        "gc": _cmd_gc,
    }
    try:
        return handlers[args.cmd](args, con)
    except (ScenarioError, MissingDependency) as e:
        err.print(str(e), markup=False)
        return EXIT_BAD_INPUT
    except FileNotFoundError as e:
        err.print(f"{e.filename}: no such file", markup=False)
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
    except Exception:
        err.print(traceback.format_exc(), markup=False)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
