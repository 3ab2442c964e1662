"""A game-day plan: an ordinary scenario (workload, schedule, expect) whose targets are the
names of an inventory, with no topology section: the system already exists.

``load_plan(path, inventory)`` validates the plan with the scenario package itself (the
inventory's nodes stand in for the topology, appended after the file's last line so every
line number stays the file's own), then checks what only the inventory can say: every link
is one of its proxies, every node action has a container, a promote has a failover command,
the rate, the duration and every fault fit the limits. Every problem is reported at once
(``ScenarioError``, file and line); nothing outside the inventory gets through.

A Kafka inventory's plan is a Kafka scenario (its workload declares ``acks`` and
``enable_idempotence``); the stand-in topology is the inventory's brokers and its probe
topic's durability. Its targets are the inventory's brokers and links by name: ``leader``
and the link groups (``fetch-from:NODE``, ...) are refused, since the probe's topic is placed
so that the inventory's first broker leads it, and a plan names what it cuts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml

from rpochaos.errors import Problem, ScenarioError
from rpochaos.gameday.inventory import AnyInventory, Inventory, KafkaInventory
from rpochaos.scenario import LEADER, LINK_ACTIONS, LINK_GROUPS, Scenario, Step, loads

#: what a game day can do to a PostgreSQL system it does not own
SUPPORTED = ("partition", "latency", "bandwidth", "crash", "pause", "restart", "promote")
#: and to a Kafka system (Kafka elects its leaders itself: no promote)
SUPPORTED_KAFKA = ("partition", "latency", "bandwidth", "crash", "pause", "restart")
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
    inventory: AnyInventory
    steps: tuple[PlannedStep, ...]
    text: str


def _topology(inv: AnyInventory) -> str:
    block: dict[str, object]
    if isinstance(inv, KafkaInventory):
        pr = inv.probe
        block = {
            "topology": {
                "brokers": len(inv.brokers),
                "replication_factor": pr.replication_factor,
                "min_insync_replicas": pr.min_insync_replicas,
                "unclean_leader_election": pr.unclean_leader_election,
            }
        }
    else:
        replicas = [{"name": r, "mode": "async"} for r in inv.replicas]
        block = {"topology": {"synchronous_commit": "on", "replicas": replicas}}
    return yaml.safe_dump(json.loads(json.dumps(block)), sort_keys=False)


def _rollback(step: Step, inv: AnyInventory) -> str:
    a = step.action
    if a in LINK_ACTIONS:
        return f"remove the run's toxics from proxy {inv.links.get(step.target, '?')!r}"
    container = inv.container_of(step.target)
    if a == "pause":
        return f"docker unpause {container}"
    if a == "crash":
        return f"none (the node stays down: a failover may have happened); docker start {container}"
    if a == "restart":
        return "none (the node is back when docker restart returns)"
    return "none (a promotion is not undone)"


def _named_target(step: Step) -> str | None:
    """Why a Kafka step's target is not a name of the inventory (None: it is one)."""
    group = step.target.split(":", 1)[0]
    if group in LINK_GROUPS:
        return "one link of the inventory per step (no link groups on a game day)"
    if step.target == LEADER:
        return (
            "a broker of the inventory by name (no 'leader': the probe's topic is led by the "
            "inventory's first broker)"
        )
    return None


def check_plan(sc: Scenario, inv: AnyInventory, file: str) -> list[PlannedStep]:
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
    kafka = isinstance(inv, KafkaInventory)
    supported = SUPPORTED_KAFKA if kafka else SUPPORTED
    for step in sc.schedule:
        key = f"schedule[{step.source_index if step.source_index >= 0 else step.index}]"
        a = step.action
        if a not in supported:
            bad(step.line, key, a, "one of " + ", ".join(supported) + " on a game day")
            continue
        why = _named_target(step) if kafka else None
        if why is not None:
            bad(step.line, f"{key}.{a}", step.target, why)
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
            if inv.container_of(step.target) is None:
                bad(
                    step.line, f"{key}.{a}", step.target, "a node of the inventory with a container"
                )
        elif a == "promote" and isinstance(inv, Inventory):
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


def _refuse_top_key(text: str, file: str, key: str, given: str, expected: str) -> NoReturn:
    """ScenarioError for a top-level ``key`` a plan may not have as written, at its line."""
    line = next((i + 1 for i, s in enumerate(text.splitlines()) if s.startswith(key)), None)
    raise ScenarioError([Problem(file, line, key, given, expected)])


def loads_plan(text: str, inv: AnyInventory, file: str = "plan.yaml") -> Plan:
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError:
        top = None
    if isinstance(top, dict) and "topology" in top:
        _refuse_top_key(
            text, file, "topology", "a topology section",
            "none: a game day runs against the inventory's existing system",
        )  # fmt: skip
    if isinstance(top, dict) and "system" in top and top["system"] != inv.system:
        _refuse_top_key(
            text, file, "system", str(top["system"]),
            f"{inv.system}, the system of inventory {inv.name}",
        )  # fmt: skip
    full = text if text.endswith("\n") else text + "\n"
    sc = loads(full + _topology(inv), file)
    steps = check_plan(sc, inv, file)
    return Plan(sc, inv, tuple(steps), text)


def load_plan(path: str | Path, inv: AnyInventory) -> Plan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([Problem(str(p), None, "(file)", str(e), "a readable file")]) from None
    plan = loads_plan(text, inv, str(p))
    return dataclasses.replace(plan, scenario=dataclasses.replace(plan.scenario, path=p))
