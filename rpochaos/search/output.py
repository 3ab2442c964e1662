"""A search's outputs, in its directory: ``<name>.found.yaml`` (the minimal failing schedule as
a runnable scenario with fixed values, its reproduce command in its header), ``examples.md``
(every example: values -> window, lost, verdict), ``search.json`` (all of it, for tools) and
``report.html`` (``report``). ``summary_lines`` is what the command prints.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from rpochaos.search.engine import SearchResult
from rpochaos.search.outcome import Example
from rpochaos.search.space import Space


def _num(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:.3f}{unit}"


def example_rows(space: Space, examples: list[Example]) -> list[list[str]]:
    """One row per example: #, phase, each dimension's value, dropped, window, lost, score,
    verdict, run directory."""
    rows = []
    for e in examples:
        o = e.outcome
        rows.append(
            [
                str(e.n),
                e.phase,
                *(space.dimension(n).shown(e.candidate.values[n]) for n in space.names),
                ", ".join(sorted(e.candidate.dropped)) or "-",
                _num(o.window, " s"),
                "-" if o.lost is None else str(o.lost),
                _num(o.score),
                o.verdict,
                o.run_dir or o.note.splitlines()[0] if (o.run_dir or o.note) else "-",
            ]
        )
    return rows


def table_header(space: Space) -> list[str]:
    return ["#", "phase", *space.names, "dropped", "window", "lost", "score", "verdict", "run"]


def markdown_table(space: Space, examples: list[Example]) -> str:
    head = table_header(space)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in example_rows(space, examples):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def found_path(out_dir: Path, space: Space) -> Path:
    return out_dir / f"{space.name}.found.yaml"


def reproduce_command(path: Path) -> str:
    return f"rpochaos run {shlex.quote(str(path))}"


def write_found(out_dir: Path, space: Space, r: SearchResult) -> Path | None:
    """Write ``<name>.found.yaml`` for the final failing candidate (None when none failed)."""
    final = r.final
    if final is None:
        return None
    path = found_path(out_dir, space)
    rate = r.reproduction.rate if r.reproduction is not None else "?"
    header = (
        f"# Found by: rpochaos search {space.path}\n"
        f"# The smallest failing schedule found: {space.describe(final)}\n"
        f"# It failed in {rate} of its runs during the search (real runs are not deterministic:\n"
        f"# this is a reproduction rate, not a guarantee).\n"
        f"# Reproduce: {reproduce_command(path)}\n"
    )
    path.write_text(space.text(final, header), encoding="utf-8")
    return path


def search_json(space: Space, r: SearchResult, found: Path | None) -> dict[str, object]:
    b = r.boundary
    return {
        "scenario": str(space.path),
        "name": space.name,
        "content_hash": space.content_hash,
        "score": space.score,
        "status": r.status,
        "searched": r.searched,
        "replayed": r.replayed,
        "runs": len(r.examples),
        "found": str(found) if found else None,
        "final": r.final.to_json() if r.final else None,
        "reproduced": r.reproduction.rate if r.reproduction else None,
        "shrink_steps": r.shrunk.steps if r.shrunk else [],
        "shrink_stopped": r.shrunk.stopped if r.shrunk else "",
        "boundary": None
        if b is None
        else {
            "dimension": b.dimension,
            "passing": b.passing,
            "failing": b.failing,
            "estimate": b.estimate,
            "runs": b.runs,
            "note": b.note,
            "points": [[x, v.rate, v.score] for x, v in b.points],
        },
        "examples": [
            {
                "n": e.n,
                "phase": e.phase,
                "candidate": e.candidate.to_json(),
                "verdict": e.outcome.verdict,
                "score": e.outcome.score,
                "window_s": e.outcome.window,
                "lost": e.outcome.lost,
                "rto_s": e.outcome.rto,
                "run_dir": e.outcome.run_dir,
            }
            for e in r.examples
        ],
    }


def write_outputs(out_dir: Path, space: Space, r: SearchResult) -> Path | None:
    """Write every output file; returns the .found.yaml's path (None when none failed)."""
    found = write_found(out_dir, space, r)
    (out_dir / "examples.md").write_text(markdown_table(space, r.examples), encoding="utf-8")
    data = search_json(space, r, found)
    (out_dir / "search.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return found


def _tried(n: int) -> str:
    return f"{n} schedule{'' if n == 1 else 's'} tried"


def summary_lines(space: Space, r: SearchResult, found: Path | None) -> list[str]:
    """What the command prints at the end: the verdict of the search in a few lines."""
    lines: list[str] = []
    b = r.boundary
    if b is not None:
        d = space.dimension(b.dimension)
        if b.estimate is not None and b.passing is not None and b.failing is not None:
            lines.append(
                f"boundary of {b.dimension}: between {d.shown(b.passing)} (passes) and "
                f"{d.shown(b.failing)} (fails), about {d.shown(round(b.estimate, 3))} "
                f"+-{b.half_width or 0:.0%}, in {b.runs} runs"
            )
        if b.note:
            lines.append(b.note)
        return lines
    if r.replayed:
        lines.append(f"replayed {r.replayed} stored failure(s) first")
    if r.status == "found" and r.final is not None:
        rate = r.reproduction.rate if r.reproduction else "?"
        lines.append(f"a failing schedule found after {_tried(r.searched)}")
        lines.append(f"shrunk to: {space.describe(r.final)}")
        lines.extend(f"  {s}" for s in (r.shrunk.steps if r.shrunk else []))
        if r.shrunk is not None and r.shrunk.stopped:
            lines.append(f"  shrinking stopped at {r.shrunk.stopped}")
        lines.append(f"it failed in {rate} of its runs (a reproduction rate, not a guarantee)")
        if found is not None:
            lines.append(f"written to {found}")
            lines.append(f"reproduce: {reproduce_command(found)}")
    elif r.status == "unknown":
        unknown = sum(e.outcome.verdict not in ("PASS", "FAIL") for e in r.examples)
        lines.append(f"{_tried(r.searched)}, none broke the RPO, but {unknown} had no verdict")
    else:
        lines.append(f"{_tried(r.searched)}, none broke the RPO")
    return lines
