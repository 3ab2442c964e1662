"""Waiting for a topology to reach a state: one bounded polling loop for every topology."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rpochaos.errors import TopologyError

T = TypeVar("T")


def wait_until(
    what: str,
    timeout_s: float,
    probe: Callable[[], T | None],
    log: Callable[[], str],
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
    interval_s: float = 0.1,
) -> T:
    """Call ``probe`` every ``interval_s`` until it returns a truthy value and return that.
    ``OSError`` and the exceptions in ``retry_on`` count as "not yet"; anything else
    propagates. On timeout: TopologyError saying ``what``, the last error, and ``log()``."""
    extra = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    catch: tuple[type[BaseException], ...] = (OSError, *extra)
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            got = probe()
            if got:
                return got
        except catch as e:
            last = e
        time.sleep(interval_s)
    detail = f" (last error: {type(last).__name__}: {last})" if last else ""
    raise TopologyError(f"{what} within {timeout_s:g} s{detail}\n--- log tail ---\n{log()}")
