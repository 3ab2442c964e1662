"""Observers: what the system itself reported while the run went on.

Each observer samples in its own threads, never in the harness's, and appends one flushed JSON
line per sample to the run directory (``observations.jsonl``), timed on the harness clock.
"""

from rpochaos.observe.postgres import (
    OBSERVATIONS,
    PostgresObserver,
    max_lag_bytes,
    parse_lsn,
    read_observations,
)

__all__ = ["OBSERVATIONS", "PostgresObserver", "max_lag_bytes", "parse_lsn", "read_observations"]
