"""The common ground of the harness's small HTTP API clients (Toxiproxy, Patroni).

``HttpClient`` holds one ``httpx.Client`` for a server at ``api_url``: every request gives up
after ``timeout_s`` seconds (a positive, finite number, else ValueError; the subclass's
``default_timeout_s`` when not given), asks for JSON, names the client in its User-Agent (the
subclass's ``user_agent``), and never goes through a proxy from the environment (the
servers are local; a proxy in between would only add its own failures). ``close`` is
idempotent; the client is a context manager (see ``rpochaos.closing.Closing``). Sending and
reading answers, with the errors that name the call, are each subclass's own.
"""

from __future__ import annotations

import math
from typing import ClassVar

import httpx

from rpochaos.closing import Closing


class HttpClient(Closing):
    """One connection pool to ``api_url`` (trailing ``/`` dropped); see the module doc."""

    user_agent: ClassVar[str]
    default_timeout_s: ClassVar[float]

    def __init__(self, api_url: str, timeout_s: float | None = None) -> None:
        if timeout_s is None:
            timeout_s = self.default_timeout_s
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api_url!r}, timeout_s={self.timeout_s})"

    def close(self) -> None:
        """Close the HTTP connection pool. Safe to call more than once."""
        self._http.close()
