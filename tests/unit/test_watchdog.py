"""The watchdog's contract with fake checks: what it notices, when, what it records, what it
suppresses (the real-process tests are in tests/integration/test_watchdog.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rpochaos.watchdog import Check, Watchdog, checks_for, node_checks


class Events:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, **event: object) -> None:
        with self.lock:
            self.items.append(dict(event))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e["type"] == kind]


class Flag:
    def __init__(self) -> None:
        self.up = True

    def alive(self) -> bool:
        return self.up


def test_a_death_is_noticed_within_half_a_second_recorded_and_sets_stop() -> None:
    ev, proxy, t0 = Events(), Flag(), time.monotonic()
    seen: list[Any] = []
    with Watchdog(
        [Check("toxiproxy", proxy.alive, lambda: "exit -9")],
        now=lambda: time.monotonic() - t0,
        record=ev,
        on_lost=seen.append,
    ) as dog:
        time.sleep(0.3)
        assert dog.lost is None and not dog.stop.is_set()
        killed = time.monotonic() - t0
        proxy.up = False
        assert dog.stop.wait(0.5), "not noticed within 0.5 s"
    assert dog.lost is not None and dog.lost.what == "toxiproxy"
    assert 0 <= dog.lost.t - killed <= 0.5
    (lost,) = ev.of("dependency_lost")
    assert lost == {
        "type": "dependency_lost",
        "t": dog.lost.t,
        "what": "toxiproxy",
        "detail": "exit -9",
    }
    (err,) = ev.of("error")
    assert "toxiproxy died unexpectedly at t=" in err["message"] and "exit -9" in err["message"]
    assert seen == [dog.lost]


def test_expected_down_is_not_a_loss_and_back_up_is_watched_again() -> None:
    ev, node = Events(), Flag()
    with Watchdog([Check("node primary", node.alive)], now=lambda: 1.0, record=ev) as dog:
        dog.expect_down("node primary")
        node.up = False
        time.sleep(0.5)
        assert dog.lost is None
        node.up = True
        dog.expect_up("node primary")
        with dog.expecting_down("node primary"):
            node.up = False
            time.sleep(0.3)
            node.up = True
        assert dog.lost is None
        node.up = False
        assert dog.stop.wait(0.5)
    assert dog.lost is not None and dog.lost.what == "node primary"


def test_a_check_that_raises_is_a_loss_and_only_the_first_loss_counts() -> None:
    ev = Events()

    def engine() -> bool:
        raise ConnectionError("socket gone")

    with Watchdog(
        [Check("engine", engine), Check("toxiproxy", lambda: False)], now=lambda: 2.0, record=ev
    ) as dog:
        assert dog.stop.wait(0.5)
        time.sleep(0.3)
    assert [e["what"] for e in ev.of("dependency_lost")] == ["engine"]
    assert "ConnectionError: socket gone" in ev.of("dependency_lost")[0]["detail"]


def test_an_exception_from_a_dead_dependency_is_recorded_and_suppressed() -> None:
    ev, proxy = Events(), Flag()
    # an interval so long that only the exit check can notice
    with Watchdog(
        [Check("toxiproxy", proxy.alive)], now=lambda: 3.0, record=ev, interval_s=60
    ) as dog:
        proxy.up = False
        raise OSError("connection refused")
    assert dog.lost is not None and dog.lost.what == "toxiproxy"
    assert any(
        "after toxiproxy died: OSError: connection refused" in e["message"] for e in ev.of("error")
    )


def test_an_exception_with_everything_alive_and_interrupts_propagate() -> None:
    ev = Events()
    with (
        pytest.raises(ValueError),
        Watchdog([Check("toxiproxy", lambda: True)], now=lambda: 0.0, record=ev),
    ):
        raise ValueError("a bug")
    with (
        pytest.raises(KeyboardInterrupt),
        Watchdog([Check("x", lambda: False)], now=lambda: 0.0, record=ev) as dog,
    ):
        assert dog.stop.wait(0.5)
        raise KeyboardInterrupt
    assert not ev.of("error")[1:]  # only the loss itself, no suppressed-exception line


def test_checks_are_asked_again_on_every_pass() -> None:
    class Node:
        def __init__(self) -> None:
            self.up = True

        def running(self) -> bool:
            return self.up

    class Cluster:
        def __init__(self) -> None:
            self.nodes = {"primary": Node(), "replica1": Node()}

    class Backend:
        def liveness(self) -> list[Check]:
            return [Check("toxiproxy", lambda: True)]

    cluster = Cluster()
    assert [c.what for c in checks_for(Backend(), cluster)] == [
        "toxiproxy",
        "node primary",
        "node replica1",
    ]
    assert [c.what for c in checks_for(object(), None)] == []
    ev = Events()
    with Watchdog(lambda: node_checks(cluster), now=lambda: 0.0, record=ev) as dog:
        cluster.nodes["primary"] = Node()  # replaced (a restore): the new one is watched
        cluster.nodes["primary"].up = False
        assert dog.stop.wait(0.5)
    assert dog.lost is not None and dog.lost.what == "node primary"


def test_an_exception_before_the_death_is_visible_waits_the_grace_period() -> None:
    """On docker the engine reports a killed container a little after the first API call to
    it failed: the exit check keeps looking for ``grace_s``."""
    ev, proxy = Events(), Flag()
    timer = threading.Timer(0.3, lambda: setattr(proxy, "up", False))
    with Watchdog(
        [Check("toxiproxy", proxy.alive)], now=lambda: 4.0, record=ev, interval_s=60, grace_s=1.0
    ) as dog:
        timer.start()
        raise OSError("server disconnected")
    assert dog.lost is not None and dog.lost.what == "toxiproxy"
