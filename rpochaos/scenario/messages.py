"""How problems are worded: what was given (as written in the file), what was expected, and
'did you mean' for a near miss.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

_DURATION = "a duration like '250ms', '5s' or '2m'"
_OFFSET = "a signed duration like '30s', '+30s' or '-2m'"
_POSITIVE_DURATION = "a duration > 0 like '250ms', '5s' or '2m'"
_RATE = "a rate > 0 like '500/s' or '60/m'"
_BANDWIDTH = "a bandwidth > 0 like '64KB/s', '64kB/s' or '1MB/s'"
_SIZE = "a size like '16MB', '512kB' or '0B' (whole bytes; 1kB = 1024 B)"
_BETWEEN = "{between: [LOW, HIGH]}"
_MISSING = "nothing"


def _one_of(options: Sequence[str]) -> str:
    return "one of " + ", ".join(options)


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
