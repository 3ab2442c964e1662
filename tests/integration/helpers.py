"""The one module of integration-test helpers: the real CLI, result files, a Toxiproxy server
process, an echo upstream and socket probes. Test modules import from here, never from each
other."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos import deps
from rpochaos.backends.local import _die_with_parent
from rpochaos.errors import MissingDependency, ProxyError
from rpochaos.proxy import ProxyInfo, Toxiproxy
from tests.helpers import ROOT

RPOCHAOS = [sys.executable, "-m", "rpochaos.cli"]


def cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RPOCHAOS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def result_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "result.json").read_text())
    return data


def fault(result: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(f for f in result["faults"] if f["kind"] == kind)


def within(measured: float, truth: float) -> bool:
    """The acceptance tolerance: within max(0.25 s, 10 %) of the truth."""
    return abs(measured - truth) <= max(0.25, 0.10 * truth)


# -- a Toxiproxy server, an echo upstream and socket probes ------------------------------------

HOST = "127.0.0.1"
LINK = "replica1->primary"


def toxiproxy_binary() -> Path:
    """The server binary; skip (fail under CI=true) with the install hint when missing."""
    try:
        return deps.toxiproxy_server()
    except MissingDependency as e:
        msg = f"toxiproxy-server is needed for these tests: {e}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_toxiproxy(timeout_s: float = 10.0) -> Iterator[str]:
    """Start toxiproxy-server on a free 127.0.0.1 port; yield its API URL; kill it after."""
    binary = toxiproxy_binary()
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [str(binary), "-host", HOST, "-port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # a killed test run leaves no server behind
        )
        url = f"http://{HOST}:{port}"
        try:
            with Toxiproxy(url, timeout_s=1.0) as probe:
                deadline = time.monotonic() + timeout_s
                while True:
                    try:
                        probe.version()
                        break
                    except ProxyError as e:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            log.seek(0)
                            tail = log.read()[-2000:].decode(errors="replace")
                            pytest.fail(f"toxiproxy-server did not come up: {e}\n{tail}")
                        time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


class EchoServer:
    """A TCP echo server on 127.0.0.1 that records what it received and can push data."""

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        self.received.append(data)
                    conn.sendall(data)
                except OSError:
                    return

    def got(self) -> bytes:
        with self.lock:
            return b"".join(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def push(self, data: bytes) -> None:
        """Send ``data`` to every connection still open (server-initiated traffic)."""
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.sendall(data)

    def close(self) -> None:
        self._closing = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.close()


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    """Connect through a proxy and prove the path works with one echo."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    assert roundtrip(s, b"hello") == b"hello"
    return s


def roundtrip(s: socket.socket, data: bytes, timeout: float = 2.0) -> bytes:
    s.settimeout(timeout)
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def silent_for(s: socket.socket, seconds: float) -> bool:
    """True if the socket stays open and delivers nothing for ``seconds``."""
    s.settimeout(seconds)
    try:
        s.recv(65536)
    except TimeoutError:
        return True
    except OSError:
        return False
    return False  # data arrived, or EOF


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True if the peer closes the socket (EOF or reset) within ``seconds``."""
    s.settimeout(seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if s.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def wait_for(pred: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


def clean(client: Toxiproxy) -> None:
    """Remove every proxy so each test starts from an empty server."""
    for name in client.proxies():
        client.delete_proxy(name)


def make_link(client: Toxiproxy, echo: EchoServer, name: str = LINK) -> ProxyInfo:
    return client.create_proxy(name, f"{HOST}:0", f"{HOST}:{echo.port}")
