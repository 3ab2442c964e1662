"""Network faults on one link, made with Toxiproxy.

A link ``a->b`` is one Toxiproxy proxy: ``a`` connects to the proxy's listen port, the proxy
connects on to ``b``. In Toxiproxy's words the **upstream** stream carries the bytes ``a``
sends to ``b``, and the **downstream** stream carries what ``b`` sends back. For the
replication link ``replica1->primary`` the replica is the client, so the WAL stream flows
*downstream* and the replica's feedback (and its START_REPLICATION command) flows *upstream*.
For ``client->primary``, queries go upstream and results come back downstream.

Behaviour below was measured against toxiproxy-server v2.12.0 (see
tests/integration/test_network_faults.py and docs/toxiproxy.md):

- a ``timeout`` toxic with ``timeout=0`` drops every byte on its stream and never closes the
  connection; new connections are still accepted (TCP handshake completes) but are dead too;
- removing that toxic **closes** every connection that was open through it (both ends see
  EOF at once); bytes sent during the blackhole are lost, not delivered late; new connections
  work normally after;
- disabling a proxy closes its open connections (EOF, not RST) and closes its listener, so new
  connections are refused (ECONNREFUSED); enabling it listens again on the same port;
- removing a ``latency`` or ``bandwidth`` toxic keeps open connections open.

Toxic names are unique per fault instance (``rpochaos-<kind>-<id>-<stream>``), so two faults
on one link never collide. Healing is idempotent, and tolerates toxics that are already gone
(for instance after ``Toxiproxy.reset``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

from rpochaos.errors import ProxyError
from rpochaos.faults.base import Fault
from rpochaos.proxy import Stream, Toxiproxy, check_name

#: accepted values of ``direction``
DIRECTIONS: tuple[str, ...] = ("both", "upstream", "downstream")
#: accepted values of Partition ``mode``
PARTITION_MODES: tuple[str, ...] = ("blackhole", "reset")

_ids = itertools.count(1)


def _streams(direction: str) -> tuple[Stream, ...]:
    if direction == "both":
        return ("upstream", "downstream")
    if direction == "upstream":
        return ("upstream",)
    if direction == "downstream":
        return ("downstream",)
    raise ValueError(
        f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r} "
        "(upstream = what the link's source sends, downstream = what comes back)"
    )


def _ms(what: str, seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {seconds!r}")
    return round(seconds * 1000)


class _ToxicFault(Fault):
    """A fault made of one toxic per affected stream, all with the same type and attributes."""

    toxic_type: str = ""

    def __init__(self, client: Toxiproxy, link: str, direction: str) -> None:
        super().__init__(check_name("proxy", link))
        self.client = client
        self.link = link
        self.direction = direction
        self.streams = _streams(direction)
        # pid too: faults built in different processes (xdist) against one server stay apart
        uid = f"{os.getpid()}-{next(_ids)}"
        self.toxic_names: dict[Stream, str] = {
            s: f"rpochaos-{self.kind}-{uid}-{s}" for s in self.streams
        }

    def _attributes(self) -> dict[str, int | float]:
        raise NotImplementedError

    def _inject(self) -> None:
        added: list[str] = []
        try:
            for stream, name in self.toxic_names.items():
                self.client.add_toxic(self.link, name, self.toxic_type, stream, self._attributes())
                added.append(name)
        except BaseException:
            # half a fault must not outlive a failed inject (heal is not called then)
            _remove_all(self.client, self.link, added)
            raise

    def _heal(self) -> None:
        _remove_all(self.client, self.link, list(self.toxic_names.values()), strict=True)


def _remove_all(client: Toxiproxy, link: str, names: Sequence[str], strict: bool = False) -> None:
    """Remove every toxic in ``names``, trying all of them even if one fails; with ``strict``
    re-raise the first failure afterwards."""
    first: ProxyError | None = None
    for name in names:
        try:
            client.remove_toxic(link, name)
        except ProxyError as e:
            first = first or e
    if strict and first is not None:
        raise first


class Partition(_ToxicFault):
    """Cut a link.

    ``mode="blackhole"``: connections stay open and nothing flows. A ``timeout`` toxic with
    ``timeout=0`` on each chosen stream (``direction`` both | upstream | downstream; default
    both) silently drops the bytes. The peers see no error, only silence, until their own
    timeouts fire (TCP keepalive, ``wal_sender_timeout``, ``wal_receiver_timeout``). New
    connections are accepted but equally dead. One-way: with ``direction="upstream"`` the
    target still sends to the source but hears nothing from it; ``"downstream"`` the reverse.

    Heal removes the toxics. Measured on v2.12.0: this **closes** every connection that was
    open through the toxic (both ends get EOF immediately); nothing sent during the blackhole
    is delivered. The peers must reconnect; new connections work at once.

    ``mode="reset"``: connections are torn down and new ones refused. The proxy is disabled:
    open connections are closed (EOF) and its listener is closed, so a new connect gets
    ECONNREFUSED. ``direction`` must be "both". Heal re-enables the proxy (same port).
    """

    kind = "partition"
    toxic_type = "timeout"

    def __init__(
        self,
        client: Toxiproxy,
        link: str,
        mode: str = "blackhole",
        direction: str = "both",
    ) -> None:
        if mode not in PARTITION_MODES:
            raise ValueError(
                f"partition mode must be 'blackhole' (connections stay open, nothing flows) or "
                f"'reset' (connections closed, new ones refused); got {mode!r}"
            )
        if mode == "reset" and direction != "both":
            raise ValueError(
                f"partition mode 'reset' disables the whole proxy, so direction must be 'both'; "
                f"got {direction!r} (use mode 'blackhole' for a one-way partition)"
            )
        super().__init__(client, link, direction)
        self.mode = mode
        if mode == "reset":
            self.toxic_names = {}

    def _attributes(self) -> dict[str, int | float]:
        return {"timeout": 0}

    def _inject(self) -> None:
        if self.mode == "reset":
            self.client.set_enabled(self.link, False)
        else:
            super()._inject()

    def _heal(self) -> None:
        if self.mode == "reset":
            self.client.set_enabled(self.link, True)
        else:
            super()._heal()

    def describe(self) -> str:
        return f"{self.kind} {self.target} ({self.mode}, {self.direction})"


class Latency(_ToxicFault):
    """Delay every chunk on a link by ``delay_s`` ± ``jitter_s`` (a ``latency`` toxic, ms).

    ``direction`` defaults to "downstream": on a replication link ``replicaN->primary`` that
    delays the WAL stream the primary sends to the replica (the replica is the client). With
    "both" a request/reply round trip takes at least twice the delay. Jitter is uniform in
    [delay - jitter, delay + jitter); a negative result means no delay for that chunk.
    Healing removes the toxic; open connections stay open and chunks already held are
    delivered, not dropped.
    """

    kind = "latency"
    toxic_type = "latency"

    def __init__(
        self,
        client: Toxiproxy,
        link: str,
        delay_s: float,
        jitter_s: float = 0.0,
        direction: str = "downstream",
    ) -> None:
        self.delay_ms = _ms("delay_s", delay_s)
        self.jitter_ms = _ms("jitter_s", jitter_s)
        if self.delay_ms < 1:
            raise ValueError(
                f"delay_s is in seconds and must be at least 0.001 (1 ms); got {delay_s!r}"
            )
        super().__init__(client, link, direction)

    def _attributes(self) -> dict[str, int | float]:
        return {"latency": self.delay_ms, "jitter": self.jitter_ms}

    def describe(self) -> str:
        jitter = f" ±{self.jitter_ms}ms" if self.jitter_ms else ""
        return f"{self.kind} {self.target} ({self.delay_ms}ms{jitter}, {self.direction})"


class Bandwidth(_ToxicFault):
    """Limit a link to ``rate_kbps`` KB/s (a ``bandwidth`` toxic; 1 KB = 1000 bytes).

    ``rate_kbps`` must be a whole number >= 1: Toxiproxy takes an integer, and rate 0 means
    "unlimited" in some releases and "nothing passes" in others (v2.12.0 blocks), so 0 is
    refused; use ``Partition`` to stop traffic. ``direction`` defaults to "downstream" (the
    WAL stream on a replication link), like ``Latency``. Healing removes the toxic; open
    connections stay open.
    """

    kind = "bandwidth"
    toxic_type = "bandwidth"

    def __init__(
        self,
        client: Toxiproxy,
        link: str,
        rate_kbps: int | float,
        direction: str = "downstream",
    ) -> None:
        if (
            isinstance(rate_kbps, bool)
            or not isinstance(rate_kbps, int | float)
            or not math.isfinite(rate_kbps)
            or rate_kbps != int(rate_kbps)
            or rate_kbps < 1
        ):
            raise ValueError(
                f"rate_kbps must be a whole number of KB/s >= 1, got {rate_kbps!r} "
                "(0 is ambiguous across Toxiproxy versions; use a partition to stop traffic)"
            )
        self.rate_kbps = int(rate_kbps)
        super().__init__(client, link, direction)

    def _attributes(self) -> dict[str, int | float]:
        return {"rate": self.rate_kbps}

    def describe(self) -> str:
        return f"{self.kind} {self.target} ({self.rate_kbps}KB/s, {self.direction})"
