"""Step targets: a node, a link, a Kafka link group (GROUP:NODE) or {choose: [...]}, each
checked against the topology's nodes and links, and promote's candidates.
"""

from __future__ import annotations

from rpochaos.scenario.mariadb_model import mariadb_link_names
from rpochaos.scenario.messages import (
    _suggest,
)
from rpochaos.scenario.model import (
    ARCHIVE_ACTIONS,
    LEADER,
    LINK_ACTIONS,
    LINK_GROUPS,
    MOST_UP_TO_DATE,
    Choose,
    Replica,
    Topology,
    kafka_link_names,
)
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.workload import _WorkloadChecks


class _TargetChecks(_WorkloadChecks):
    def target(
        self, y: _Y, path: str, action: str, replicas: list[str] | None
    ) -> str | Choose | None:
        """A plain target, or ``{choose: [A, B]}``: each choice checked like a plain one."""
        if y.kind != "map":
            return self.plain_target(y, path, action, replicas, chosen=False)
        entries = self.mapping(y, path, y.line, ("choose",), ("choose",))
        if entries is None or "choose" not in entries:
            return None
        c = entries["choose"][1]
        cpath = f"{path}.choose"
        if c.kind != "seq" or not c.items:
            self.add(
                c.line,
                cpath,
                _given(c),
                "a non-empty list to choose from, each "
                + self._target_expected(action, None, chosen=True),
            )
            return None
        options = [
            self.plain_target(item, f"{cpath}[{j}]", action, replicas, chosen=True)
            for j, item in enumerate(c.items)
        ]
        if any(o is None for o in options):
            return None
        return Choose(tuple(o for o in options if o is not None))

    def plain_target(
        self, y: _Y, path: str, action: str, replicas: list[str] | None, chosen: bool
    ) -> str | None:
        alternative = "" if chosen else ", or {choose: [A, B]} for a random one"
        target = self.string(y, path, self._target_expected(action, None, chosen) + alternative)
        if target is None:
            return None
        kafka_links = self.system == "kafka" and action in LINK_ACTIONS
        if kafka_links and ":" in target:
            return self.link_group(y, path, target, replicas)
        if replicas is None:
            return target
        valid = self._targets(action, replicas, chosen)
        if target not in valid:
            others = [f"{g}:{n}" for g in LINK_GROUPS for n in (*replicas, LEADER)]
            self.add(
                y.line,
                path,
                repr(target),
                self._target_expected(action, valid, chosen)
                + _suggest(target, [*valid, *(others if kafka_links else [])]),
            )
            return None
        return target

    def link_group(self, y: _Y, path: str, target: str, brokers: list[str] | None) -> str | None:
        """A Kafka link group ``GROUP:NODE``, kept as written (the runner expands it)."""
        group, _, node = target.partition(":")
        if group not in LINK_GROUPS:
            self.add(
                y.line,
                path,
                repr(target),
                "a link group fetch-from:NODE, quorum-of:NODE or all-of:NODE (NODE: a broker "
                "or leader)" + _suggest(group, LINK_GROUPS),
            )
            return None
        if brokers is None:
            return target
        nodes = [*brokers, LEADER]
        if node not in nodes:
            self.add(
                y.line,
                path,
                repr(target),
                f"{group}:NODE with NODE one of " + ", ".join(nodes) + _suggest(node, nodes),
            )
            return None
        if group != "all-of" and len(brokers) < 2:
            self.add(
                y.line,
                path,
                repr(target),
                f"all-of:{node} or a link: a 1-broker cluster has no replication or quorum "
                f"links, so {group}:{node} would name none",
            )
            return None
        return target

    def candidates(self, y: _Y, path: str, replicas: list[str] | None) -> list[str] | None:
        expected = "a non-empty list of replica names"
        if y.kind != "seq" or not y.items:
            self.add(y.line, path, _given(y), expected)
            return None
        out: list[str] = []
        ok = True
        for j, item in enumerate(y.items):
            ipath = f"{path}[{j}]"
            name = self.string(item, ipath, "a replica's name")
            if name is None:
                ok = False
            elif replicas is not None and name not in replicas:
                self.add(
                    item.line,
                    ipath,
                    repr(name),
                    self._target_expected("promote", replicas, chosen=True)
                    + _suggest(name, replicas),
                )
                ok = False
            elif name in out:
                self.add(item.line, ipath, repr(name), "each replica once")
                ok = False
            else:
                out.append(name)
        return out if ok else None

    def _targets(self, action: str, replicas: list[str], chosen: bool = False) -> list[str]:
        """The concrete targets of ``action``; ``replicas`` are the brokers for Kafka."""
        if self.system == "kafka":
            if action in LINK_ACTIONS:
                return list(kafka_link_names(len(replicas)))
            return [*replicas, LEADER]
        if self.system == "mariadb" and action in LINK_ACTIONS:
            return mariadb_link_names(replicas)
        if action in LINK_ACTIONS:
            topo = Topology("on", tuple(Replica(n, "async") for n in replicas))
            dcs = [f"{n}->dcs" for n in topo.nodes] if self.managed else []
            return [*topo.links, *dcs]
        if action == "promote":
            return [*replicas, *((MOST_UP_TO_DATE,) if replicas and not chosen else ())]
        if action in ARCHIVE_ACTIONS:
            return ["primary"]
        return ["primary", *replicas]

    def _target_expected(self, action: str, valid: list[str] | None, chosen: bool = False) -> str:
        if self.system == "kafka" and action in LINK_ACTIONS:
            what = (
                "a link like 'broker2->broker1', 'broker2->controller1' or 'client->broker1', "
                "or a link group fetch-from:NODE, quorum-of:NODE or all-of:NODE (NODE: a "
                "broker or leader)"
            )
            return what if valid is None else f"{what}; these links exist: " + ", ".join(valid)
        if self.system == "kafka":
            what = "a broker's name like 'broker1', or leader (partition 0's leader when it runs)"
        elif action in LINK_ACTIONS:
            what = "a link like 'replica1->primary' or 'client->primary'" + (
                " or 'primary->dcs' (a node's links to etcd)" if self.managed else ""
            )
        elif action == "promote":
            what = "a replica's name" + ("" if chosen else f" or {MOST_UP_TO_DATE}")
        elif action in ARCHIVE_ACTIONS:
            return "primary (the node that archives its WAL; replicas don't archive)"
        else:
            what = "a node's name ('primary' or a replica's)"
        if valid is None:
            return what
        if not valid:
            return f"{what}, but there are no replicas in topology.replicas"
        return f"{what}; these exist: " + ", ".join(valid)
