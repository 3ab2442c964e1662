"""The server-side witness: where each lost write went, read from the old primary's own disk.

After a run whose old primary was crashed or isolated (its disk still exists),
``postgres.witness`` starts a private copy of that disk, reads the sequence numbers on it and
counts the workload's commits past the fork in its WAL with pg_waldump; ``classify`` tells
each lost write ``on_old_primary`` (recoverable by hand) from ``gone`` (on no node);
``export`` writes the lost rows as CSV or SQL. Definitions: docs/witness.md.
"""

from rpochaos.witness.classify import Classification, classify, durable, format_ranges, ranges
from rpochaos.witness.model import WITNESS, OldRow, Timings, WitnessReport, load, save

__all__ = [
    "WITNESS",
    "Classification",
    "OldRow",
    "Timings",
    "WitnessReport",
    "classify",
    "durable",
    "format_ranges",
    "load",
    "ranges",
    "save",
]
