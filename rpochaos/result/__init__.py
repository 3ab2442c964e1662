"""result.json: the typed result model, how it is computed from a run directory, exit codes.

Read a result typed: ``Result.load(run_dir)`` (a stored result.json), ``analyze_result(run_dir)``
(recompute and write it) or ``Result.from_dict(mapping)``; then attributes, e.g.
``r.writes.lost``, ``r.data_loss_window_s``, ``r.faults[0].effective_start_s``. The dict API
stays for existing callers: ``analyze(run_dir)["writes"]["lost"]``.
"""

from rpochaos.result.build import (
    EXIT,
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    analyze,
    analyze_result,
    build_result,
    compute_result,
    observed,
    reproduce_command,
)
from rpochaos.result.model import (
    GAP_SHOWN_S,
    RESULT,
    AckSpacing,
    Failover,
    Fault,
    Observed,
    RealTime,
    ReplicaObserved,
    Result,
    ResultFormatError,
    Workload,
    Writes,
    as_result,
)
from rpochaos.result.semisync import Rejoin, SemiSync, SemiSyncOff
from rpochaos.result.timing import faults_from_events, outage_at, outage_requested_at

__all__ = [
    "EXIT",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "GAP_SHOWN_S",
    "RESULT",
    "AckSpacing",
    "Failover",
    "Fault",
    "Observed",
    "RealTime",
    "Rejoin",
    "ReplicaObserved",
    "Result",
    "ResultFormatError",
    "SemiSync",
    "SemiSyncOff",
    "Workload",
    "Writes",
    "analyze",
    "analyze_result",
    "as_result",
    "build_result",
    "compute_result",
    "faults_from_events",
    "observed",
    "outage_at",
    "outage_requested_at",
    "reproduce_command",
]
