"""A small typed client for the Toxiproxy HTTP API (server v2.12.0).

Why not toxiproxy-python: its last release is from 2019, it keeps process-global state, sets
no request timeouts and swallows HTTP errors. We need per-run clients (pytest-xdist runs
several at once), timeouts below the server's own 25 s cut-off, and errors that say which
call failed and why. See docs/toxiproxy.md.

Every method raises ProxyError naming the call (method, path), the HTTP status or the
transport error, and the server's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stream = Literal["upstream", "downstream"]

#: every request gives up after this many seconds (the server cuts calls off at 25 s)
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str  # "127.0.0.1:PORT"
    upstream: str  # "HOST:PORT"
    enabled: bool
    toxics: tuple[str, ...]  # toxic names

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class Toxiproxy:
    """Client for one Toxiproxy server. Holds an httpx.Client; close it (or use ``with``)."""

    def __init__(self, api_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        raise NotImplementedError

    def version(self) -> str: ...
    def reset(self) -> None:
        """Enable every proxy and remove every toxic (POST /reset)."""
    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> ProxyInfo: ...
    def get_proxy(self, name: str) -> ProxyInfo: ...
    def proxies(self) -> dict[str, ProxyInfo]: ...
    def delete_proxy(self, name: str) -> None: ...
    def set_enabled(self, name: str, enabled: bool) -> None: ...
    def add_toxic(
        self,
        proxy: str,
        name: str,
        type_: str,
        stream: Stream,
        attributes: dict[str, int | float],
        toxicity: float = 1.0,
    ) -> None: ...
    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; a toxic that is already gone is not an error."""
    def close(self) -> None: ...
