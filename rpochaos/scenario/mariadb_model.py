"""The MariaDB topology as a validated scenario holds it (``system: mariadb``): pure data, no
imports from the rest of the package (the model imports it). The file's keys are in
``mariadb_shape``, the rules between them in ``mariadb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

WaitPoint = Literal["AFTER_SYNC", "AFTER_COMMIT"]
WAIT_POINTS: tuple[str, ...] = get_args(WaitPoint)

#: actions a MariaDB scenario cannot take, and why
MARIADB_REFUSED_ACTIONS: dict[str, str] = {
    "archive_fail": "it fails a PostgreSQL WAL archive; MariaDB has none here",
    "restore": "it restores a PostgreSQL WAL archive; MariaDB has none here",
}


@dataclass(frozen=True)
class MariaDBReplica:
    name: str
    semi_sync: bool


@dataclass(frozen=True, kw_only=True)
class PrimaryDurability:
    """The five server-wide settings of a MariaDB topology that bound what a failover can
    lose, by MariaDB's own variable names (``rpochaos.mariadb.settings`` says what each
    does). Both the scenario's topology and the cluster's settings hold them."""

    rpl_semi_sync_master_timeout: int
    rpl_semi_sync_master_wait_point: WaitPoint
    rpl_semi_sync_master_wait_no_slave: bool
    sync_binlog: int
    innodb_flush_log_at_trx_commit: int


@dataclass(frozen=True, kw_only=True)
class MariaDBTopology(PrimaryDurability):
    """A validated MariaDB topology (see the module docstring)."""

    replicas: tuple[MariaDBReplica, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node name, primary first."""
        return ("primary", *(r.name for r in self.replicas))

    @property
    def links(self) -> tuple[str, ...]:
        """Every faultable link: each replica's replication link, then the writer's."""
        return (*(f"{r.name}->primary" for r in self.replicas), "client->primary")

    def settings(self) -> dict[str, object]:
        """The settings as ``rpochaos.mariadb.settings.settings_from_mapping`` takes them."""
        return {
            "semi_sync": {r.name: r.semi_sync for r in self.replicas},
            "rpl_semi_sync_master_timeout": self.rpl_semi_sync_master_timeout,
            "rpl_semi_sync_master_wait_point": self.rpl_semi_sync_master_wait_point,
            "rpl_semi_sync_master_wait_no_slave": self.rpl_semi_sync_master_wait_no_slave,
            "sync_binlog": self.sync_binlog,
            "innodb_flush_log_at_trx_commit": self.innodb_flush_log_at_trx_commit,
        }


def mariadb_link_names(replicas: list[str]) -> list[str]:
    """The links of a MariaDB topology with these replicas (``MariaDBTopology.links``)."""
    return [*(f"{r}->primary" for r in replicas), "client->primary"]
