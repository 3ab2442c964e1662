"""A game-day plan: an ordinary scenario (workload, schedule, expect) whose targets are the
names of an inventory, with no topology section: the system already exists.

``load_plan(path, inventory)`` validates the plan with the scenario package itself (the
inventory's nodes stand in for the topology, appended after the file's last line so every
line number stays the file's own), then checks what only the inventory can say: every link
is one of its proxies, every node action has a container, a promote has a failover command,
the rate, the duration and every fault fit the limits. Every problem is reported at once
(``ScenarioError``, file and line); nothing outside the inventory gets through.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from rpochaos.errors import Problem, ScenarioError
from rpochaos.gameday.inventory import Inventory
from rpochaos.scenario import LINK_ACTIONS, Scenario, Step, loads

#: what a game day can do to a PostgreSQL system it does not own
SUPPORTED = ("partition", "latency", "bandwidth", "crash", "pause", "restart", "promote")
NODE_DOCKER_ACTIONS = ("crash", "pause", "restart")


@dataclass(frozen=True)
class PlannedStep:
    """One step with what the game day enforces: its hard deadline and how it is undone."""

    step: Step
    max_s: float | None  # None: an instant action (crash, restart, promote)
    rollback: str


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    inventory: Inventory
    steps: tuple[PlannedStep, ...]
    text: str


def _topology(inv: Inventory) -> str:
    replicas = [{"name": r, "mode": "async"} for r in inv.replicas]
    block = {"topology": {"synchronous_commit": "on", "replicas": replicas}}
    return yaml.safe_dump(json.loads(json.dumps(block)), sort_keys=False)


def _rollback(step: Step, inv: Inventory) -> str:
    a = step.action
    if a in LINK_ACTIONS:
        return f"remove the run's toxics from proxy {inv.links.get(step.target, '?')!r}"
    container = inv.nodes[step.target].container if step.target in inv.nodes else None
    if a == "pause":
        return f"docker unpause {container}"
    if a == "crash":
        return f"none (the node stays down: a failover may have happened); docker start {container}"
    if a == "restart":
        return "none (the node is back when docker restart returns)"
    return "none (a promotion is not undone)"


def check_plan(sc: Scenario, inv: Inventory, file: str) -> list[PlannedStep]:
    """The inventory's rules over a validated scenario; raises ScenarioError."""
    problems: list[Problem] = []

    def bad(line: int | None, key: str, given: str, expected: str) -> None:
        problems.append(Problem(file, line, key, given, expected))

    lim = inv.limits
    if sc.workload.rate > lim.max_rate:
        bad(None, "workload.rate", f"{sc.workload.rate:g}/s", f"at most {lim.max_rate:g}/s")
    if sc.workload.duration > lim.max_total:
        bad(
            None,
            "workload.duration",
            f"{sc.workload.duration:g}s",
            f"at most {lim.max_total:g}s (limits.max_total)",
        )
    out: list[PlannedStep] = []
    for step in sc.schedule:
        key = f"schedule[{step.source_index if step.source_index >= 0 else step.index}]"
        a = step.action
        if a not in SUPPORTED:
            bad(step.line, key, a, "one of " + ", ".join(SUPPORTED) + " on a game day")
            continue
        if a == "partition" and step.params.get("mode", "blackhole") != "blackhole":
            bad(
                step.line,
                f"{key}.mode",
                str(step.params.get("mode")),
                "blackhole (a game day only adds toxics, which heal removes)",
            )
        if a in LINK_ACTIONS:
            if step.target not in inv.links:
                bad(
                    step.line,
                    f"{key}.{a}",
                    step.target,
                    "a link of the inventory: " + (", ".join(inv.links) or "(none declared)"),
                )
        elif a in NODE_DOCKER_ACTIONS:
            node = inv.nodes.get(step.target)
            if node is None or node.container is None:
                bad(
                    step.line, f"{key}.{a}", step.target, "a node of the inventory with a container"
                )
        elif a == "promote":
            if inv.failover is None:
                bad(step.line, key, "promote", "a failover command in the inventory")
            if step.target not in inv.replicas:
                bad(step.line, f"{key}.promote", step.target, "a replica named in the inventory")
        instant = a in ("crash", "restart", "promote") and step.duration is None
        if step.duration is not None and step.duration > lim.max_fault:
            bad(
                step.line,
                f"{key}.for",
                f"{step.duration:g}s",
                f"at most {lim.max_fault:g}s (limits.max_fault)",
            )
        max_s = None if instant else min(step.duration or lim.max_fault, lim.max_fault)
        out.append(PlannedStep(step, max_s, _rollback(step, inv)))
    if problems:
        raise ScenarioError(problems)
    return out


def loads_plan(text: str, inv: Inventory, file: str = "plan.yaml") -> Plan:
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError:
        top = None
    if isinstance(top, dict) and "topology" in top:
        line = next(
            (i + 1 for i, s in enumerate(text.splitlines()) if s.startswith("topology")), None
        )
        raise ScenarioError(
            [
                Problem(
                    file,
                    line,
                    "topology",
                    "a topology section",
                    "none: a game day runs against the inventory's existing system",
                )
            ]
        )
    if isinstance(top, dict) and top.get("system", "postgres") != "postgres":
        raise ScenarioError([Problem(file, None, "system", str(top["system"]), "postgres")])
    full = text if text.endswith("\n") else text + "\n"
    sc = loads(full + _topology(inv), file)
    steps = check_plan(sc, inv, file)
    return Plan(sc, inv, tuple(steps), text)


def load_plan(path: str | Path, inv: Inventory) -> Plan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([Problem(str(p), None, "(file)", str(e), "a readable file")]) from None
    plan = loads_plan(text, inv, str(p))
    return dataclasses.replace(plan, scenario=dataclasses.replace(plan.scenario, path=p))
