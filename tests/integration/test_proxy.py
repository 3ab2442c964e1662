"""The Toxiproxy client against a real toxiproxy-server (v2.12.0) on 127.0.0.1.

The helpers (server process, echo upstream, socket probes) live in
tests/integration/helpers.py. Without the server binary the tests skip with the install
command, except under CI=true, where a missing binary fails the run.
"""

from __future__ import annotations

import socket
import time

import pytest

from rpochaos.errors import ProxyError
from rpochaos.proxy import Toxiproxy
from tests.integration.helpers import (
    HOST,
    LINK,
    EchoServer,
    connect,
    free_port,
    make_link,
    roundtrip,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

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
