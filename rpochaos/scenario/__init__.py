"""Scenario files: the model, its validation, and its run record.

A scenario is data, validated before anything starts. ``load(path)`` / ``loads(text)`` return
a ``Scenario`` whose schedule is resolved (random choices drawn from its seed, times divided by
``time_scale``), or raise ``ScenarioError`` listing *every* problem at once, each with file,
line, key, what was given and what was expected. ``to_dict`` / ``from_dict`` are the run
record (resolved.json) and its inverse; ``resolve`` re-draws a schedule for another seed.

docs/scenarios.md is the user's guide to the file format; this package is its one
implementation, in layers:

- ``model``: the validated scenario (frozen dataclasses) and how its schedule resolves;
  ``units`` and ``limits``: how values are written, and what a run or the OS can take.
- ``shapes`` (pydantic section models: top level, topology, replicas, archive, workload,
  expect), typed by ``fields`` (one check per kind of value, in the problems' wording);
  ``stepform``: how a step is written. ``keys`` reads the key lists from them.
- ``source`` (the YAML tree with lines), ``messages`` (wording, "did you mean"),
  ``values`` (the checker's scalar methods), ``sections`` (a section model run over the tree,
  each pydantic error mapped to its line).
- one checker layer per part: ``topology``, ``workload``, ``steps``, ``targets``; ``rules``
  (across steps: outage, names, the ``after`` graph, start bounds); ``loader`` (the file).
- ``record`` (resolved.json: the model's pydantic dump and load), ``schema`` (the file's
  JSON Schema and the docs' key tables, from the shapes).
"""

from rpochaos.scenario.keys import _KAFKA_MANAGED_SETTINGS, LASTING_ACTIONS
from rpochaos.scenario.loader import load, loads
from rpochaos.scenario.mariadb_model import (
    MARIADB_REFUSED_ACTIONS,
    MariaDBReplica,
    MariaDBTopology,
    mariadb_link_names,
)
from rpochaos.scenario.model import (
    ARCHIVE_ACTIONS,
    KAFKA_ACKS,
    KAFKA_REQUEST_TIMEOUT_S,
    LEADER,
    LINK_ACTIONS,
    LINK_GROUPS,
    MAX_BROKERS,
    MAX_REPEAT,
    MOST_UP_TO_DATE,
    NODE_ACTIONS,
    PATRONI_PROCESSES,
    PAUSE_PROCESSES,
    SYSTEMS,
    Action,
    Archive,
    Between,
    Choose,
    Declared,
    Expect,
    KafkaTopology,
    ParamValue,
    Patroni,
    PatroniSyncMode,
    Replica,
    ReplicationMode,
    Scenario,
    Step,
    StepSpec,
    SyncCommit,
    SystemName,
    Topology,
    Workload,
    kafka_link_names,
    resolve,
    start_bounds,
)
from rpochaos.scenario.record import from_dict, to_dict
from rpochaos.scenario.units import parse_duration, parse_rate, parse_size

__all__ = [
    "ARCHIVE_ACTIONS",
    "KAFKA_ACKS",
    "KAFKA_REQUEST_TIMEOUT_S",
    "LASTING_ACTIONS",
    "LEADER",
    "LINK_ACTIONS",
    "LINK_GROUPS",
    "MARIADB_REFUSED_ACTIONS",
    "MAX_BROKERS",
    "MAX_REPEAT",
    "MOST_UP_TO_DATE",
    "NODE_ACTIONS",
    "PATRONI_PROCESSES",
    "PAUSE_PROCESSES",
    "SYSTEMS",
    "_KAFKA_MANAGED_SETTINGS",
    "Action",
    "Archive",
    "Between",
    "Choose",
    "Declared",
    "Expect",
    "KafkaTopology",
    "MariaDBReplica",
    "MariaDBTopology",
    "ParamValue",
    "Patroni",
    "PatroniSyncMode",
    "Replica",
    "ReplicationMode",
    "Scenario",
    "Step",
    "StepSpec",
    "SyncCommit",
    "SystemName",
    "Topology",
    "Workload",
    "from_dict",
    "json_schema",
    "kafka_link_names",
    "load",
    "loads",
    "mariadb_link_names",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "resolve",
    "start_bounds",
    "to_dict",
]


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of a scenario file as users write it; see
    ``rpochaos.scenario.schema`` (imported on first use: loading a file does not need it)."""
    from rpochaos.scenario.schema import json_schema as build

    return build()
