"""Search: find a fault schedule that breaks the declared RPO, shrink it, find the boundary.

A scenario's ``{between: ..}``, ``{choose: ..}`` and ``{range: ..}`` are the dimensions of a
search space (``space``), bounded by its ``search:`` section. The loop (``engine``) replays the
failures an earlier search stored (``database``), runs a space-filling first pass and a climb
on the measured score (``strategy``), stops at the first failure, shrinks it (``shrink``) and
reports how often the final schedule failed in its repeats; ``boundary`` bisects one
dimension to where the verdict flips. Each example is a full real run (``runner``). Outputs:
``output`` (the .found.yaml, the table, search.json) and ``report`` (report.html). The
command is ``cli`` (``rpochaos search`` / ``python -m rpochaos.search``); ``pytest_hooks``
runs a search as a test. docs/search.md explains the choices.
"""

from rpochaos.search.engine import Search, SearchResult
from rpochaos.search.outcome import Evaluate, Example, Outcome, Probe, Verdicts
from rpochaos.search.space import Candidate, Dimension, Space, space_of

__all__ = [
    "Candidate",
    "Dimension",
    "Evaluate",
    "Example",
    "Outcome",
    "Probe",
    "Search",
    "SearchResult",
    "Space",
    "Verdicts",
    "space_of",
]
