"""The game-day inventory, plan loader and audit journal, without a system to run against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rpochaos.errors import ScenarioError
from rpochaos.gameday.audit import Audit, ended, pending_undos, run_id_of
from rpochaos.gameday.inventory import Inventory, loads_inventory
from rpochaos.gameday.plan import loads_plan
from rpochaos.gameday.probe import table_name

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "gameday"

INVENTORY = """\
name: staging-pg
nodes:
  primary:
    role: primary
    conninfo: host=127.0.0.1 port=15432 user=rpochaos dbname=postgres
    container: pg-primary
  replica1:
    role: replica
    conninfo: service=staging-replica1
toxiproxy:
  api: http://127.0.0.1:8474
  links:
    replica1->primary: repl
docker: {}
probe:
  schema: public
limits:
  max_fault: 10s
  max_total: 1m
  max_rate: 300/s
"""

PLAN = """\
name: gd
system: postgres
workload:
  rate: 200/s
  duration: 9s
schedule:
  - at: 2s
    partition: replica1->primary
    mode: blackhole
  - at: 5s
    crash: primary
    outage: true
expect:
  rpo: 1s
"""


def inv() -> Inventory:
    return loads_inventory(INVENTORY, "i.inventory.yaml")


def problems(e: pytest.ExceptionInfo[ScenarioError]) -> list[str]:
    return [str(p) for p in e.value.problems]


def test_the_example_inventory_and_plan_load() -> None:
    from rpochaos.gameday.inventory import load_inventory
    from rpochaos.gameday.plan import load_plan

    i = load_inventory(EXAMPLES / "staging.inventory.yaml")
    plan = load_plan(EXAMPLES / "async-partition-crash.plan.yaml", i)
    assert [s.step.action for s in plan.steps] == ["partition", "crash", "promote"]
    assert [s.max_s for s in plan.steps] == [30.0, None, None]


def test_inventory_problems_carry_file_and_line() -> None:
    text = INVENTORY.replace("max_rate: 300/s", "max_rate: fast").replace(
        "  schema: public", "  schema: Public; drop"
    )
    with pytest.raises(ScenarioError) as e:
        loads_inventory(text + "surprise: 1\n", "i.inventory.yaml")
    got = problems(e)
    assert any(p.startswith("i.inventory.yaml:16: probe.schema") for p in got), got
    assert any(p.startswith("i.inventory.yaml:20: limits.max_rate") for p in got), got
    assert any(p.startswith("i.inventory.yaml:21: surprise") for p in got), got


@pytest.mark.parametrize("value", ["9" * 400, ".inf"])
def test_a_limit_past_a_float_is_a_problem_at_its_line_not_a_crash(value: str) -> None:
    text = INVENTORY.replace("max_fault: 10s", f"max_fault: {value}").replace(
        "max_rate: 300/s", f"max_rate: {value}"
    )
    with pytest.raises(ScenarioError) as e:
        loads_inventory(text, "i.inventory.yaml")
    got = problems(e)
    assert any(p.startswith("i.inventory.yaml:18: limits.max_fault") for p in got), got
    assert any(p.startswith("i.inventory.yaml:20: limits.max_rate") for p in got), got


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=db user=app password=hunter2",
        "host=db PASSWORD = hunter2",
        "postgresql://app:hunter2@db/postgres",
    ],
)
def test_a_password_in_the_inventory_is_refused(conninfo: str) -> None:
    text = INVENTORY.replace("service=staging-replica1", conninfo)
    with pytest.raises(ScenarioError) as e:
        loads_inventory(text, "i.inventory.yaml")
    (p,) = problems(e)
    assert p.startswith("i.inventory.yaml:9: nodes.replica1.conninfo")
    assert "hunter2" not in p.split(", expected")[1]


def test_the_inventory_needs_one_primary_named_primary() -> None:
    with pytest.raises(ScenarioError) as e:
        loads_inventory(INVENTORY.replace("role: primary", "role: replica"), "i.yaml")
    assert "exactly one node with role primary" in problems(e)[0]


def test_a_plan_with_a_topology_is_refused_at_its_line() -> None:
    with pytest.raises(ScenarioError) as e:
        loads_plan(PLAN + "topology:\n  replicas: []\n", inv(), "p.yaml")
    assert problems(e)[0].startswith("p.yaml:15: topology")


def test_plan_targets_must_be_the_inventorys() -> None:
    plan = PLAN.replace("replica1->primary", "client->primary").replace(
        "crash: primary", "crash: replica1"
    )
    with pytest.raises(ScenarioError) as e:
        loads_plan(plan, inv(), "p.yaml")
    got = problems(e)
    assert any(p.startswith("p.yaml:7: schedule[0].partition: got client->primary") for p in got)
    assert any("schedule[1].crash: got replica1" in p for p in got), got  # no container


def test_plan_limits_and_deadlines() -> None:
    plan = PLAN.replace("rate: 200/s", "rate: 400/s").replace(
        "    mode: blackhole\n", "    mode: blackhole\n    for: 11s\n"
    )
    with pytest.raises(ScenarioError) as e:
        loads_plan(plan, inv(), "p.yaml")
    got = problems(e)
    assert any("workload.rate: got 400/s, expected at most 300/s" in p for p in got), got
    assert any("schedule[0].for: got 11s, expected at most 10s" in p for p in got), got
    ok = loads_plan(PLAN, inv(), "p.yaml")
    assert [s.max_s for s in ok.steps] == [10.0, None]  # a fault with no 'for': max_fault


def test_promote_needs_a_failover_command() -> None:
    plan = PLAN.replace("expect:", "  - at: 6s\n    promote: replica1\nexpect:")
    with pytest.raises(ScenarioError) as e:
        loads_plan(plan, inv(), "p.yaml")
    assert any("a failover command in the inventory" in p for p in problems(e))


def test_the_audit_journal_reads_back_what_is_left_to_undo(tmp_path: Path) -> None:
    a = Audit(tmp_path / "audit.jsonl")
    a.start(run_id="g1", inventory="staging-pg")
    one = a.intent("partition", "replica1->primary", [{"toxic": {"proxy": "p", "name": "t"}}])
    two = a.intent("pause", "replica1", [{"unpause": "c1"}])
    a.write("undone", id=one, by="deadline")
    a.close()
    path = tmp_path / "audit.jsonl"
    with path.open("a") as f:
        f.write('{"kind": "undone", "id": ')  # a line cut by SIGKILL
    assert pending_undos(path) == [(two, {"unpause": "c1"})]
    assert run_id_of(path) == "g1" and not ended(path)
    assert all(json.loads(line)["kind"] for line in path.read_text().splitlines()[:-1])


def test_the_probe_table_is_named_after_the_run() -> None:
    assert table_name("g1201223533a1B2") == "rpochaos_probe_g1201223533a1b2"


def test_a_prometheus_stop_needs_exactly_one_threshold_at_its_line() -> None:
    stop = "stop_conditions:\n  prometheus:\n    - {url: 'http://127.0.0.1:9090', query: up}\n"
    with pytest.raises(ScenarioError) as e:
        loads_inventory(INVENTORY + stop, "i.inventory.yaml")
    (p,) = problems(e)
    assert p.startswith("i.inventory.yaml:23: stop_conditions.prometheus[0]"), p
    assert "exactly one of above or below" in p
    ok = loads_inventory(INVENTORY + stop.replace("up}", "up, below: 1}"), "i.yaml")
    assert ok.stop_conditions.prometheus[0].threshold == "< 1"


@pytest.mark.parametrize(
    ("data", "values"),
    [
        ({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.25"]}]}, [0.25]),
        ({"resultType": "vector", "result": []}, []),
        ({"resultType": "scalar", "result": [1.0, "3"]}, [3.0]),
        ({"resultType": "matrix", "result": [{"values": [[1, "1"], [2, "NaN"]]}]}, []),
        ({"resultType": "matrix", "result": [{"values": [[1, "NaN"], [2, "2"]]}]}, [2.0]),
    ],
)
def test_prometheus_answers_give_their_latest_values(data: object, values: list[float]) -> None:
    from rpochaos.gameday.stops import prometheus_samples

    assert prometheus_samples(data) == values


def test_a_prometheus_string_result_is_no_value() -> None:
    from rpochaos.gameday.stops import prometheus_samples

    with pytest.raises(ValueError, match="a string result"):
        prometheus_samples({"resultType": "string", "result": [1.0, "x"]})


def test_the_runbooks_inventory_loads_with_every_stop_condition() -> None:
    import re

    text = (ROOT / "docs" / "gamedays.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if "limits:" in b and "system: postgres" in b]
    c = loads_inventory(block, "docs/gamedays.md").stop_conditions
    assert c.sql and c.http and c.max_lag_bytes and c.max_error_rate
    assert [p.threshold for p in c.prometheus] == ["> 5", "< 1"]
