"""What a run or the OS can take: upper bounds that validation checks, so that a file that
validates also runs (issue: a 300-character name validated, then the run died creating its
directory). Each bound says why in the message that reports it.
"""

from __future__ import annotations

#: a scenario name becomes a directory name (runs/<name>/<run id>); NAME_MAX is 255
MAX_NAME = 200
#: a replica name is a PostgreSQL application_name (NAMEDATALEN - 1) and a directory name
MAX_NODE_NAME = 63
#: a step name appears in plans, events and reports
MAX_STEP_NAME = 100
#: each replica is a PostgreSQL server of its own
MAX_REPLICAS = 16
#: each writer is a thread with its own connection
MAX_CONCURRENCY = 1000
#: Kafka partitions of the one topic
MAX_PARTITIONS = 1000
#: every step, each repetition counted, resolved into the run's schedule
MAX_STEPS = 10_000
#: the longest duration anywhere in a file, in seconds (declared time): 7 days
MAX_DURATION_S = 7 * 24 * 3600
MAX_DURATION_TEXT = "7 days (10080m)"
#: writes per second, as declared and as run (times time_scale)
MAX_RATE = 1_000_000.0
#: KB/s of a bandwidth limit (10 GB/s)
MAX_BANDWIDTH_KBPS = 10_000_000.0
#: bytes (1024GB)
MAX_SIZE = 1024**4
#: time_scale: 10 000 replays 7 days in about a minute
MAX_TIME_SCALE = 10_000.0
#: clock drift, microseconds per second
MAX_DRIFT_PPM = 1_000_000.0
#: any other integer (seed, loss counts): a signed 64-bit value
MAX_INTEGER = 2**63 - 1
#: a value longer than this is shown shortened in a problem
MAX_SHOWN = 80
