"""The roles the runner drives, as protocols: what each must do, stated as a contract.

The runner (``rpochaos.run``) knows only these. A system under test (``rpochaos.systems``)
supplies a ``Cluster``, a ``Writer`` and an ``Observer`` and reads back what survived
(``FinalData``); PostgreSQL (``topology.postgres``, ``workload.postgres``,
``observe.postgres``) and Kafka (``kafka.cluster``, ``kafka.workload``, ``kafka.observe``)
satisfy them, and mypy checks that they do.

What only some systems can do is a separate small protocol, an optional *power*
(``Promoting`` or ``PositionPromoting``, ``Restoring``, ``ArchiveFailing``, ``ProcessPids``,
``PatroniProcesses``, ``LeaderLookup``, ``LinkGroups``, ``Kept``; ``LatestSample`` for
observers). ``check_powers``
asks for them once, when the cluster object exists and before it starts: a scenario whose
steps need a power the cluster lacks fails then, with a ScenarioError naming the step, never
mid-run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rpochaos.errors import Problem, ScenarioError
from rpochaos.scenario.model import PATRONI_PROCESSES

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    from rpochaos.scenario import Scenario, Step


# -- the core roles ------------------------------------------------------------------------


class ClusterNode(Protocol):
    """One node of a running cluster, as the runner acts on it.

    ``restart`` stops the node's server the way an operator would (a requested shutdown,
    or reaping what a crash left) and starts it again on the same data, returning once it
    accepts clients. ``pause`` freezes every process of the node (it keeps its sockets and
    answers nothing) and ``resume`` thaws them; both return once the request was delivered.
    ``running`` is true while the server process exists, paused or not."""

    def restart(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def running(self) -> bool: ...


class Cluster(Protocol):
    """The topology under test: its nodes, and the proxied links between them and clients.

    Constructing a cluster starts nothing. ``start`` brings every node up, creates one
    Toxiproxy proxy per link, and returns once the cluster is ready for the workload (the
    replicas stream, the brokers are registered and the topic in sync); it raises
    TopologyError with the nodes' log tails otherwise. ``close`` kills every node it started;
    it is idempotent and never raises for a node already gone. ``nodes`` maps every node name
    to its node, ``link_ports`` every link name (``a->b``) to the port its proxy listens on.
    ``primary_name`` is the node that takes writes now (or leads partition 0).

    ``crash(name, cut_links, on_down)`` SIGKILLs every process of ``name`` and returns once
    they are dead; ``on_down`` (if given) is called at that moment, before ``cut_links``
    disables every proxy to and from the node. ``recover(name)`` undoes it: links back,
    server restarted (its own crash recovery), ready again. ``version`` and ``durability``
    describe the system for the run record, as read from the servers themselves."""

    @property
    def nodes(self) -> Mapping[str, ClusterNode]: ...

    @property
    def link_ports(self) -> Mapping[str, int]: ...

    @property
    def primary_name(self) -> str: ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def crash(
        self, name: str, cut_links: bool = True, on_down: Callable[[], None] | None = None
    ) -> None: ...

    def recover(self, name: str) -> None: ...

    def version(self) -> str: ...

    def durability(self) -> dict[str, object]: ...


class Writer(Protocol):
    """The workload: writes with unique increasing sequence numbers, each journaled.

    ``start`` starts issuing at the scenario's rate in the writer's own threads and returns
    at once. Every write is journaled as invoked before it is sent and completed (ok, fail or
    info) after, on the harness clock. ``stop_issuing`` stops new writes; writes in flight
    finish on their own. ``join(timeout_s)`` waits for them, cancels what is still stuck past
    ``timeout_s``, and returns False if some write is still stuck after that.
    ``acknowledged`` counts writes that completed ok so far."""

    @property
    def acknowledged(self) -> int: ...

    def start(self) -> None: ...

    def stop_issuing(self) -> None: ...

    def join(self, timeout_s: float = 10.0) -> bool: ...


class Observer(Protocol):
    """What the system itself reported meanwhile, sampled in the observer's own threads.

    ``start`` starts sampling into the run directory and returns at once; it never blocks
    on a server that does not answer. ``stop`` stops sampling (bounded) and returns the
    observer's overhead figures for the run record's ``observer`` event, or None when this
    observer reports none. Neither changes the verdict."""

    def start(self) -> None: ...

    def stop(self) -> Mapping[str, object] | None: ...


@dataclass
class FinalData:
    """What the final read found: the node (or partition-0 leader) read, every sequence
    number present, and system-specific figures written beside them into final_read.json."""

    node: str
    seqs: frozenset[int]
    extra: dict[str, object] = field(default_factory=dict)


# -- optional powers -----------------------------------------------------------------------


@runtime_checkable
class Promoting(Protocol):
    """A cluster whose replicas can be promoted (the ``promote`` action).

    ``connect(name)`` opens a new autocommit SQL connection straight to node ``name`` (not
    through a proxy), raising psycopg.Error when it does not answer; failover reads each
    candidate's received WAL position and the primary's current one with it.
    ``promote(name)`` makes the replica ``name`` the primary and returns once it accepts
    writes (TopologyError otherwise); ``primary_name`` names it from then on."""

    def connect(self, name: str) -> psycopg.Connection[TupleRow]: ...

    def promote(self, name: str) -> None: ...


@runtime_checkable
class PositionPromoting(Protocol):
    """A cluster whose replicas can be promoted (the ``promote`` action), compared by a
    position of its own rather than PostgreSQL's WAL (MariaDB: GTIDs).

    ``received_position(name)`` is how much of the primary's changes node ``name`` has
    received, a number that only grows (``position_unit`` words one step of it, e.g.
    "transaction"), or None when the node does not answer. ``promote(name)`` is as
    ``Promoting.promote``: the writer reaches the new primary afterwards."""

    @property
    def position_unit(self) -> str: ...

    def received_position(self, name: str) -> int | None: ...

    def promote(self, name: str) -> None: ...


class RestoreReport(Protocol):
    """What a restore from the archive did (``Restoring.restore``)."""

    @property
    def last_segment(self) -> str | None: ...

    @property
    def segments(self) -> int: ...

    @property
    def replayed_to(self) -> str: ...

    @property
    def timeline(self) -> int: ...

    def describe(self) -> str: ...


@runtime_checkable
class Restoring(Protocol):
    """A cluster that can rebuild a lost primary from its base backup and WAL archive alone
    (the ``restore`` action). ``restore(name)`` returns once the rebuilt server accepts
    writes; from then on it *is* ``name`` (the workload's link to ``name`` reaches it, the
    final read reads it). TopologyError when ``name`` still runs or there is no archive."""

    def restore(self, name: str) -> RestoreReport: ...


@runtime_checkable
class ArchiveFailing(Protocol):
    """A cluster whose primary's archive_command fails while a flag file exists (the
    ``archive_fail`` action). ``archive_fail_flag`` is that file once the cluster started
    with an archive, None without one."""

    @property
    def archive_fail_flag(self) -> Path | None: ...


@runtime_checkable
class ProcessPids(Protocol):
    """A cluster whose servers the harness can signal one process at a time (``pause`` with
    ``process:``). ``signals_processes`` says whether its backend lets the harness do so at
    all (the local backend, docker on a local engine); then ``pid_of(name)`` is the host pid
    of node ``name``'s main server process while it runs, else None."""

    def signals_processes(self) -> bool: ...

    def pid_of(self, name: str) -> int | None: ...


@runtime_checkable
class PatroniProcesses(Protocol):
    """A Patroni cluster whose Patroni and PostgreSQL processes the harness can signal apart
    (``pause`` with ``process: patroni``, ``crash`` with ``process: postmaster``).

    ``crash_postmaster(name)`` SIGKILLs node ``name``'s postmaster tree alone and returns
    once it is dead (Patroni keeps running and restarts it in place); TopologyError when no
    postmaster runs there. ``pause_patroni(name)`` SIGSTOPs node ``name``'s Patroni alone
    (PostgreSQL keeps serving; nobody renews the leader key) and ``resume_patroni(name)``
    SIGCONTs it; both return once the signal was delivered."""

    def crash_postmaster(self, name: str) -> None: ...

    def pause_patroni(self, name: str) -> None: ...

    def resume_patroni(self, name: str) -> None: ...


@runtime_checkable
class LeaderLookup(Protocol):
    """A cluster that can say which node leads a partition now (a step target ``leader``).
    ``leader_of(partition)`` is None when it has no leader or nobody answers."""

    def leader_of(self, partition: int = 0) -> str | None: ...


@runtime_checkable
class LinkGroups(Protocol):
    """A cluster whose link targets may name a group (``fetch-from:N``, ``quorum-of:N``,
    ``all-of:N``): the links followers fetch from ``N`` through, the controller-quorum links
    to and from ``N``, every link to or from ``N``."""

    def fetch_links_of(self, leader: str) -> list[str]: ...

    def quorum_links_of(self, name: str) -> list[str]: ...

    def links_of(self, name: str) -> list[str]: ...


@runtime_checkable
class Kept(Protocol):
    """A cluster that can tell a person how to reach what ``--keep-topology`` left running:
    one line per node and proxy."""

    def kept(self) -> list[str]: ...


@runtime_checkable
class LatestSample(Protocol):
    """An observer that exposes its newest sample for the live view: a mapping with
    ``replicas``, each a mapping with ``lag_bytes`` (int or None); None before the first."""

    def latest(self) -> Mapping[str, object] | None: ...


# -- which step needs which power ----------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """A power a step needs, and what the scenario must have for it."""

    power: type
    expected: str
    #: other powers that serve as well
    alternatives: tuple[type, ...] = ()


#: what each action needs beyond the core roles
ACTION_NEEDS: Mapping[str, Need] = {
    "promote": Need(
        Promoting,
        "a system whose replicas can be promoted (system: postgres or mariadb)",
        (PositionPromoting,),
    ),
    "restore": Need(Restoring, "a system that restores from a WAL archive (system: postgres)"),
    "archive_fail": Need(ArchiveFailing, "a system with a WAL archive (system: postgres)"),
}
PROCESS_NEED = Need(
    ProcessPids,
    "a system and backend whose server processes can be signalled one by one (system: "
    "postgres; the local backend, or docker on a local engine)",
)
PATRONI_NEED = Need(
    PatroniProcesses,
    "a Patroni cluster whose Patroni and PostgreSQL processes can be signalled apart "
    "(manager: patroni on the local backend; the docker backend does not do it yet)",
)
LEADER_NEED = Need(LeaderLookup, "a system with partition leaders (system: kafka)")
GROUP_NEED = Need(LinkGroups, "a system with link groups (system: kafka)")


def needs(step: Step) -> list[tuple[str, Need]]:
    """The powers ``step`` needs, each with the scenario key that asks for it."""
    out: list[tuple[str, Need]] = []
    if step.action in ACTION_NEEDS:
        out.append((step.action, ACTION_NEEDS[step.action]))
    process = step.params.get("process")
    if process in PATRONI_PROCESSES.get(step.action, ()):
        out.append(("process", PATRONI_NEED))
    elif step.action == "pause" and process:
        out.append(("process", PROCESS_NEED))
    if step.target == "leader" or step.target.endswith(":leader"):
        out.append(("target", LEADER_NEED))
    if ":" in step.target:
        out.append(("target", GROUP_NEED))
    return out


@dataclass(frozen=True)
class Powers:
    """The optional powers of one cluster, asked for once (None: it lacks that power)."""

    promoting: Promoting | None
    restoring: Restoring | None
    archive: ArchiveFailing | None
    pids: ProcessPids | None
    kept: Kept | None
    #: promote by a position of the system's own (when ``promoting`` is None)
    positions: PositionPromoting | None = None
    #: Patroni and its PostgreSQL signalled apart
    patroni: PatroniProcesses | None = None

    @classmethod
    def of(cls, cluster: Cluster) -> Powers:
        return cls(
            promoting=cluster if isinstance(cluster, Promoting) else None,
            restoring=cluster if isinstance(cluster, Restoring) else None,
            archive=cluster if isinstance(cluster, ArchiveFailing) else None,
            pids=cluster
            if isinstance(cluster, ProcessPids) and cluster.signals_processes()
            else None,
            kept=cluster if isinstance(cluster, Kept) else None,
            positions=cluster if isinstance(cluster, PositionPromoting) else None,
            patroni=cluster if isinstance(cluster, PatroniProcesses) else None,
        )


def _has(cluster: Cluster, need: Need) -> bool:
    if need is PROCESS_NEED:
        return isinstance(cluster, ProcessPids) and cluster.signals_processes()
    return any(isinstance(cluster, p) for p in (need.power, *need.alternatives))


def check_powers(scenario: Scenario, cluster: Cluster) -> Powers:
    """The powers of ``cluster``, once it is checked that every step of ``scenario`` finds
    the powers it needs: else ScenarioError naming each step that needs one the cluster lacks
    (and each archive step of a topology without ``archive``). Call once, before the cluster
    starts."""
    from rpochaos.scenario import ARCHIVE_ACTIONS, Topology

    where = str(scenario.path or "<scenario>")
    archived = isinstance(scenario.topology, Topology) and scenario.topology.archive is not None
    problems: list[Problem] = []
    seen: set[tuple[int, str, type]] = set()  # one problem per step as written
    for step in scenario.schedule:
        for key, need in needs(step):
            mark = (step.source_index, key, need.power)
            if not _has(cluster, need) and mark not in seen:
                seen.add(mark)
                given = f"{step.action} {step.target}"
                if key == "process":
                    given = str(step.params.get("process"))
                problems.append(Problem(where, step.line, f"schedule.{key}", given, need.expected))
        mark = (step.source_index, "archive", ArchiveFailing)
        if step.action in ARCHIVE_ACTIONS and not archived and mark not in seen:
            seen.add(mark)
            problems.append(
                Problem(
                    where,
                    step.line,
                    f"schedule.{step.action}",
                    f"{step.action} {step.target}",
                    "topology.archive (the step needs a WAL archive and a base backup)",
                )
            )
    if problems:
        raise ScenarioError(problems)
    return Powers.of(cluster)
