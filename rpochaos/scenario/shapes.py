"""The shapes of the sections pydantic validates: a model per section declares its keys (in
the order problems list them), which are required and each key's type (``fields``). The
key lists in ``keys`` are read from these models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from rpochaos.scenario.fields import (
    Acks,
    Boolean,
    Concurrency,
    Duration,
    OptionalDuration,
    OptionalLossCount,
    OptionalPositiveDuration,
    PositiveDuration,
    Rate,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PostgresWorkload(_Section):
    """``workload`` of a PostgreSQL scenario (file values parsed: seconds, writes/s)."""

    rate: Rate
    concurrency: Concurrency = 1
    duration: PositiveDuration
    commit_timeout: OptionalPositiveDuration = None
    connect_timeout: PositiveDuration = 1.0


class KafkaWorkload(PostgresWorkload):
    """``workload`` of a Kafka scenario: the producer's knobs are declared, never defaulted."""

    acks: Acks
    enable_idempotence: Boolean


class ExpectSection(_Section):
    rpo: Duration
    max_lost: OptionalLossCount = None
    min_lost: OptionalLossCount = None
    max_rto: OptionalDuration = None


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    """A section's keys, in the order the model declares them."""
    return tuple(model.model_fields)
