"""The declared MariaDB settings that bound what a failover can lose.

Every one is required: a silent default is a setting nobody chose and no report would show,
and MariaDB's defaults are the risky ones (``rpl_semi_sync_master_timeout`` 10 s, after
which the primary goes on alone without telling any client; ``AFTER_COMMIT``, which lets
other sessions read a row no replica has). Keys are MariaDB's own variable names, so a
scenario reads like the server's configuration:

- ``semi_sync``: each replica by name, true if it acknowledges transactions
  (``rpl_semi_sync_slave_enabled``). The primary waits (``rpl_semi_sync_master_enabled``)
  when at least one replica is semi-sync. The mapping's order is the replicas' order.
- ``rpl_semi_sync_master_timeout`` (ms): how long a commit waits for an acknowledgement
  before the primary switches semi-sync OFF and acknowledges commits alone; from then on an
  acknowledged commit can be on the primary only, and is lost if the primary dies.
- ``rpl_semi_sync_master_wait_point``: ``AFTER_SYNC`` waits after the binlog is synced and
  before the engine commit (no other session sees the row before a replica has it);
  ``AFTER_COMMIT`` waits after the engine commit (other sessions can read a row that a
  failover then loses).
- ``rpl_semi_sync_master_wait_no_slave``: true keeps waiting (up to the timeout) even while
  no semi-sync replica is connected; false switches semi-sync off as soon as none is.
- ``sync_binlog``: fsync the binlog every N commits (0: leave it to the OS): below 1 a
  crash of the primary's host can lose binlog events its replicas never got.
- ``innodb_flush_log_at_trx_commit``: 1 flushes and syncs the redo log at every commit;
  0, 2 and 3 (as 1 in 10.11, but group-commit aware) trade durability for speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from rpochaos.proxy import check_name
from rpochaos.scenario.mariadb_model import WAIT_POINTS, PrimaryDurability, WaitPoint
from rpochaos.setting_problems import SettingProblem, raise_problems, unknown_keys

SETTING_KEYS: tuple[str, ...] = (
    "semi_sync",
    "rpl_semi_sync_master_timeout",
    "rpl_semi_sync_master_wait_point",
    "rpl_semi_sync_master_wait_no_slave",
    "sync_binlog",
    "innodb_flush_log_at_trx_commit",
)
#: the name of the first primary; replicas may take any other name
PRIMARY = "primary"
_MAX_U32 = 2**32 - 1


@dataclass(frozen=True, kw_only=True)
class MariaDBSettings(PrimaryDurability):
    """The declared settings (module docstring). Construct, then ``check`` before use; the
    cluster checks again."""

    semi_sync: Mapping[str, bool]

    @property
    def replicas(self) -> list[str]:
        return list(self.semi_sync)

    @property
    def semi_sync_wanted(self) -> bool:
        """Whether the primary waits for acknowledgements at all."""
        return any(self.semi_sync.values())

    @property
    def problems(self) -> list[SettingProblem]:
        out: list[SettingProblem] = []
        if not self.semi_sync:
            out.append(SettingProblem("semi_sync", "no replica", "at least one replica name"))
        for name, on in self.semi_sync.items():
            try:
                check_name("replica", f"{name}->{PRIMARY}")
            except ValueError:
                out.append(SettingProblem("semi_sync", repr(name), "a name without '/'"))
            if name == PRIMARY or not name:
                out.append(
                    SettingProblem(
                        "semi_sync", repr(name), f"a replica name other than {PRIMARY!r}"
                    )
                )
            if not isinstance(on, bool):
                out.append(SettingProblem(f"semi_sync.{name}", repr(on), "true or false"))
        timeout = self.rpl_semi_sync_master_timeout
        if _not_int(timeout) or not 0 <= timeout <= _MAX_U32:
            out.append(
                SettingProblem(
                    "rpl_semi_sync_master_timeout",
                    repr(timeout),
                    f"milliseconds, a whole number from 0 to {_MAX_U32}",
                )
            )
        if self.rpl_semi_sync_master_wait_point not in WAIT_POINTS:
            out.append(
                SettingProblem(
                    "rpl_semi_sync_master_wait_point",
                    repr(self.rpl_semi_sync_master_wait_point),
                    " or ".join(WAIT_POINTS),
                )
            )
        if not isinstance(self.rpl_semi_sync_master_wait_no_slave, bool):
            out.append(
                SettingProblem(
                    "rpl_semi_sync_master_wait_no_slave",
                    repr(self.rpl_semi_sync_master_wait_no_slave),
                    "true or false",
                )
            )
        if _not_int(self.sync_binlog) or not 0 <= self.sync_binlog <= _MAX_U32:
            out.append(
                SettingProblem(
                    "sync_binlog", repr(self.sync_binlog), f"a whole number from 0 to {_MAX_U32}"
                )
            )
        flush = self.innodb_flush_log_at_trx_commit
        if _not_int(flush) or flush not in (0, 1, 2, 3):
            out.append(
                SettingProblem("innodb_flush_log_at_trx_commit", repr(flush), "0, 1, 2 or 3")
            )
        return out

    def check(self, file: str = "<settings>", path: str = "topology.mariadb") -> None:
        """ScenarioError listing every problem (``problems``), each at ``path.key``."""
        raise_problems(self.problems, file=file, path=path)

    def server_args(self, node: str) -> list[str]:
        """The command-line options these settings give node ``node``'s mariadbd. Master
        semi-sync starts OFF everywhere: the cluster turns it on on the primary once the
        replicas are connected (before that, the first commit would wait out the timeout and
        switch semi-sync off)."""
        slave = self.semi_sync.get(node, False)
        return [
            "--rpl-semi-sync-master-enabled=OFF",
            f"--rpl-semi-sync-slave-enabled={_onoff(slave)}",
            f"--rpl-semi-sync-master-timeout={self.rpl_semi_sync_master_timeout}",
            f"--rpl-semi-sync-master-wait-point={self.rpl_semi_sync_master_wait_point}",
            f"--rpl-semi-sync-master-wait-no-slave={_onoff(self.rpl_semi_sync_master_wait_no_slave)}",
            f"--sync-binlog={self.sync_binlog}",
            f"--innodb-flush-log-at-trx-commit={self.innodb_flush_log_at_trx_commit}",
        ]

    def describe(self) -> dict[str, object]:
        """The settings for the run record (every report prints them)."""
        return {
            "semi_sync": dict(self.semi_sync),
            "rpl_semi_sync_master_timeout_ms": self.rpl_semi_sync_master_timeout,
            "rpl_semi_sync_master_wait_point": self.rpl_semi_sync_master_wait_point,
            "rpl_semi_sync_master_wait_no_slave": self.rpl_semi_sync_master_wait_no_slave,
            "sync_binlog": self.sync_binlog,
            "innodb_flush_log_at_trx_commit": self.innodb_flush_log_at_trx_commit,
        }


def _not_int(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool)


def _onoff(value: bool) -> str:
    return "ON" if value else "OFF"


def settings_from_mapping(
    data: Mapping[str, object], *, file: str, path: str = "topology.mariadb"
) -> MariaDBSettings:
    """Settings from a parsed mapping (a scenario's ``topology.mariadb``). ScenarioError
    listing every missing, unknown or invalid key at once; no key has a default. A YAML
    ``on``/``off`` reads as a boolean, so it is accepted wherever true/false is."""
    problems = unknown_keys(data, SETTING_KEYS)

    def add(key: str, given: str, expected: str) -> None:
        problems.append(SettingProblem(key, given, expected))

    missing = [k for k in SETTING_KEYS if k not in data]
    for key in missing:
        add(key, "nothing", "a value: every setting that bounds loss is declared")
    semi = data.get("semi_sync", {})
    if not isinstance(semi, Mapping):
        add("semi_sync", repr(semi), "a mapping of replica name to true/false")
        semi = {}
    point = data.get("rpl_semi_sync_master_wait_point", "AFTER_SYNC")
    if isinstance(point, str):
        point = point.upper()
    # Missing keys get a stand-in value, so the values given are checked all the same. The
    # casts are checked right below: ``problems`` tests every field's type and range.
    settings = MariaDBSettings(
        semi_sync={str(k): cast(bool, v) for k, v in semi.items()},
        rpl_semi_sync_master_timeout=cast(int, data.get("rpl_semi_sync_master_timeout", 0)),
        rpl_semi_sync_master_wait_point=cast(WaitPoint, point),
        rpl_semi_sync_master_wait_no_slave=cast(
            bool, data.get("rpl_semi_sync_master_wait_no_slave", True)
        ),
        sync_binlog=cast(int, data.get("sync_binlog", 1)),
        innodb_flush_log_at_trx_commit=cast(int, data.get("innodb_flush_log_at_trx_commit", 1)),
    )
    for p in settings.problems:
        if p.key not in missing and not (p.key == "semi_sync" and "semi_sync" in missing):
            add(p.key, p.given, p.expected)
    raise_problems(problems, file=file, path=path)
    return settings
