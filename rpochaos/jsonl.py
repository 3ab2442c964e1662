"""JSON lines: the one append-only writer every ``*.jsonl`` file of a run directory goes through,
and a tolerant reader.

Contract of :class:`JsonlAppender`:

- one record = one JSON object on one line, serialised *before* the lock is taken, then written
  whole and flushed to the OS under the lock, so lines from different threads never interleave
  and a line is in the file as soon as ``append`` returns;
- crash-safe against the harness dying (a killed process loses nothing already appended; at
  worst the one line being written is cut, and readers skip a cut last line). It does not
  ``fsync``: a power cut of the machine is outside what a run directory promises;
- ``close`` is idempotent; ``append`` after ``close`` returns False (nothing written) so the
  caller decides whether that is an error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from rpochaos.closing import Closing


class JsonlAppender(Closing):
    """Append-only, thread-safe JSON-lines file; each line flushed when written.

    ``allow_nan=False`` makes a NaN or infinity in a record raise ``ValueError`` instead of
    writing the non-standard ``NaN`` token."""

    def __init__(self, path: Path, *, allow_nan: bool = True) -> None:
        self.path = Path(path)
        self._allow_nan = allow_nan
        self._lock = threading.Lock()
        self._file: TextIO | None = open(  # noqa: SIM115 - closed by close()/__exit__
            self.path, "a", encoding="utf-8", newline="\n"
        )

    @property
    def closed(self) -> bool:
        return self._file is None

    def append(self, record: Mapping[str, object]) -> bool:
        """Write ``record`` as one flushed line; False (and nothing written) once closed."""
        line = json.dumps(record, separators=(",", ":"), allow_nan=self._allow_nan) + "\n"
        with self._lock:
            if self._file is None:
                return False
            self._file.write(line)
            self._file.flush()
            return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                finally:
                    self._file = None


def read_objects(path: Path) -> list[dict[str, object]]:
    """Every line of ``path`` that is a JSON object, in order; [] when the file is missing.
    Lines that are not (a line cut by a killed harness, a stray blank) are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    return list(parse_objects(path.read_text(encoding="utf-8", errors="replace")))


def parse_objects(text: str) -> Iterator[dict[str, object]]:
    """Every line of ``text`` that is a JSON object, in order; any other line (not JSON, or
    JSON but not an object) is skipped."""
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield obj
