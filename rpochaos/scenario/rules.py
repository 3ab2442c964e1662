"""Rules across steps and sections: one outage, at most one restore, unique step names, the
'after' graph (known names, no cycles, .end of a step with 'for'), and every start before
the end of the workload (over every seed); and, against the topology, the steps Patroni
refuses and which ``process:`` values its manager takes.
"""

from __future__ import annotations

from rpochaos.scenario.limits import MAX_STEPS
from rpochaos.scenario.messages import (
    _suggest,
)
from rpochaos.scenario.model import (
    LINK_ACTIONS,
    PATRONI_PROCESSES,
    PAUSE_PROCESSES,
    Between,
    Choose,
    StepSpec,
    Topology,
    start_bounds,
)
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.steps import _Parsed, _StepChecks


class _ScheduleChecks(_StepChecks):
    # -- schedule ---------------------------------------------------------------------------

    def schedule(
        self,
        y: _Y | None,
        line: int | None,
        replicas: list[str] | None,
        run_for: float | None,
        time_scale: float,
    ) -> list[StepSpec] | None:
        """Every step's spec in file order, or None if any step (or their references) is
        wrong. ``run_for`` is workload.duration as declared (None if invalid)."""
        path = "schedule"
        if y is None:
            return None
        if y.kind != "seq":
            self.add(y.line, path, _given(y), self._describe("", "schedule"))
            return None
        ok = True
        outage_at: str | None = None  # path of the first step declaring the outage
        restore_at: str | None = None  # path of the first restore step
        parsed: list[_Parsed] = []
        names: dict[str, int] = {}  # step name -> index of the first step with it
        for i, item in enumerate(y.items):
            spath = f"{path}[{i}]"
            if item.kind != "map":
                self.add(
                    item.line, spath, _given(item), "a step: a mapping with 'at' and one action key"
                )
                ok = False
                continue
            p = self.step(item, spath, i, replicas)
            parsed.append(p)
            if "restore" in item.entries:
                if restore_at is None:
                    restore_at = spath
                else:
                    self.add(
                        item.entries["restore"][0],
                        f"{spath}.restore",
                        _given(item.entries["restore"][1]),
                        f"at most one restore step ({restore_at} already rebuilds the primary "
                        "from the archive)",
                    )
                    ok = False
            if p.name is not None:
                if p.name in names:
                    ny = item.entries["name"][1]
                    self.add(
                        ny.line,
                        f"{spath}.name",
                        repr(p.name),
                        f"a unique step name (schedule[{names[p.name]}] is already {p.name!r})",
                    )
                    p.spec = None  # 'after' its name means the first one
                    ok = False
                else:
                    names[p.name] = i
            if p.outage:
                if outage_at is None:
                    outage_at = spath
                else:
                    oy = item.entries["outage"][1]
                    self.add(
                        oy.line,
                        f"{spath}.outage",
                        _given(oy),
                        f"at most one step with outage: true ({outage_at} already declares it)",
                    )
                    ok = False
            ok = ok and p.spec is not None
        if outage_at is None:
            self.add(
                line,
                path,
                "no step with outage: true",
                "exactly one step with outage: true (the moment the outage begins)",
            )
            ok = False
        specs = {p.index: p.spec for p in parsed if p.spec is not None}
        total = sum(s.repeat for s in specs.values())
        if total > MAX_STEPS:
            self.add(
                line,
                path,
                f"{total} steps (each repetition counted)",
                f"at most {MAX_STEPS} steps in the run, each repetition counted",
            )
            ok = False
        ok = self.timeline(parsed, names, specs, run_for, time_scale) and ok
        return [specs[i] for i in sorted(specs)] if ok else None

    def timeline(
        self,
        parsed: list[_Parsed],
        names: dict[str, int],
        specs: dict[int, StepSpec],
        run_for: float | None,
        time_scale: float,
    ) -> bool:
        """Check 'after' references (known, acyclic, .end of a step with 'for', not a repeated
        step) and that every step can only start before the end of the workload."""
        ok = True
        by_index = {p.index: p for p in parsed}
        bad: set[int] = set()  # steps whose start cannot be computed
        nxt: dict[int, int] = {}  # step -> the step it is 'after'
        for p in parsed:
            if p.after is None:
                continue
            ref_name, end = p.after
            ay = p.y.entries["after"][1]
            key = f"{p.path}.after"
            j = names.get(ref_name)
            if j is None:
                known = list(names)
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    "the name of a step in this schedule"
                    + ("; these exist: " + ", ".join(known) if known else ", but no step has one")
                    + _suggest(ref_name, known),
                )
                ok = False
                bad.add(p.index)
                continue
            ref = specs.get(j)
            if ref is None:  # its own problems are reported where it is
                bad.add(p.index)
                continue
            if end and ref.duration is None:
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    f"'{ref_name}' (its start), or the .end of a step with 'for' "
                    f"({by_index[j].path} has no 'for', so it has no end)",
                )
                ok = False
                bad.add(p.index)
                continue
            if ref.repeat > 1:
                self.add(
                    ay.line,
                    key,
                    _given(ay),
                    f"a step that happens once ('{ref_name}' repeats {ref.repeat} times; to "
                    "follow one repetition, write it as its own step)",
                )
                ok = False
                bad.add(p.index)
                continue
            nxt[p.index] = j

        # cycles: each step is 'after' at most one other, so follow the chains
        state: dict[int, bool] = {}  # True while on the current walk, False once done
        for first in nxt:
            walk: list[int] = []
            cur = first
            while cur in nxt and cur not in state:
                state[cur] = True
                walk.append(cur)
                cur = nxt[cur]
            if state.get(cur):
                cycle = walk[walk.index(cur) :]
                shown = " -> ".join(str(by_index[c].name) for c in [*cycle, cycle[0]])
                for c in cycle:
                    ay = by_index[c].y.entries["after"][1]
                    self.add(
                        ay.line,
                        f"{by_index[c].path}.after",
                        _given(ay),
                        f"a step that does not lead back to this one (cycle: {shown})",
                    )
                bad.update(cycle)
                ok = False
            for w in walk:
                state[w] = False

        # which steps have a computable start: their whole 'after' chain is sound
        sound: dict[int, bool] = {}
        for i in specs:
            chain: list[int] = []
            cur = i
            while cur not in sound:
                chain.append(cur)
                if cur in bad or cur not in specs:
                    verdict = False
                    break
                if cur not in nxt:
                    verdict = True
                    break
                cur = nxt[cur]
                if cur in chain:
                    verdict = False
                    break
            else:
                verdict = sound[cur]
            for c in chain:
                sound[c] = verdict

        if run_for is None:
            return ok
        good = [specs[i] for i in sorted(specs) if sound[i]]
        bounds = start_bounds(good, time_scale)
        limit = run_for / time_scale
        for s in good:
            p = by_index[s.source_index]
            hi = bounds[s.source_index][1]
            every = 0.0 if s.every is None else s.every / time_scale
            if hi >= limit:
                at_given = "at" in p.y.entries
                key = "at" if at_given or s.after is None else "after"
                ky = p.y.entries[key][1]
                expected = (
                    f"a time before the end of the workload (workload.duration is {run_for:g}s)"
                )
                if s.after is not None or isinstance(s.at, Between):
                    expected += f"; this step can start as late as {hi * time_scale:g}s"
                self.add(ky.line, f"{p.path}.{key}", _given(ky), expected)
                ok = False
            elif s.repeat > 1 and hi + (s.repeat - 1) * every >= limit:
                fits = sum(1 for k in range(s.repeat) if hi + k * every < limit)
                last = (hi + (s.repeat - 1) * every) * time_scale
                ry = p.y.entries["repeat"][1]
                self.add(
                    ry.line,
                    f"{p.path}.repeat",
                    _given(ry),
                    f"at most {fits}: repetition {s.repeat} can start at {last:g}s, not before "
                    f"the end of the workload (workload.duration is {run_for:g}s)",
                )
                ok = False
        return ok

    # -- Patroni ----------------------------------------------------------------------------

    def patroni_steps(self, specs: list[StepSpec], topology: Topology) -> None:
        """The steps a Patroni topology refuses: Patroni alone fails over (no promote), there
        is no rpochaos archive (no restore, archive_fail), a node's time and disk are not
        faulted under Patroni yet (no clock_skew, io_stall; ``process_steps`` refuses the
        pause of one PostgreSQL server process), and with more than one replica a
        replication link cannot be cut on its own (every replica streams through the one
        proxy of the leader's connect_address)."""
        refused = {
            "promote": "no promote step: with manager: patroni Patroni decides the failover",
            "restore": "no restore step: Patroni manages the servers (no rpochaos archive)",
            "archive_fail": "no archive_fail step: Patroni manages the servers",
            "clock_skew": "no clock_skew step under manager: patroni (not supported yet)",
            "io_stall": "no io_stall step under manager: patroni (not supported yet)",
            "restart": "no restart step under manager: patroni (crash with for: instead)",
        }
        for spec in specs:
            where = f"schedule[{spec.source_index}]"
            if spec.action in refused:
                self.add(spec.line, f"{where}.{spec.action}", spec.action, refused[spec.action])
                continue
            targets = spec.target.options if isinstance(spec.target, Choose) else [spec.target]
            for target in targets:
                if spec.action not in LINK_ACTIONS or target.startswith("client->"):
                    continue
                if target.endswith("->dcs"):  # each node has its own proxies to etcd
                    continue
                if len(topology.replicas) > 1:
                    self.add(
                        spec.line,
                        f"{where}.{spec.action}",
                        target,
                        "a client-><node> link: with more than one replica under Patroni a "
                        "replication link cannot be cut on its own (every replica streams "
                        "through the one proxy of the leader's connect_address); use one "
                        "replica",
                    )

    def process_steps(self, specs: list[StepSpec], topology: Topology) -> None:
        """``process:`` against the topology's manager: ``pause`` with ``process: patroni``
        and ``crash`` with ``process: postmaster`` (``PATRONI_PROCESSES``) only under
        ``manager: patroni``; there, a pause of one PostgreSQL server process is refused
        (Patroni's node is paused whole, or its Patroni alone)."""
        patroni = topology.manager == "patroni"
        for spec in specs:
            process = spec.params.get("process")
            if not isinstance(process, str):
                continue
            key = f"schedule[{spec.source_index}].process"
            ours = process in PATRONI_PROCESSES.get(spec.action, ())
            if patroni and not ours and spec.action == "pause":
                self.add(
                    spec.line,
                    key,
                    process,
                    "process: "
                    + " or ".join(PATRONI_PROCESSES["pause"])
                    + " (Patroni alone; PostgreSQL keeps serving), or no process (Patroni "
                    "and PostgreSQL frozen together): under manager: patroni one PostgreSQL "
                    "server process is not paused on its own",
                )
            elif not patroni and ours and spec.action == "pause":
                self.add(
                    spec.line,
                    key,
                    process,
                    "one of "
                    + ", ".join(PAUSE_PROCESSES)
                    + f" (process: {process} needs topology.manager: patroni)",
                )
            elif not patroni and ours:
                self.add(
                    spec.line,
                    key,
                    process,
                    f"no process on a crash without topology.manager: patroni (process: "
                    f"{process} kills the postmaster alone while Patroni restarts it; without "
                    "Patroni, crash with links: keep kills the server on a live host)",
                )
