"""A small typed client for the Toxiproxy HTTP API (server v2.12.0).

Why not toxiproxy-python: its last release is from 2019, it keeps process-global state, sets
no request timeouts and swallows HTTP errors. We need per-run clients (pytest-xdist runs
several at once), timeouts below the server's own 25 s cut-off, and errors that say which
call failed and why. See docs/toxiproxy.md.

Every method raises ProxyError naming the call (method, path), the HTTP status or the
transport error, and the server's message.

Names: the server accepts any proxy or toxic name in its JSON body, but can only address it in
a URL path if the name survives percent-decoding and path cleaning. Names such as
``replica1->primary`` work unchanged (the client sends ``replica1-%3Eprimary``; checked against
v2.12.0). A name that is empty, contains ``/``, or is ``.`` or ``..`` could be created but
never read, changed or deleted again, so the client refuses it with ValueError before sending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from rpochaos.errors import ProxyError
from rpochaos.http_client import HttpClient

Stream = Literal["upstream", "downstream"]

#: every request gives up after this many seconds (the server cuts calls off at 25 s)
DEFAULT_TIMEOUT_S = 10.0

_STREAMS: frozenset[str] = frozenset({"upstream", "downstream"})


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


def check_name(what: str, name: str) -> str:
    """Return ``name`` if the server can address it in a URL path; else raise ValueError."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(
            f"{what} name {name!r} cannot be used: Toxiproxy addresses it in a URL path, so it "
            "must be non-empty, contain no '/', and not be '.' or '..'"
        )
    return name


def _seg(name: str) -> str:
    """One URL path segment, every reserved character percent-escaped ('->' -> '-%3E')."""
    return quote(name, safe="")


def _proxy_info(data: Any) -> ProxyInfo:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object for a proxy, got {type(data).__name__}")
    toxics = data.get("toxics") or []
    return ProxyInfo(
        name=str(data["name"]),
        listen=str(data["listen"]),
        upstream=str(data["upstream"]),
        enabled=bool(data["enabled"]),
        toxics=tuple(str(t["name"]) for t in toxics),
    )


def _server_message(response: httpx.Response) -> str:
    """The server's error text: the "error" field of its JSON body, else the raw body."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or "(empty body)"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return text


def _http_error(call: str, response: httpx.Response) -> ProxyError:
    return ProxyError(
        f"{call} failed: HTTP {response.status_code} {response.reason_phrase}: "
        f"{_server_message(response)}"
    )


class Toxiproxy(HttpClient):
    """Client for one Toxiproxy server. Holds an httpx.Client; close it (or use ``with``)."""

    user_agent = "rpochaos-toxiproxy-client"
    default_timeout_s = DEFAULT_TIMEOUT_S

    # -- plumbing --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        shown: str,
        path: str,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one request. ``shown`` is the path as people read it (names unescaped), used in
        error messages; ``path`` is what goes on the wire."""
        call = f"{method} {shown}"
        if self._http.is_closed:
            raise ProxyError(f"{call} failed: this client for {self.api_url} is closed")
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException as e:
            raise ProxyError(
                f"{call} failed: no answer from Toxiproxy at {self.api_url} within "
                f"{self.timeout_s:g} s ({type(e).__name__}: {e})"
            ) from e
        except httpx.HTTPError as e:
            raise ProxyError(
                f"{call} failed: cannot reach Toxiproxy at {self.api_url} ({type(e).__name__}: {e})"
            ) from e
        if response.status_code not in ok:
            raise _http_error(call, response)
        return response

    def _json(self, method: str, shown: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as e:
            raise ProxyError(
                f"{method} {shown} failed: HTTP {response.status_code} but the body is not "
                f"JSON: {response.text[:200]!r}"
            ) from e

    def _proxy_from(self, method: str, shown: str, response: httpx.Response) -> ProxyInfo:
        data = self._json(method, shown, response)
        try:
            return _proxy_info(data)
        except (KeyError, TypeError) as e:
            raise ProxyError(
                f"{method} {shown} failed: unexpected proxy JSON ({e!r}): {response.text[:200]!r}"
            ) from e

    # -- the API ---------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (GET /version). A `go install` build says "git"."""
        r = self._call("GET", "/version", "/version")
        data = self._json("GET", "/version", r)
        if not isinstance(data, dict) or "version" not in data:
            raise ProxyError(f"GET /version failed: unexpected body {r.text[:200]!r}")
        return str(data["version"])

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (POST /reset)."""
        self._call("POST", "/reset", "/reset", ok=(200, 204))

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyInfo:
        """Create a proxy (POST /proxies). ``listen`` may use port 0; the returned info has
        the port the server actually bound."""
        check_name("proxy", name)
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        r = self._call("POST", "/proxies", "/proxies", body, ok=(200, 201))
        return self._proxy_from("POST", "/proxies", r)

    def get_proxy(self, name: str) -> ProxyInfo:
        """One proxy with its toxics (GET /proxies/{name})."""
        check_name("proxy", name)
        shown = f"/proxies/{name}"
        r = self._call("GET", shown, f"/proxies/{_seg(name)}")
        return self._proxy_from("GET", shown, r)

    def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy by name (GET /proxies)."""
        r = self._call("GET", "/proxies", "/proxies")
        data = self._json("GET", "/proxies", r)
        if not isinstance(data, dict):
            raise ProxyError(f"GET /proxies failed: expected a JSON object, got {r.text[:200]!r}")
        try:
            return {str(k): _proxy_info(v) for k, v in data.items()}
        except (KeyError, TypeError) as e:
            raise ProxyError(
                f"GET /proxies failed: unexpected proxy JSON ({e!r}): {r.text[:200]!r}"
            ) from e

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy (DELETE /proxies/{name}); its open connections are closed."""
        check_name("proxy", name)
        self._call("DELETE", f"/proxies/{name}", f"/proxies/{_seg(name)}", ok=(200, 204))

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a proxy (PATCH /proxies/{name}; the older POST form of this call
        is deprecated in v2.x). Disabling closes every open connection and stops listening,
        so new connections are refused. Setting the current state again is a no-op."""
        check_name("proxy", name)
        self._call(
            "PATCH", f"/proxies/{name}", f"/proxies/{_seg(name)}", {"enabled": bool(enabled)}
        )

    def set_all_enabled(self, names: Iterable[str], enabled: bool) -> None:
        """``set_enabled`` for each of ``names`` in turn; the first failure stops there."""
        for name in names:
            self.set_enabled(name, enabled)

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type_: str,
        stream: Stream,
        attributes: dict[str, int | float],
        toxicity: float = 1.0,
    ) -> None:
        """Add a toxic (POST /proxies/{proxy}/toxics). It applies to open connections too.
        Attributes are sent as given; most Toxiproxy attributes are integers (ms, KB/s) and the
        server rejects a fractional value with HTTP 400."""
        check_name("proxy", proxy)
        check_name("toxic", name)
        if stream not in _STREAMS:
            raise ValueError(f"stream must be 'upstream' or 'downstream', got {stream!r}")
        if not 0.0 <= toxicity <= 1.0:
            raise ValueError(f"toxicity must be between 0.0 and 1.0, got {toxicity!r}")
        body = {
            "name": name,
            "type": type_,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        self._call(
            "POST",
            f"/proxies/{proxy}/toxics",
            f"/proxies/{_seg(proxy)}/toxics",
            body,
            ok=(200, 201),
        )

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; a toxic that is already gone is not an error.

        A proxy that is gone still is an error (ProxyError): it means the topology itself
        was torn down, which the caller should hear about."""
        check_name("proxy", proxy)
        check_name("toxic", name)
        shown = f"/proxies/{proxy}/toxics/{name}"
        r = self._call(
            "DELETE", shown, f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}", ok=(200, 204, 404)
        )
        # 404 means either "toxic not found" (fine) or "proxy not found" (not fine)
        if r.status_code == 404 and _server_message(r) != "toxic not found":
            raise _http_error(f"DELETE {shown}", r)
