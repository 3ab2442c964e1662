"""The shapes of the sections pydantic validates: a model per section declares its keys (in
the order problems list them), which are required and each key's type (``fields``). The
key lists in ``keys`` are read from these models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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

    rate: Rate = Field(description="> 0: total writes, shared by the writers")
    concurrency: Concurrency = Field(1, description="writers, each with its own connection")
    duration: PositiveDuration = Field(description="> 0: how long writes are issued")
    commit_timeout: OptionalPositiveDuration = Field(
        None,
        description="PostgreSQL: cancel a commit still waiting after this long; Kafka: the "
        "producer's delivery timeout, >= 5s",
    )
    connect_timeout: PositiveDuration = Field(
        1.0, description="> 0", json_schema_extra={"default": "1s"}
    )


class KafkaWorkload(PostgresWorkload):
    """``workload`` of a Kafka scenario: the producer's knobs are declared, never defaulted."""

    acks: Acks = Field(description="the producer's acks (the client's default changed)")
    enable_idempotence: Boolean = Field(description="true needs acks all")


class ExpectSection(_Section):
    """``expect``: the verdict's thresholds (seconds, counts)."""

    rpo: Duration = Field(description="the declared recovery point objective")
    max_lost: OptionalLossCount = Field(
        None, description="at most this many acknowledged writes lost"
    )
    min_lost: OptionalLossCount = Field(
        None, description="at least this many lost (a scenario that must show loss)"
    )
    max_rto: OptionalDuration = Field(None, description="the outage must end within this")


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    """A section's keys, in the order the model declares them."""
    return tuple(model.model_fields)
