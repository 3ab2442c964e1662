"""Shared test helpers: where the repository is, and ``require``.

Integration tests need real PostgreSQL and Toxiproxy. Without them a test skips with the
install command — except under CI=true, where a missing dependency fails the test: a green CI
run that skipped the real tests would be a lie.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from rpochaos.errors import MissingDependency

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
#: the topology section of a Patroni scenario (primary + replica1, async), for unit tests
#: that add their own workload, schedule and expect
PATRONI_TOPOLOGY = """\
system: postgres
topology:
  manager: patroni
  synchronous_commit: "on"
  patroni:
    ttl: 20s
    loop_wait: 1s
    retry_timeout: 5s
    maximum_lag_on_failover: 1MB
    synchronous_mode: "off"
    synchronous_node_count: 1
    failsafe_mode: false
    use_pg_rewind: true
  replicas: [{name: replica1}]
"""
T = TypeVar("T")


def require(find: Callable[[], T]) -> T:
    """Return what ``find`` finds; on MissingDependency skip (fail under CI=true)."""
    try:
        return find()
    except MissingDependency as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and a dependency is missing: {e}", pytrace=False)
        pytest.skip(str(e))
