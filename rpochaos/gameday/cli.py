"""The ``gameday`` and ``heal`` commands, as the CLI's command table takes them: each an
``add_*_arguments(parser)`` and a ``*_main(args, console) -> int``.

Exit codes: ``gameday`` without ``--execute`` 0 when the preflight passes, 2 when it does not;
with ``--execute`` the verdict's (0 PASS, 1 FAIL, 2 UNKNOWN), 130 interrupted; 254 for bad
input, a target not in the inventory, a failed preflight before executing, or a missing or
wrong confirmation. ``heal`` 0 (it prints what it removed), 2 when Toxiproxy or the engine
cannot be reached (what is left is then unknown), 254 on a bad inventory.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from rpochaos.errors import ProxyError, ScenarioError
from rpochaos.gameday.heal import heal_inventory
from rpochaos.gameday.inventory import AnyInventory, KafkaInventory, load_inventory
from rpochaos.gameday.plan import Plan, load_plan
from rpochaos.gameday.preflight import ok, preflight
from rpochaos.result import EXIT, EXIT_BAD_INPUT, EXIT_INTERNAL

EXIT_INTERRUPTED = 130
EXIT_PREFLIGHT = 2


def add_gameday_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", help="the plan: a scenario whose targets are inventory names")
    p.add_argument("--inventory", required=True, help="the *.inventory.yaml of the system")
    p.add_argument("--execute", action="store_true", help="act (default: only plan)")
    p.add_argument("--confirm", metavar="NAME", help="the inventory's name, for unattended runs")
    p.add_argument("--keep-data", action="store_true", help="keep the probe's table")
    p.add_argument("--out", type=Path, help="the run directory (default under --runs-root)")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="runs root (default runs/)")


def add_heal_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inventory", required=True, help="the *.inventory.yaml of the system")
    p.add_argument(
        "--all",
        action="store_true",
        help="remove every rpochaos toxic on the inventory's Toxiproxy, unpause every "
        "container a journal paused",
    )
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="runs root (default runs/)")


def _problems(e: ScenarioError, con: Console) -> int:
    for p in e.problems:
        con.print(escape(str(p)), highlight=False)
    return EXIT_BAD_INPUT


def _print_kafka_targets(inv: KafkaInventory, con: Console) -> None:
    for name, b in inv.brokers.items():
        con.print(
            f"  broker {escape(name)} (node {b.node_id}) at {escape(b.bootstrap)} "
            f"container={b.container or '-'}"
        )


def _print_probe(plan: Plan, con: Console) -> None:
    sc, inv = plan.scenario, plan.inventory
    w = sc.workload
    pace = f"{w.rate:g} writes/s x {w.concurrency} for {w.duration:g}s"
    if isinstance(inv, KafkaInventory):
        pr = inv.probe
        con.print(
            f"probe: {pace} to topic {escape(pr.topic_prefix)}<run id> (deleted at the end), "
            f"1 partition on {', '.join(inv.replicas)} (led by {inv.replicas[0]})"
        )
        con.print(
            f"durability: acks={w.acks} enable_idempotence={str(w.enable_idempotence).lower()}"
            f" replication_factor={pr.replication_factor} min.insync.replicas="
            f"{pr.min_insync_replicas} unclean.leader.election.enable="
            f"{str(pr.unclean_leader_election).lower()}"
        )
        return
    con.print(
        f"probe: {pace} into {inv.probe.schema_}.rpochaos_probe_<run id> (dropped at the end)"
    )


def print_plan(plan: Plan, con: Console) -> None:
    sc, inv = plan.scenario, plan.inventory
    con.print(f"[bold]game day[/bold] {escape(sc.name)} on inventory {escape(inv.name)}")
    con.print("targets (resolved against the inventory):")
    if isinstance(inv, KafkaInventory):
        _print_kafka_targets(inv, con)
    else:
        for name, node in inv.nodes.items():
            con.print(f"  node {escape(name)} ({node.role}) container={node.container or '-'}")
    for link, proxy in inv.links.items():
        con.print(
            f"  link {escape(link)} = proxy {escape(proxy)!r} on {inv.toxiproxy.api}"
            if inv.toxiproxy
            else f"  link {escape(link)}"
        )
    if isinstance(inv, KafkaInventory):
        con.print("failover: Kafka's own leader election (observed, not driven)")
    else:
        fo = inv.failover
        con.print(f"failover: {' '.join(fo.command) if fo else 'none (observe only)'}")
    _print_probe(plan, con)
    con.print("steps:")
    for ps in plan.steps:
        s = ps.step
        limit = "instant" if ps.max_s is None else f"healed after {ps.max_s:g}s at the latest"
        con.print(
            f"  t={s.at:g}s {s.action} {escape(s.target)}"
            f"{' [outage]' if s.outage else ''}: {limit}; rollback: {escape(ps.rollback)}"
        )
    c = inv.stop_conditions
    con.print(f"stop conditions (polled every {c.poll:g}s; each heals everything):")
    con.print(f"  total duration > {inv.limits.max_total:g}s")
    if c.max_error_rate is not None:
        con.print(f"  error rate > {c.max_error_rate:.0%} over {c.error_window:g}s")
    if c.max_lag_bytes is not None:
        con.print(f"  replication lag > {c.max_lag_bytes} bytes")
    for q in c.sql:
        con.print(f"  SQL on {escape(q.node)} returns true: {escape(q.query)}")
    for h in c.http:
        con.print(f"  health check {escape(h.url)} not 2xx")
    for pq in c.prometheus:
        con.print(
            f"  Prometheus {escape(pq.url)}: {escape(pq.query)} {pq.threshold} (or no answer)"
        )
    exposure = _exposure(plan)
    con.print(f"RPO exposure: declared RPO {sc.expect.rpo:g}s; {exposure}")


def _exposure(plan: Plan) -> str:
    """How many acknowledged writes the plan puts at risk, at most, if nothing replicates
    from its first link fault to its outage."""
    sc = plan.scenario
    outage = next((s for s in sc.schedule if s.outage), None)
    first = next(
        (s for s in sc.schedule if s.action in ("partition", "latency", "bandwidth")), None
    )
    if outage is None:
        return "no declared outage: nothing is expected to be lost"
    start = first.at if first is not None and first.at <= outage.at else outage.at
    span = outage.at - start
    at_risk = f"up to ~{span:g}s of writes (~{round(span * sc.workload.rate)} probe "
    inv = plan.inventory
    if isinstance(inv, KafkaInventory):
        isr = inv.probe.min_insync_replicas
        if sc.workload.acks == "all" and isr >= 2:
            return (
                f"acks=all with min.insync.replicas={isr}: nothing acknowledged should be "
                "lost (produce stalls instead)"
            )
        return at_risk + (
            f"messages) may be lost: acks={sc.workload.acks} with min.insync.replicas={isr} "
            "lets a leader acknowledge what its followers do not have"
        )
    return at_risk + "rows) may be lost if the replicas are asynchronous"


def _confirmed(a: argparse.Namespace, inv: AnyInventory, con: Console) -> bool:
    if a.confirm is not None:
        if a.confirm != inv.name:
            con.print(f"--confirm {escape(a.confirm)!r} is not the inventory's name; refused")
            return False
        return True
    if not sys.stdin.isatty():
        con.print("refused: no terminal to confirm on; pass --confirm NAME for unattended runs")
        return False
    typed = input(f"type the inventory's name ({inv.name}) to start: ").strip()
    if typed != inv.name:
        con.print("not confirmed; nothing was changed")
        return False
    return True


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def gameday_main(a: argparse.Namespace, con: Console) -> int:
    from rpochaos.gameday.execute import execute

    try:
        inv = load_inventory(a.inventory)
        plan = load_plan(a.plan, inv)
    except ScenarioError as e:
        return _problems(e, con)
    print_plan(plan, con)
    checks = preflight(plan)
    con.print("preflight:")
    for c in checks:
        mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
        con.print(f"  {mark} {escape(c.what)}: {escape(c.detail)}")
    if not a.execute:
        con.print("plan only: nothing was changed (--execute to run it)")
        return 0 if ok(checks) else EXIT_PREFLIGHT
    if not ok(checks):
        con.print("refused: the preflight failed; nothing was changed")
        return EXIT_BAD_INPUT
    if not _confirmed(a, inv, con):
        return EXIT_BAD_INPUT
    # Ctrl-C and SIGTERM heal and exit 130, even when started with SIGINT ignored (nohup, &)
    saved = [
        (signal.SIGTERM, signal.signal(signal.SIGTERM, _sigterm)),
        (signal.SIGINT, signal.signal(signal.SIGINT, signal.default_int_handler)),
    ]
    try:
        run = execute(
            plan,
            runs_root=a.runs_root,
            out=a.out,
            keep_data=a.keep_data,
            log=lambda m: con.print(escape(m), highlight=False),
        )
    except KeyboardInterrupt:
        con.print("interrupted: every fault was healed (see audit.jsonl)")
        return EXIT_INTERRUPTED
    except Exception as e:  # healed in execute's finally; never a traceback to the user
        con.print(f"run aborted, every fault healed: {escape(type(e).__name__)}: {escape(str(e))}")
        return EXIT_INTERNAL
    finally:
        for signum, handler in saved:
            signal.signal(signum, handler)
    r = run.result
    con.print(
        f"verdict {r.verdict}: lost {r.writes.lost} of {r.writes.acknowledged} acknowledged; "
        f"window {r.data_loss_window_s}s (RPO {r.rpo_declared_s}s); RTO {r.rto_s}s"
    )
    for reason in r.reasons:
        con.print(f"  {escape(reason)}")
    con.print(f"run directory: {run.run_dir} (summary.md, report.html, audit.jsonl)")
    return EXIT.get(str(r.verdict), 2)


def heal_main(a: argparse.Namespace, con: Console) -> int:
    try:
        inv = load_inventory(a.inventory)
    except ScenarioError as e:
        return _problems(e, con)
    try:
        done = heal_inventory(inv, a.runs_root, everything=a.all)
    except ProxyError as e:
        con.print(f"heal failed: {escape(str(e))}; what the run left is unknown: run it again")
        return EXIT["UNKNOWN"]
    for line in done:
        con.print(escape(line), highlight=False)
    con.print(f"healed: {len(done)} action(s)" if done else "nothing left to heal")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rpochaos.gameday")
    sub = p.add_subparsers(dest="command", required=True)
    add_gameday_arguments(sub.add_parser("plan", help="plan (and with --execute run) a game day"))
    add_heal_arguments(sub.add_parser("heal", help="heal what a killed game day left"))
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    con = Console(highlight=False, soft_wrap=True)
    if a.command == "plan":
        return gameday_main(a, con)
    return heal_main(a, con)
