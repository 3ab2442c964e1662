"""The topology section: a PostgreSQL primary with replicas (sync/quorum rules, settings,
the WAL archive) or a Kafka KRaft cluster (brokers, replication factor, min ISR, settings).
"""

from __future__ import annotations

from typing import cast

from rpochaos.scenario.keys import (
    _ARCHIVE_SETTINGS,
    _KAFKA_MANAGED_SETTINGS,
    _KAFKA_ONLY,
    _KAFKA_SETTING_RE,
    _KAFKA_TOPOLOGY_KEYS,
    _MANAGED_SETTINGS,
    _POSTGRES_ONLY,
    _SETTING_RE,
    _TOPOLOGY_KEYS,
)
from rpochaos.scenario.mariadb import _MariaDBChecks
from rpochaos.scenario.mariadb_model import MariaDBTopology
from rpochaos.scenario.model import (
    Archive,
    KafkaTopology,
    Patroni,
    PatroniSyncMode,
    Replica,
    ReplicationMode,
    SyncCommit,
    Topology,
)
from rpochaos.scenario.shapes import (
    ArchiveShape,
    KafkaTopologySection,
    PatroniReplicaShape,
    PatroniShape,
    PostgresTopologySection,
    ReplicaShape,
    keys_of,
)
from rpochaos.scenario.source import _Y, _given


class _TopologyChecks(_MariaDBChecks):
    # -- sections ---------------------------------------------------------------------------

    def topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[Topology | KafkaTopology | MariaDBTopology | None, list[str] | None]:
        """The topology, and the names to check targets against (None: unknown): the replicas
        of a PostgreSQL or MariaDB topology, the brokers of a Kafka one."""
        if self.system == "kafka":
            return self.kafka_topology(y, line)
        if self.system == "mariadb":
            return self.mariadb_topology(y, line)
        return self.postgres_topology(y, line)

    def kafka_topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[KafkaTopology | None, list[str] | None]:
        path = "topology"
        section, good = self.section(
            KafkaTopologySection,
            y,
            path,
            line,
            elsewhere=_TOPOLOGY_KEYS,
            elsewhere_note=_POSTGRES_ONLY,
        )
        if y is None or y.kind != "map":
            return None, None
        brokers = good.get("brokers")
        names = [f"broker{i}" for i in range(1, brokers + 1)] if isinstance(brokers, int) else None
        set_y = y.entries["settings"][1] if "settings" in y.entries else None
        settings, settings_ok = self.kafka_settings(set_y, f"{path}.settings")
        if section is None or not settings_ok:
            return None, names
        return (
            KafkaTopology(
                brokers=section.brokers,
                replication_factor=section.replication_factor,
                min_insync_replicas=section.min_insync_replicas,
                unclean_leader_election=section.unclean_leader_election,
                partitions=section.partitions,
                topic=section.topic,
                settings=settings,
            ),
            names,
        )

    def kafka_settings(self, y: _Y | None, path: str) -> tuple[dict[str, str], bool]:
        """Broker properties, rendered as strings (booleans as true/false)."""
        settings: dict[str, str] = {}
        if y is None:
            return settings, True
        if y.kind != "map":
            self.add(y.line, path, _given(y), "a mapping of Kafka broker properties")
            return settings, False
        ok = True
        for key, (kline, vy) in y.entries.items():
            spath = f"{path}.{key}"
            if not _KAFKA_SETTING_RE.fullmatch(key):
                self.add(kline, spath, repr(key), "a Kafka broker property like 'log.flush.ms'")
                ok = False
                continue
            if key in _KAFKA_MANAGED_SETTINGS:
                self.add(
                    kline,
                    spath,
                    repr(key),
                    f"a property rpochaos does not set itself ({_KAFKA_MANAGED_SETTINGS[key]}; "
                    "it sets " + ", ".join(sorted(_KAFKA_MANAGED_SETTINGS)) + ")",
                )
                ok = False
                continue
            v = vy.value if vy.kind == "scalar" else None
            if isinstance(v, bool):
                settings[key] = "true" if v else "false"
            elif isinstance(v, str | int | float):
                settings[key] = str(v)
            else:
                self.add(vy.line, spath, _given(vy), "a string, a number, true or false")
                ok = False
        return settings, ok

    def postgres_topology(
        self, y: _Y | None, line: int | None
    ) -> tuple[Topology | None, list[str] | None]:
        path = "topology"
        section, good = self.section(
            PostgresTopologySection,
            y,
            path,
            line,
            elsewhere=_KAFKA_TOPOLOGY_KEYS,
            elsewhere_note=_KAFKA_ONLY,
        )
        if y is None or y.kind != "map":
            return None, None
        entries = {k: v for k, v in y.entries.items() if k in _TOPOLOGY_KEYS}
        ok = section is not None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        num_sync_y = get("num_sync")
        num_sync = good.get("num_sync")
        manager = good.get("manager")
        self.managed = manager == "patroni"
        assert num_sync is None or isinstance(num_sync, int)

        replicas: list[Replica] = []
        names: list[str] | None = None
        rep_y = get("replicas")
        if rep_y is not None and not self.replica_list(
            rep_y, path, server="PostgreSQL", at_least_one=False
        ):
            ok = False
        elif rep_y is not None:
            names = []
            first_sync: tuple[str, str] | None = None  # (mode, path) of the first sync/quorum
            n_sync = 0  # replicas whose (valid) mode is sync or quorum
            seen: dict[str, str] = {}
            for i, item in enumerate(rep_y.items):
                rpath = f"{path}.replicas[{i}]"
                managed = "manager" in y.entries
                shape = PatroniReplicaShape if managed else ReplicaShape
                _, good = self.section(shape, item, rpath, item.line)
                if item.kind != "map":
                    ok = False
                    continue
                r = item.entries
                name: str | None = None
                if "name" in r:
                    name_y = r["name"][1]
                    if isinstance(name_y.value, str) and name_y.value not in names:
                        names.append(name_y.value)
                    valid = good.get("name")
                    name = valid if isinstance(valid, str) else None
                    if name is not None and name in seen:
                        self.add(
                            name_y.line,
                            f"{rpath}.name",
                            repr(name),
                            f"a unique name ({seen[name]} is already {name!r})",
                        )
                        name = None
                    elif name is not None:
                        seen[name] = rpath
                mode: str | None = "async" if managed and "mode" not in r else None
                if "mode" in r:
                    mode_y = r["mode"][1]
                    valid = good.get("mode")
                    mode = valid if isinstance(valid, str) else None
                    if mode in ("sync", "quorum"):
                        if first_sync is None:
                            first_sync = (mode, rpath)
                        if first_sync[0] == mode:
                            n_sync += 1
                        else:
                            self.add(
                                mode_y.line,
                                f"{rpath}.mode",
                                repr(mode),
                                f"async or {first_sync[0]}: sync and quorum replicas can't be "
                                f"mixed ({first_sync[1]} is {first_sync[0]})",
                            )
                            mode = None
                if name is None or mode is None or set(r) - {"name", "mode"}:
                    ok = False
                    continue
                replicas.append(Replica(name, cast(ReplicationMode, mode)))
            if num_sync is not None and num_sync_y is not None and 0 < n_sync < num_sync:
                self.add(
                    num_sync_y.line,
                    f"{path}.num_sync",
                    _given(num_sync_y),
                    f"at most {n_sync} (the number of sync/quorum replicas)",
                )
                ok = False

        settings: dict[str, str] = {}
        set_y = get("settings")
        if set_y is not None:
            if set_y.kind != "map":
                self.add(
                    set_y.line,
                    f"{path}.settings",
                    _given(set_y),
                    "a mapping of PostgreSQL settings",
                )
                ok = False
            else:
                for key, (kline, vy) in set_y.entries.items():
                    spath = f"{path}.settings.{key}"
                    if not _SETTING_RE.fullmatch(key):
                        self.add(kline, spath, repr(key), "a PostgreSQL setting name")
                        ok = False
                        continue
                    if key.lower() in _ARCHIVE_SETTINGS:
                        self.add(
                            kline,
                            spath,
                            repr(key),
                            "a setting rpochaos does not manage (topology.archive: {timeout: "
                            "DURATION} turns WAL archiving on and sets "
                            + ", ".join(sorted(_ARCHIVE_SETTINGS - {"archive_library"}))
                            + " itself)",
                        )
                        ok = False
                        continue
                    if key.lower() in _MANAGED_SETTINGS:
                        self.add(
                            kline,
                            spath,
                            repr(key),
                            "a setting rpochaos does not manage (it sets "
                            + ", ".join(sorted(_MANAGED_SETTINGS))
                            + " itself; use topology.synchronous_commit and replica modes)",
                        )
                        ok = False
                        continue
                    v = vy.value if vy.kind == "scalar" else None
                    if isinstance(v, bool):
                        settings[key] = "on" if v else "off"
                    elif isinstance(v, str | int | float):
                        settings[key] = str(v)
                    else:
                        self.add(vy.line, spath, _given(vy), "a string or a number")
                        ok = False

        archive: Archive | None = None
        arch_y = get("archive")
        self.archive = arch_y is not None
        if arch_y is not None:
            archive = self.archive_block(arch_y, f"{path}.archive", entries["archive"][0])
            ok = ok and archive is not None

        patroni = self.patroni_block(get("patroni"), manager, entries, line)
        ok = ok and (manager is None or patroni is not None)
        if patroni is not None:
            ok = self.patroni_rules(patroni, entries, rep_y) and ok

        if section is None or not ok:
            return None, names
        if patroni is not None:  # a replica's mode left out is Patroni's
            patroni_mode: ReplicationMode = "async" if patroni.synchronous_mode == "off" else "sync"
            replicas = [Replica(r.name, patroni_mode) for r in replicas]
        topo = Topology(
            synchronous_commit=cast(SyncCommit, section.synchronous_commit),
            replicas=tuple(replicas),
            num_sync=num_sync if num_sync is not None else 1,
            settings=settings,
            archive=archive,
            manager="patroni" if manager == "patroni" else None,
            patroni=patroni,
        )
        return topo, names

    def patroni_block(
        self,
        y: _Y | None,
        manager: object,
        entries: dict[str, tuple[int, _Y]],
        line: int | None,
    ) -> Patroni | None:
        """``topology.patroni``: required (and only allowed) with ``manager: patroni``."""
        path = "topology.patroni"
        if manager != "patroni":
            if y is not None and "manager" not in entries:
                self.add(
                    entries["patroni"][0],
                    path,
                    "a patroni block without topology.manager",
                    "topology.manager: patroni beside it (or no patroni block)",
                )
            return None
        if y is None:
            self.add(
                entries["manager"][0],
                path,
                "(missing)",
                "a mapping of Patroni's settings: " + ", ".join(keys_of(PatroniShape)),
            )
            return None
        section, _ = self.section(
            PatroniShape, y, path, entries["patroni"][0], missing_as_written=True
        )
        if section is None:
            return None
        if section.loop_wait + 2 * section.retry_timeout > section.ttl:
            self.add(
                y.entries["loop_wait"][0],
                f"{path}.loop_wait",
                f"loop_wait {section.loop_wait} + 2 * retry_timeout {section.retry_timeout} "
                f"> ttl {section.ttl}",
                "loop_wait + 2 * retry_timeout <= ttl (Patroni would cut loop_wait or "
                "retry_timeout down on its own)",
            )
            return None
        return Patroni(
            ttl=section.ttl,
            loop_wait=section.loop_wait,
            retry_timeout=section.retry_timeout,
            maximum_lag_on_failover=section.maximum_lag_on_failover,
            synchronous_mode=cast(PatroniSyncMode, section.synchronous_mode),
            synchronous_node_count=section.synchronous_node_count,
            failsafe_mode=section.failsafe_mode,
            use_pg_rewind=section.use_pg_rewind,
            etcd_members=section.etcd_members,
        )

    def patroni_rules(
        self, patroni: Patroni, entries: dict[str, tuple[int, _Y]], rep_y: _Y | None
    ) -> bool:
        """What a Patroni topology cannot have: rpochaos's own archive, num_sync (Patroni's
        synchronous_node_count), time_scale (Patroni's timings are real seconds), no
        replica, and a replica mode that disagrees with synchronous_mode."""
        ok = True
        why = {
            "archive": "no archive (Patroni manages the servers; topology.archive is "
            "rpochaos's own WAL archive)",
            "num_sync": "topology.patroni.synchronous_node_count instead (Patroni sets "
            "synchronous_standby_names)",
        }
        for key, expected in why.items():
            if key in entries:
                self.add(entries[key][0], f"topology.{key}", key, expected)
                ok = False
        if self.scale != 1:
            self.add(
                entries["manager"][0],
                "time_scale",
                f"{self.scale:g}",
                "time_scale 1 with manager: patroni (Patroni's timings are real seconds)",
            )
            ok = False
        want = "async" if patroni.synchronous_mode == "off" else "sync"
        items = rep_y.items if rep_y is not None and rep_y.kind == "seq" else []
        if not items:
            self.add(
                entries["manager"][0],
                "topology.replicas",
                "no replica",
                "at least one replica for Patroni to fail over to",
            )
            ok = False
        for i, item in enumerate(items):
            if item.kind != "map" or "mode" not in item.entries:
                continue
            mline, mode_y = item.entries["mode"]
            if mode_y.value != want:
                self.add(
                    mline,
                    f"topology.replicas[{i}].mode",
                    _given(mode_y),
                    f"{want} (synchronous_mode {patroni.synchronous_mode}: Patroni decides "
                    "each replica's mode), or leave mode out",
                )
                ok = False
        return ok

    def archive_block(self, y: _Y, path: str, line: int) -> Archive | None:
        """``topology.archive: {timeout: DURATION}``: archive_timeout must be declared (it is
        the bound on what archive recovery loses) and, divided by time_scale, a whole number
        of seconds >= 1 (PostgreSQL's resolution)."""
        section, _ = self.section(ArchiveShape, y, path, line)
        if section is None:
            return None
        t_y = y.entries["timeout"][1]
        expected = (
            "a duration > 0 like '60s': archive_timeout, the longest a finished transaction "
            "waits for its WAL segment to be archived"
        )
        timeout = section.timeout
        run_s = timeout / self.scale
        if run_s < 1 or abs(run_s - round(run_s)) > 1e-9:
            scaled = f" / time_scale {self.scale:g} = {run_s:g}s" if self.scale != 1 else ""
            self.add(
                t_y.line,
                f"{path}.timeout",
                _given(t_y) + scaled,
                expected + "; in the run (divided by time_scale) a whole number of seconds "
                ">= 1, since PostgreSQL counts archive_timeout in whole seconds",
            )
            return None
        return Archive(timeout=float(round(run_s)))
