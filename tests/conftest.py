"""Fixtures shared by every test. Helpers live in tests/helpers.py (and
tests/integration/helpers.py); test modules import from those, never from a conftest or from
each other."""

from __future__ import annotations

import signal

import pytest

from rpochaos import deps
from tests.helpers import require


@pytest.fixture(scope="session")
def real_pg() -> None:
    """PostgreSQL server binaries, the database user and Toxiproxy are all present."""
    require(deps.pg_bindir)
    require(deps.db_user)
    require(deps.toxiproxy_server)


def pytest_configure(config: pytest.Config) -> None:
    """A suite started with SIGINT ignored (a background job of a shell without job control,
    e.g. ``sh -c '... &'``) passes SIG_IGN on to every run it starts, and the tests that
    interrupt a run with SIGINT would see it go on to the end. Give this process Python's
    handler back: a child then starts with SIGINT at its default, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


pytest_plugins = ["pytester"]
