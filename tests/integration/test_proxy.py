"""The Toxiproxy client against a real toxiproxy-server (v2.12.0) on 127.0.0.1.

The helpers at the top (server process, echo upstream, socket probes) are shared with
test_network_faults.py. Without the server binary the tests skip with the install command,
except under CI=true, where a missing binary fails the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rpochaos import deps
from rpochaos.errors import MissingDependency, ProxyError
from rpochaos.proxy import ProxyInfo, Toxiproxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

HOST = "127.0.0.1"
LINK = "replica1->primary"


# -- helpers (also used by test_network_faults.py) -------------------------------------------


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


# -- fixtures ----------------------------------------------------------------------------------


def make_link(client: Toxiproxy, echo: EchoServer, name: str = LINK) -> ProxyInfo:
    return client.create_proxy(name, f"{HOST}:0", f"{HOST}:{echo.port}")


# -- tests -------------------------------------------------------------------------------------


def test_version(client: Toxiproxy) -> None:
    v = client.version()
    assert isinstance(v, str) and v  # a `go install` build reports "git"


def test_create_list_get_delete(client: Toxiproxy, echo: EchoServer) -> None:
    info = make_link(client, echo)
    assert info.name == LINK
    assert info.enabled is True
    assert info.toxics == ()
    assert info.upstream == f"{HOST}:{echo.port}"
    assert info.listen_port > 0  # asked for port 0, got the real one back

    assert set(client.proxies()) == {LINK}
    assert client.proxies()[LINK] == info
    assert client.get_proxy(LINK) == info

    with connect(info.listen_port) as s:
        assert roundtrip(s, b"through the proxy") == b"through the proxy"

    client.delete_proxy(LINK)
    assert client.proxies() == {}
    with pytest.raises(ProxyError) as e:
        client.get_proxy(LINK)
    msg = str(e.value)
    assert "GET /proxies/replica1->primary" in msg
    assert "404" in msg and "proxy not found" in msg
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, info.listen_port), timeout=1).close()


def test_duplicate_proxy_error_names_the_call(client: Toxiproxy, echo: EchoServer) -> None:
    make_link(client, echo)
    with pytest.raises(ProxyError) as e:
        make_link(client, echo)
    msg = str(e.value)
    assert msg.startswith("POST /proxies failed")
    assert "409" in msg and "proxy already exists" in msg


def test_toxics_add_remove_and_errors(client: Toxiproxy, echo: EchoServer) -> None:
    make_link(client, echo)
    client.add_toxic(LINK, "slow", "latency", "downstream", {"latency": 10})
    assert client.get_proxy(LINK).toxics == ("slow",)

    with pytest.raises(ProxyError) as e:
        client.add_toxic(LINK, "slow", "latency", "downstream", {"latency": 10})
    msg = str(e.value)
    assert "POST /proxies/replica1->primary/toxics" in msg
    assert "409" in msg and "toxic already exists" in msg

    with pytest.raises(ProxyError, match=r"400.*invalid toxic type"):
        client.add_toxic(LINK, "bad", "no-such-toxic", "upstream", {})
    with pytest.raises(ProxyError, match=r"400.*cannot unmarshal number 1\.5"):
        client.add_toxic(LINK, "frac", "latency", "upstream", {"latency": 1.5})
    with pytest.raises(ValueError, match="stream"):
        client.add_toxic(LINK, "x", "latency", "sideways", {})  # type: ignore[arg-type]

    client.remove_toxic(LINK, "slow")
    assert client.get_proxy(LINK).toxics == ()
    client.remove_toxic(LINK, "slow")  # already gone: not an error

    with pytest.raises(ProxyError) as e:
        client.remove_toxic("nope", "slow")  # the proxy itself is gone: an error
    msg = str(e.value)
    assert "DELETE /proxies/nope/toxics/slow" in msg and "proxy not found" in msg


def test_set_enabled_and_reset(client: Toxiproxy, echo: EchoServer) -> None:
    make_link(client, echo)
    client.add_toxic(LINK, "slow", "latency", "upstream", {"latency": 10}, toxicity=0.5)
    client.set_enabled(LINK, False)
    client.set_enabled(LINK, False)  # same state again: fine
    assert client.get_proxy(LINK).enabled is False
    client.reset()
    info = client.get_proxy(LINK)
    assert info.enabled is True and info.toxics == ()
    with pytest.raises(ProxyError, match=r"PATCH /proxies/nope .*404.*proxy not found"):
        client.set_enabled("nope", True)


@pytest.mark.parametrize("name", ["sp ace", "q?x#y", "pct%41", "a+b=c&d", "é->ü", "r1->p.x:y"])
def test_names_needing_escapes_round_trip(client: Toxiproxy, echo: EchoServer, name: str) -> None:
    info = make_link(client, echo, name)
    assert info.name == name
    assert client.get_proxy(name).name == name
    client.add_toxic(name, name, "latency", "downstream", {"latency": 1})
    assert client.get_proxy(name).toxics == (name,)
    client.remove_toxic(name, name)
    client.set_enabled(name, False)
    client.delete_proxy(name)
    assert name not in client.proxies()


@pytest.mark.parametrize("name", ["", "a/b", ".", ".."])
def test_unaddressable_names_are_refused_before_sending(name: str) -> None:
    # nothing listens on port 9; a ValueError (not ProxyError) proves no request was made
    with Toxiproxy(f"http://{HOST}:9", timeout_s=1.0) as c:
        with pytest.raises(ValueError, match="cannot be used"):
            c.create_proxy(name, f"{HOST}:0", f"{HOST}:1")
        with pytest.raises(ValueError):
            c.remove_toxic(LINK, name)


def test_closed_port_fails_fast_naming_the_call() -> None:
    port = free_port()  # bound and released: nothing listens there now
    with Toxiproxy(f"http://{HOST}:{port}", timeout_s=5.0) as c:
        t0 = time.monotonic()
        with pytest.raises(ProxyError) as e:
            c.add_toxic(LINK, "t", "timeout", "upstream", {"timeout": 0})
        elapsed = time.monotonic() - t0
    assert elapsed < 1.0
    msg = str(e.value)
    assert "POST /proxies/replica1->primary/toxics" in msg
    assert f"{HOST}:{port}" in msg and "ConnectError" in msg


def test_unresponsive_server_times_out_naming_the_call() -> None:
    # a socket that completes the TCP handshake (kernel backlog) but never answers
    with socket.create_server((HOST, 0)) as mute:
        port = mute.getsockname()[1]
        with Toxiproxy(f"http://{HOST}:{port}", timeout_s=0.3) as c:
            t0 = time.monotonic()
            with pytest.raises(ProxyError) as e:
                c.proxies()
            elapsed = time.monotonic() - t0
    assert 0.25 < elapsed < 2.0
    msg = str(e.value)
    assert msg.startswith("GET /proxies failed") and "within 0.3 s" in msg


def test_closed_client_raises_proxy_error(api_url: str) -> None:
    with Toxiproxy(api_url) as c:
        assert c.version()
    with pytest.raises(ProxyError, match=r"GET /version failed: .*closed"):
        c.version()
    c.close()  # twice is fine


def test_invalid_timeout_refused() -> None:
    with pytest.raises(ValueError):
        Toxiproxy(f"http://{HOST}:9", timeout_s=0)
