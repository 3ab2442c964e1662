"""Optional powers are asked for once, before the cluster starts (rpochaos.roles): a step
needing a power its cluster lacks is a ScenarioError naming the step, with its line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rpochaos.errors import ScenarioError
from rpochaos.roles import (
    PATRONI_NEED,
    ArchiveFailing,
    Kept,
    PatroniProcesses,
    ProcessPids,
    Promoting,
    Restoring,
    check_powers,
    needs,
)
from rpochaos.scenario import Topology, loads
from tests.helpers import PATRONI_TOPOLOGY

PG = """\
system: postgres
topology:
  synchronous_commit: "on"
  replicas: [{name: replica1, mode: async}]
  archive: {timeout: 60s}
workload: {rate: 10/s, duration: 10s}
schedule:
  - {at: 1s, pause: replica1, process: walreceiver, for: 1s}
  - {at: 2s, archive_fail: primary, for: 1s}
  - {at: 4s, crash: primary, outage: true}
  - {at: 5s, promote: replica1}
  - {at: 6s, restore: primary}
expect: {rpo: 10s}
"""


class CoreOnly:
    """A fake cluster with the core roles' surface and no optional power."""

    def __init__(self) -> None:
        self.nodes: dict[str, object] = {}
        self.link_ports: dict[str, int] = {}
        self.primary_name = "primary"


class Everything(CoreOnly):
    """A fake cluster with every PostgreSQL power."""

    archive_fail_flag: Path | None = None

    def connect(self, name: str) -> object: ...
    def promote(self, name: str) -> None: ...
    def restore(self, name: str) -> object: ...
    def pid_of(self, name: str) -> int | None: ...
    def signals_processes(self) -> bool:
        return self.signals

    signals = True

    def kept(self) -> list[str]:
        return []


def test_a_cluster_with_every_power_passes_and_they_are_kept() -> None:
    cluster = Everything()
    powers = check_powers(loads(PG), cluster)  # type: ignore[arg-type]
    assert powers.promoting is powers.restoring is powers.archive is powers.pids is cluster
    assert powers.kept is cluster
    assert isinstance(cluster, Promoting | Restoring | ArchiveFailing | ProcessPids | Kept)


def test_every_step_needing_a_missing_power_is_named_with_its_line() -> None:
    with pytest.raises(ScenarioError) as e:
        check_powers(loads(PG, "pg.yaml"), CoreOnly())  # type: ignore[arg-type]
    got = [(p.line, p.key, p.given) for p in e.value.problems]
    assert got == [
        (8, "schedule.process", "walreceiver"),
        (9, "schedule.archive_fail", "archive_fail primary"),
        (11, "schedule.promote", "promote replica1"),
        (12, "schedule.restore", "restore primary"),
    ]
    assert all(p.file == "<scenario>" for p in e.value.problems)  # loads: no path
    assert "system: postgres" in e.value.problems[0].expected


def test_pausing_one_process_needs_a_backend_that_signals_processes() -> None:
    cluster = Everything()
    cluster.signals = False  # e.g. docker on a remote engine
    with pytest.raises(ScenarioError) as e:
        check_powers(loads(PG), cluster)  # type: ignore[arg-type]
    assert [(p.line, p.key) for p in e.value.problems] == [(8, "schedule.process")]
    assert "the local backend, or docker on a local engine" in e.value.problems[0].expected


def test_archive_steps_need_topology_archive_even_on_a_capable_cluster() -> None:
    sc = loads(PG, "pg.yaml")
    assert isinstance(sc.topology, Topology)
    no_archive = replace(sc, topology=replace(sc.topology, archive=None))
    with pytest.raises(ScenarioError) as e:
        check_powers(no_archive, Everything())  # type: ignore[arg-type]
    got = [(p.line, p.key) for p in e.value.problems]
    assert got == [(9, "schedule.archive_fail"), (12, "schedule.restore")]
    assert "topology.archive" in e.value.problems[0].expected


def test_leader_targets_and_link_groups_need_kafka_powers() -> None:
    sc = loads(
        """\
system: kafka
topology:
  brokers: 3
  replication_factor: 3
  min_insync_replicas: 2
  unclean_leader_election: false
workload: {rate: 10/s, duration: 10s, acks: all, enable_idempotence: true}
schedule:
  - {at: 1s, partition: "fetch-from:leader", mode: blackhole, for: 1s}
  - {at: 3s, crash: leader, outage: true}
expect: {rpo: 10s}
"""
    )
    with pytest.raises(ScenarioError) as e:
        check_powers(sc, CoreOnly())  # type: ignore[arg-type]
    got = [(p.line, p.key) for p in e.value.problems]
    assert got == [(9, "schedule.target"), (9, "schedule.target"), (10, "schedule.target")]


PATRONI = (
    PATRONI_TOPOLOGY
    + """\
workload: {rate: 10/s, duration: 10s}
schedule:
  - {at: 1s, pause: primary, process: patroni, for: 1s}
  - {at: 3s, crash: primary, process: postmaster, outage: true}
  - {at: 4s, crash: replica1}
expect: {rpo: 10s}
"""
)


class PatroniLike(CoreOnly):
    """A fake Patroni cluster that signals Patroni and PostgreSQL apart."""

    def crash_postmaster(self, name: str) -> None: ...
    def pause_patroni(self, name: str) -> None: ...
    def resume_patroni(self, name: str) -> None: ...


def test_patroni_process_steps_need_the_patroni_processes_power() -> None:
    sc = loads(PATRONI, "p.yaml")
    needed = [[(k, n.power) for k, n in needs(s)] for s in sc.schedule]
    assert needed == [
        [("process", PatroniProcesses)],
        [("process", PatroniProcesses)],
        [],  # a host crash needs nothing beyond the core roles
    ]
    with pytest.raises(ScenarioError) as e:
        check_powers(sc, CoreOnly())  # type: ignore[arg-type]  # e.g. docker's Patroni
    got = [(p.line, p.key, p.given) for p in e.value.problems]
    assert got == [(17, "schedule.process", "patroni"), (18, "schedule.process", "postmaster")]
    assert e.value.problems[0].expected == PATRONI_NEED.expected
    assert "the docker backend does not do it yet" in PATRONI_NEED.expected
    cluster = PatroniLike()
    powers = check_powers(sc, cluster)  # type: ignore[arg-type]
    assert powers.patroni is cluster and powers.pids is None
    assert check_powers(loads(PG), Everything()).patroni is None  # type: ignore[arg-type]


def test_the_local_patroni_topology_has_the_power_and_docker_s_does_not() -> None:
    from rpochaos.patroni.docker_topology import DockerPatroniTopology
    from rpochaos.patroni.topology import PatroniTopology

    assert issubclass(PatroniTopology, PatroniProcesses)
    assert not issubclass(DockerPatroniTopology, PatroniProcesses)  # refused at set-up
