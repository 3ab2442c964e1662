"""The keys of a MariaDB scenario's topology (``system: mariadb``), as pydantic section models:
every server setting that bounds loss is required (docs/mariadb.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rpochaos.scenario.fields import (
    ReplicaName,
    _file,
    _pydantic,
    boolean,
    checked_elsewhere,
    choice,
    integer,
)
from rpochaos.scenario.limits import MAX_REPLICAS
from rpochaos.scenario.mariadb_model import WAIT_POINTS

_MAX_U32 = 2**32 - 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


Milliseconds = Annotated[
    int,
    _pydantic(lambda v: integer(v, 0, _MAX_U32, "milliseconds")),
    _file({"type": "integer", "minimum": 0, "maximum": _MAX_U32}),
]
SyncBinlog = Annotated[
    int,
    _pydantic(lambda v: integer(v, 0, _MAX_U32, "fsync the binlog every N commits; 0: never")),
    _file({"type": "integer", "minimum": 0, "maximum": _MAX_U32}),
]
FlushAtCommit = Annotated[
    int,
    _pydantic(lambda v: integer(v, 0, 3, "1 syncs the redo log at every commit")),
    _file({"type": "integer", "minimum": 0, "maximum": 3}),
]
WaitPointValue = Annotated[str, _pydantic(choice(WAIT_POINTS)), _file({"enum": list(WAIT_POINTS)})]
Flag = Annotated[bool, _pydantic(boolean), _file({"type": "boolean"})]


class MariaDBReplicaShape(_Section):
    """One of ``topology.replicas`` of a MariaDB scenario."""

    name: ReplicaName = Field(
        description="`[a-z][a-z0-9_]*`, unique; primary, client and most_up_to_date are reserved"
    )
    semi_sync: Flag = Field(
        description="rpl_semi_sync_slave_enabled: the replica acknowledges transactions"
    )


class MariaDBTopologySection(_Section):
    """``topology`` of a MariaDB scenario: a primary and its replicas (GTID, row binlog), and
    the five server settings that bound loss, all required. Times are the server's own
    milliseconds (time_scale must be 1)."""

    replicas: Annotated[
        object,
        checked_elsewhere(
            Annotated[list[MariaDBReplicaShape], Field(min_length=1, max_length=MAX_REPLICAS)]
        ),
    ] = Field(description="the replicas, at least one, each semi-sync or not")
    rpl_semi_sync_master_timeout: Milliseconds = Field(
        description="ms a commit waits for an ack before semi-sync silently switches off"
    )
    rpl_semi_sync_master_wait_point: WaitPointValue = Field(
        description="AFTER_SYNC (no reader sees an unreplicated row) or AFTER_COMMIT"
    )
    rpl_semi_sync_master_wait_no_slave: Flag = Field(
        description="keep waiting while no semi-sync replica is connected"
    )
    sync_binlog: SyncBinlog = Field(description="fsync the binlog every N commits (1: each)")
    innodb_flush_log_at_trx_commit: FlushAtCommit = Field(
        description="1: flush and sync the redo log at every commit"
    )
