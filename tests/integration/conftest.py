"""Fixtures shared by the integration tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos.proxy import Toxiproxy
from tests.helpers import SCENARIOS
from tests.integration.helpers import EchoServer, clean, cli, running_toxiproxy

Shipped = dict[str, tuple[subprocess.CompletedProcess[str], Path]]
_cache: Shipped = {}


@pytest.fixture(scope="session")
def shipped(real_pg: None, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """run(name) -> (completed CLI process, run dir); each scenario runs once per session."""
    root = tmp_path_factory.mktemp("shipped")

    def run(name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        if name not in _cache:
            out = root / name
            proc = cli("run", str(SCENARIOS / f"{name}.yaml"), "--out", str(out), timeout=150)
            assert (out / "result.json").exists(), proc.stdout + proc.stderr
            _cache[name] = (proc, out)
        return _cache[name]

    return run


# -- a Toxiproxy server and an echo upstream, for the proxy and network-fault tests -------------


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with running_toxiproxy() as url:
        yield url


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def client(api_url: str) -> Iterator[Toxiproxy]:
    with Toxiproxy(api_url, timeout_s=5.0) as c:
        clean(c)
        yield c
        clean(c)
