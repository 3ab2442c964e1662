"""The keys a scenario file may have, section by section, and the names and settings it may
not use (reserved names, settings rpochaos manages itself).
"""

from __future__ import annotations

import re
from typing import get_args

from rpochaos.scenario.model import (
    Action,
    ReplicationMode,
    SyncCommit,
)
from rpochaos.scenario.shapes import (
    ExpectSection,
    KafkaTopologySection,
    KafkaWorkload,
    PostgresTopologySection,
    PostgresWorkload,
    ScenarioFile,
    keys_of,
)

_STEP_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*")
_AFTER_RE = re.compile(r"([a-z][a-z0-9_-]*)(\.end)?")
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: settings rpochaos sets itself (from the topology, or to run the cluster)
_MANAGED_SETTINGS = frozenset(
    {
        "synchronous_commit",
        "synchronous_standby_names",
        "port",
        "listen_addresses",
        "unix_socket_directories",
        "cluster_name",
    }
)
#: settings topology.archive decides (archive_mode is on exactly when it is declared)
_ARCHIVE_SETTINGS = frozenset(
    {"archive_mode", "archive_command", "archive_library", "archive_timeout", "restore_command"}
)
_REPLICATION_MODES: tuple[str, ...] = get_args(ReplicationMode)
_SYNC_COMMITS: tuple[str, ...] = get_args(SyncCommit)
_ACTIONS: tuple[str, ...] = get_args(Action)
_ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "partition": ("mode", "direction"),
    "latency": ("delay", "jitter"),
    "bandwidth": ("rate",),
    "crash": ("links", "process"),
    "restart": (),
    "promote": ("candidates", "max_lag"),
    "pause": ("process",),
    "io_stall": (),
    "clock_skew": ("offset", "drift_ppm"),
    "archive_fail": (),
    "restore": (),
}
#: actions that last ('for') until healed; restart, promote and restore are instantaneous
LASTING_ACTIONS: frozenset[str] = frozenset(
    {
        "partition",
        "latency",
        "bandwidth",
        "crash",
        "pause",
        "io_stall",
        "clock_skew",
        "archive_fail",
    }
)
#: keys of a step besides its action and the action's own parameters
_TIMING_KEYS: tuple[str, ...] = ("name", "at", "after", "every", "repeat")
_STEP_KEYS: tuple[str, ...] = (
    *_TIMING_KEYS,
    *_ACTIONS,
    "mode",
    "direction",
    "delay",
    "jitter",
    "rate",
    "links",
    "process",
    "candidates",
    "max_lag",
    "offset",
    "drift_ppm",
    "for",
    "outage",
)
_TOP_KEYS = keys_of(ScenarioFile)
_TOPOLOGY_KEYS = keys_of(PostgresTopologySection)
_WORKLOAD_KEYS = keys_of(PostgresWorkload)
_KAFKA_TOPOLOGY_KEYS = keys_of(KafkaTopologySection)
_KAFKA_WORKLOAD_KEYS = keys_of(KafkaWorkload)
#: keys that belong to the other system's section, and what to say about them
_POSTGRES_ONLY = "system: postgres"
_KAFKA_ONLY = "system: kafka"
_KAFKA_SETTING_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_DECLARE = "declare it: the client's defaults changed between versions"
#: broker properties the Kafka cluster sets itself, and what to use instead
_KAFKA_MANAGED_SETTINGS: dict[str, str] = {
    "min.insync.replicas": "use topology.min_insync_replicas",
    "unclean.leader.election.enable": "use topology.unclean_leader_election",
    "default.replication.factor": "use topology.replication_factor",
    "num.partitions": "use topology.partitions",
    **{
        k: "rpochaos wires nodes, listeners and the quorum through its proxies"
        for k in (
            "node.id",
            "broker.id",
            "process.roles",
            "listeners",
            "advertised.listeners",
            "listener.security.protocol.map",
            "inter.broker.listener.name",
            "controller.listener.names",
            "controller.quorum.voters",
            "controller.quorum.bootstrap.servers",
            "log.dirs",
            "log.dir",
        )
    },
}
_EXPECT_KEYS = keys_of(ExpectSection)
