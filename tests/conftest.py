"""Fixtures shared by every test. Helpers live in tests/helpers.py (and
tests/integration/helpers.py); test modules import from those, never from a conftest or from
each other."""

from __future__ import annotations

import pytest

from rpochaos import deps
from tests.helpers import require


@pytest.fixture(scope="session")
def real_pg() -> None:
    """PostgreSQL server binaries, the database user and Toxiproxy are all present."""
    require(deps.pg_bindir)
    require(deps.db_user)
    require(deps.toxiproxy_server)


pytest_plugins = ["pytester"]
