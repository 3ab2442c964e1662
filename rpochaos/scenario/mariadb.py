"""The topology checks of a MariaDB scenario (``system: mariadb``): a primary and its replicas, each
semi-sync or not, and every server setting that bounds what a failover can lose, declared
with MariaDB's own variable names and never defaulted (docs/mariadb.md).

``MariaDBTopologySection`` (pydantic) declares the keys; ``_MariaDBChecks.mariadb_topology``
adds the rules between them (unique replica names, at least one replica) and builds the
``MariaDBTopology`` the runner reads. The links are ``<replica>->primary`` (each replica's
replication link) and ``client->primary`` (the writer's, moved to the promoted node).
"""

from __future__ import annotations

from rpochaos.scenario.mariadb_model import MariaDBReplica, MariaDBTopology
from rpochaos.scenario.mariadb_shape import MariaDBReplicaShape, MariaDBTopologySection
from rpochaos.scenario.sections import _Sections
from rpochaos.scenario.shapes import keys_of
from rpochaos.scenario.source import _Y

#: what a missing key of a MariaDB topology expects, with the server's own default
_MISSING: dict[str, str] = {
    "replicas": "a non-empty list of replicas, each {name: NAME, semi_sync: true/false}",
    "semi_sync": "true or false: declare it (a replica is not semi-sync by default)",
    "rpl_semi_sync_master_timeout": "milliseconds, an integer >= 0: declare it, it bounds "
    "what a failover loses (MariaDB's default is 10000, then it silently goes async)",
    "rpl_semi_sync_master_wait_point": "AFTER_SYNC or AFTER_COMMIT: declare it (MariaDB's "
    "default is AFTER_COMMIT)",
    "rpl_semi_sync_master_wait_no_slave": "true or false: declare it (MariaDB's default is true)",
    "sync_binlog": "an integer >= 0: declare it (MariaDB's default is 0: never fsync)",
    "innodb_flush_log_at_trx_commit": "0, 1, 2 or 3: declare it (MariaDB's default is 1)",
}


class _MariaDBChecks(_Sections):
    def _describe(self, path: str, key: str) -> str:
        if self.system == "mariadb" and key in _MISSING:
            return _MISSING[key]
        if self.system == "mariadb" and key == "topology":
            return "a mapping with keys " + ", ".join(keys_of(MariaDBTopologySection))
        return super()._describe(path, key)

    def mariadb_topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[MariaDBTopology | None, list[str] | None]:
        """The topology and its replica names (None: unknown), every problem added."""
        path = "topology"
        section, good = self.section(MariaDBTopologySection, y, path, line)
        if self.scale != 1 and y is not None:
            self.add(
                line,
                "time_scale",
                f"{self.scale:g}",
                "1 for system: mariadb (rpl_semi_sync_master_timeout is the server's own "
                "milliseconds; rpochaos does not rescale server settings)",
            )
        if y is None or y.kind != "map":
            return None, None
        ok = section is not None
        rep_y = y.entries["replicas"][1] if "replicas" in y.entries else None
        replicas: list[MariaDBReplica] = []
        names: list[str] | None = None
        if rep_y is not None and not self.replica_list(
            rep_y, path, server="MariaDB", at_least_one=True
        ):
            ok = False
        elif rep_y is not None:
            names = []
            seen: dict[str, str] = {}
            for i, item in enumerate(rep_y.items):
                rpath = f"{path}.replicas[{i}]"
                shape, _ = self.section(MariaDBReplicaShape, item, rpath, item.line)
                if shape is None:
                    ok = False
                    if item.kind == "map" and "name" in item.entries:
                        raw = item.entries["name"][1].value
                        if isinstance(raw, str) and raw not in names:
                            names.append(raw)
                    continue
                if shape.name in seen:
                    self.add(
                        item.entries["name"][1].line,
                        f"{rpath}.name",
                        repr(shape.name),
                        f"a unique name ({seen[shape.name]} is already {shape.name!r})",
                    )
                    ok = False
                    continue
                seen[shape.name] = rpath
                names.append(shape.name)
                replicas.append(MariaDBReplica(shape.name, shape.semi_sync))
        del good
        if section is None or not ok:
            return None, names
        return (
            MariaDBTopology(
                replicas=tuple(replicas),
                rpl_semi_sync_master_timeout=section.rpl_semi_sync_master_timeout,
                rpl_semi_sync_master_wait_point=(
                    "AFTER_SYNC"
                    if section.rpl_semi_sync_master_wait_point == "AFTER_SYNC"
                    else "AFTER_COMMIT"
                ),
                rpl_semi_sync_master_wait_no_slave=section.rpl_semi_sync_master_wait_no_slave,
                sync_binlog=section.sync_binlog,
                innodb_flush_log_at_trx_commit=section.innodb_flush_log_at_trx_commit,
            ),
            names,
        )
