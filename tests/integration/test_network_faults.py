"""Network faults against a real toxiproxy-server (v2.12.0) and a local echo upstream.

Each test puts one link ``replica1->primary`` (proxy -> echo server) in place and checks what a
peer observes while the fault is active and after it is healed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import pytest

from rpochaos.errors import ProxyError
from rpochaos.faults.base import Fault
from rpochaos.faults.network import Bandwidth, Latency, Partition
from rpochaos.proxy import ProxyInfo, Toxiproxy
from tests.integration.helpers import (
    HOST,
    LINK,
    EchoServer,
    closed_within,
    connect,
    make_link,
    roundtrip,
    silent_for,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

QUIET_S = 0.5  # "no reply within 0.5 s"


@pytest.fixture
def link(client: Toxiproxy, echo: EchoServer) -> ProxyInfo:
    echo.clear()
    return make_link(client, echo)


def rtt(s: socket.socket, data: bytes = b"x") -> float:
    t0 = time.monotonic()
    assert roundtrip(s, data, timeout=3.0) == data
    return time.monotonic() - t0


# -- partition: blackhole ----------------------------------------------------------------------


def test_blackhole_both_ways(
    api_url: str, client: Toxiproxy, echo: EchoServer, link: ProxyInfo
) -> None:
    with connect(link.listen_port) as s:
        echo.clear()
        fault = Partition(client, LINK, mode="blackhole", direction="both")
        with fault:
            assert set(client.get_proxy(LINK).toxics) == set(fault.toxic_names.values())
            # timeout=0 is what keeps connections open forever (any other value closes them)
            toxics = httpx.get(f"{api_url}/proxies/replica1-%3Eprimary/toxics", timeout=2).json()
            assert sorted((t["type"], t["stream"], t["attributes"]) for t in toxics) == [
                ("timeout", "downstream", {"timeout": 0}),
                ("timeout", "upstream", {"timeout": 0}),
            ]
            s.sendall(b"ping")
            assert silent_for(s, QUIET_S), "connection must stay open with nothing arriving"
            assert echo.got() == b"", "nothing may reach the upstream"
            # a new connection is accepted but just as dead
            opened_during = socket.create_connection((HOST, link.listen_port), timeout=1)
            opened_during.sendall(b"new")
            assert silent_for(opened_during, 0.2)
        # measured on v2.12.0 (see Partition and docs/toxiproxy.md): removing the toxic closes
        # every connection that was open through it; nothing sent meanwhile is delivered
        assert client.get_proxy(LINK).toxics == ()
        assert closed_within(s, 1.0), "healing a blackhole closes the open connections"
        assert closed_within(opened_during, 1.0)
        opened_during.close()
        assert b"ping" not in echo.got(), "bytes sent into the blackhole are lost"
    with connect(link.listen_port) as s3:
        assert roundtrip(s3, b"after heal") == b"after heal"


def test_blackhole_upstream_only(client: Toxiproxy, echo: EchoServer, link: ProxyInfo) -> None:
    with connect(link.listen_port) as s:
        echo.clear()
        with Partition(client, LINK, mode="blackhole", direction="upstream") as fault:
            assert list(fault.toxic_names) == ["upstream"]
            s.sendall(b"to-primary")
            assert silent_for(s, QUIET_S)
            assert echo.got() == b"", "the source's bytes must not reach the target"
            echo.push(b"from-primary")  # the other way still flows
            s.settimeout(2)
            assert s.recv(100) == b"from-primary"
        assert closed_within(s, 1.0)
    with connect(link.listen_port):
        pass


def test_blackhole_downstream_only(client: Toxiproxy, echo: EchoServer, link: ProxyInfo) -> None:
    with connect(link.listen_port) as s:
        echo.clear()
        with Partition(client, LINK, mode="blackhole", direction="downstream"):
            s.sendall(b"to-primary")
            assert wait_for(lambda: echo.got() == b"to-primary"), "upstream still flows"
            assert silent_for(s, QUIET_S), "but the echo never comes back"
        assert closed_within(s, 1.0)
    with connect(link.listen_port):
        pass


# -- partition: reset --------------------------------------------------------------------------


def test_reset_partition(client: Toxiproxy, echo: EchoServer, link: ProxyInfo) -> None:
    with connect(link.listen_port) as s, Partition(client, LINK, mode="reset"):
        assert client.get_proxy(LINK).enabled is False
        assert closed_within(s, 1.0), "open connections are torn down"
        t0 = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, link.listen_port), timeout=1).close()
        assert time.monotonic() - t0 < 0.5, "refused at once, not timed out"
    assert client.get_proxy(LINK).enabled is True
    with connect(link.listen_port) as s2:  # same port as before
        assert roundtrip(s2, b"back") == b"back"


# -- latency and bandwidth ---------------------------------------------------------------------


def test_latency_downstream(client: Toxiproxy, link: ProxyInfo) -> None:
    with connect(link.listen_port) as s:
        assert rtt(s) < 0.1
        with Latency(client, LINK, delay_s=0.2) as fault:
            assert fault.streams == ("downstream",)
            for _ in range(2):
                assert rtt(s) >= 0.2
        # healing latency keeps the connection open
        assert rtt(s) < 0.1


def test_latency_both_directions(client: Toxiproxy, link: ProxyInfo) -> None:
    with connect(link.listen_port) as s, Latency(client, LINK, 0.15, direction="both"):
        assert rtt(s) >= 0.3


def test_bandwidth(client: Toxiproxy, link: ProxyInfo) -> None:
    rate_kbps = 100  # KB/s, 1 KB = 1000 bytes
    size = 60_000  # 60 KB -> 0.6 s at 100 KB/s
    expected = size / (rate_kbps * 1000)
    with connect(link.listen_port) as s:
        with Bandwidth(client, LINK, rate_kbps=rate_kbps):
            took = rtt(s, b"a" * size)
            assert expected * 0.8 <= took <= expected * 2 + 0.3, took
        assert rtt(s, b"b" * size) < expected / 2


# -- heal, names, failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda c: Partition(c, LINK, mode="blackhole"),
        lambda c: Partition(c, LINK, mode="reset"),
        lambda c: Latency(c, LINK, 0.05, direction="both"),
        lambda c: Bandwidth(c, LINK, 10),
    ],
    ids=["blackhole", "reset", "latency", "bandwidth"],
)
def test_heal_is_idempotent(
    client: Toxiproxy, link: ProxyInfo, make: Callable[[Toxiproxy], Fault]
) -> None:
    fault = make(client)
    fault.heal()  # never injected: no-op
    fault.inject()
    fault.inject()  # already active: no-op (no duplicate toxic error)
    fault.heal()
    fault.heal()
    fault.inject()
    client.reset()  # toxics vanish, proxy re-enabled behind the fault's back
    fault.heal()  # still fine
    info = client.get_proxy(LINK)
    assert info.toxics == () and info.enabled
    with connect(link.listen_port):
        pass


def test_heal_tolerates_toxic_removed_by_hand(client: Toxiproxy, link: ProxyInfo) -> None:
    fault = Partition(client, LINK, direction="both")
    fault.inject()
    client.remove_toxic(LINK, fault.toxic_names["upstream"])
    fault.heal()
    assert client.get_proxy(LINK).toxics == ()


def test_two_faults_on_one_link_do_not_collide(client: Toxiproxy, link: ProxyInfo) -> None:
    a = Latency(client, LINK, 0.01)
    b = Latency(client, LINK, 0.02)
    c = Partition(client, LINK, direction="downstream")
    names = [*a.toxic_names.values(), *b.toxic_names.values(), *c.toxic_names.values()]
    assert len(set(names)) == 3
    with a, b:
        assert set(client.get_proxy(LINK).toxics) == {
            *a.toxic_names.values(),
            *b.toxic_names.values(),
        }
        b.heal()
        assert client.get_proxy(LINK).toxics == tuple(a.toxic_names.values())
    assert client.get_proxy(LINK).toxics == ()


def test_failed_inject_leaves_nothing_behind(client: Toxiproxy, link: ProxyInfo) -> None:
    fault = Partition(client, LINK, direction="both")
    # occupy the name of the second toxic so the second add fails after the first succeeded
    blocker = fault.toxic_names["downstream"]
    client.add_toxic(LINK, blocker, "latency", "downstream", {"latency": 1})
    with pytest.raises(ProxyError, match="toxic already exists"):
        fault.inject()
    assert fault.active is False
    assert client.get_proxy(LINK).toxics == (blocker,)


def test_fault_on_missing_link_names_the_call(client: Toxiproxy) -> None:
    with pytest.raises(ProxyError) as e:
        Latency(client, "replica9->primary", 0.1).inject()
    msg = str(e.value)
    assert "POST /proxies/replica9->primary/toxics" in msg and "proxy not found" in msg
    with pytest.raises(ProxyError, match=r"PATCH /proxies/replica9->primary .*404"):
        Partition(client, "replica9->primary", mode="reset").inject()


def test_kinds_and_descriptions(client: Toxiproxy) -> None:
    assert Partition.kind == "partition"
    assert Latency.kind == "latency"
    assert Bandwidth.kind == "bandwidth"
    assert Partition(client, LINK, "reset").describe() == f"partition {LINK} (reset, both)"
    assert (
        Latency(client, LINK, 0.2, 0.01).describe() == f"latency {LINK} (200ms ±10ms, downstream)"
    )
    assert Bandwidth(client, LINK, 64.0).describe() == f"bandwidth {LINK} (64KB/s, downstream)"
    assert Partition(client, LINK).target == LINK


@pytest.mark.parametrize(
    "build",
    [
        lambda c: Bandwidth(c, LINK, 0),
        lambda c: Bandwidth(c, LINK, 1.5),
        lambda c: Bandwidth(c, LINK, -3),
        lambda c: Bandwidth(c, LINK, True),
        lambda c: Latency(c, LINK, 0),
        lambda c: Latency(c, LINK, 0.1, jitter_s=-0.01),
        lambda c: Latency(c, LINK, float("nan")),
        lambda c: Partition(c, LINK, mode="drop"),
        lambda c: Partition(c, LINK, mode="reset", direction="upstream"),
        lambda c: Partition(c, LINK, direction="sideways"),
        lambda c: Partition(c, "a/b"),
    ],
)
def test_bad_parameters_are_refused(build: Callable[[Toxiproxy], Fault]) -> None:
    with Toxiproxy(f"http://{HOST}:9") as c, pytest.raises(ValueError):  # never contacted
        build(c)
