"""The example database: what earlier searches of a scenario found, replayed first by the next
search of the same file (the idea of Hypothesis' example database and its ``reuse`` phase).

One JSON file under the runs root (``search-examples.json``), keyed by the scenario file's
content hash (sha256 of its text: an edited file starts afresh). Per scenario it keeps the
failing candidates found (newest first, the shrunk one marked ``minimal`` with its
reproduction rate and its ``.found.yaml``) and a summary of every example tried. A file that
cannot be read is treated as empty and replaced on the next save; writes go through a
temporary file and a rename, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rpochaos.search.space import Candidate

FILENAME = "search-examples.json"
#: the most failures and examples kept per scenario
MAX_FAILURES = 20
MAX_EXAMPLES = 500


@dataclass(frozen=True)
class StoredFailure:
    candidate: Candidate
    minimal: bool
    reproduced: str  # '3/3'; '' when not measured
    found: str  # path of the .found.yaml ('' when none)


class ExampleDatabase:
    """``ExampleDatabase(runs_root)``: read with ``failures(hash)``, write with ``record``."""

    def __init__(self, runs_root: Path) -> None:
        self.path = Path(runs_root) / FILENAME

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"version": 1, "scenarios": {}}
        return (
            data
            if isinstance(data, dict) and isinstance(data.get("scenarios"), dict)
            else {
                "version": 1,
                "scenarios": {},
            }
        )

    def _entry(self, data: dict[str, object], key: str) -> dict[str, object]:
        scenarios = data["scenarios"]
        assert isinstance(scenarios, dict)
        entry = scenarios.setdefault(key, {})
        assert isinstance(entry, dict)
        entry.setdefault("failures", [])
        entry.setdefault("examples", [])
        return entry

    def failures(self, content_hash: str) -> list[StoredFailure]:
        """The stored failures of a scenario, the ones to replay first: minimal ones first,
        newest first within each."""
        scenarios = self._read()["scenarios"]
        assert isinstance(scenarios, dict)
        entry = scenarios.get(content_hash)
        raw = entry.get("failures") if isinstance(entry, dict) else None
        out: list[StoredFailure] = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                continue
            c = Candidate.from_json(item.get("candidate"))
            if c is not None:
                out.append(
                    StoredFailure(
                        c,
                        bool(item.get("minimal")),
                        str(item.get("reproduced", "")),
                        str(item.get("found", "")),
                    )
                )
        return sorted(out, key=lambda f: not f.minimal)  # stable: newest first within each

    def record(
        self,
        content_hash: str,
        name: str,
        examples: list[dict[str, object]],
        failure: StoredFailure | None,
    ) -> None:
        """Add a search's examples and (if any) its failure, newest first, and save."""
        data = self._read()
        entry = self._entry(data, content_hash)
        entry["name"] = name
        entry["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        old_examples = entry["examples"]
        assert isinstance(old_examples, list)
        entry["examples"] = (examples + old_examples)[:MAX_EXAMPLES]
        if failure is not None:
            old = entry["failures"]
            assert isinstance(old, list)
            keep = [
                f
                for f in old
                if not (isinstance(f, dict) and f.get("candidate") == failure.candidate.to_json())
            ]
            item = {
                "candidate": failure.candidate.to_json(),
                "minimal": failure.minimal,
                "reproduced": failure.reproduced,
                "found": failure.found,
            }
            entry["failures"] = [item, *keep][:MAX_FAILURES]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
