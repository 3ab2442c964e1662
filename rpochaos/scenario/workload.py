"""The workload and expect sections."""

from __future__ import annotations

from typing import cast

from rpochaos.scenario.keys import (
    _EXPECT_KEYS,
    _KAFKA_ONLY,
    _KAFKA_WORKLOAD_KEYS,
    _WORKLOAD_KEYS,
)
from rpochaos.scenario.limits import MAX_CONCURRENCY, MAX_RATE
from rpochaos.scenario.model import (
    KAFKA_ACKS,
    KAFKA_REQUEST_TIMEOUT_S,
    Expect,
    KafkaAcks,
    Workload,
)
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.topology import _TopologyChecks


class _WorkloadChecks(_TopologyChecks):
    def workload(self, y: _Y | None, line: int | None) -> Workload | None:
        path = "workload"
        kafka = self.system == "kafka"
        entries = self.mapping(
            y,
            path,
            line,
            _KAFKA_WORKLOAD_KEYS if kafka else _WORKLOAD_KEYS,
            ("rate", "duration", "acks", "enable_idempotence") if kafka else ("rate", "duration"),
            elsewhere=() if kafka else _KAFKA_WORKLOAD_KEYS,
            elsewhere_note=_KAFKA_ONLY,
        )
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rate_y = get("rate")
        rate = self.rate(rate_y, f"{path}.rate")
        if rate is not None and rate * self.scale > MAX_RATE:
            assert rate_y is not None
            self.add(
                rate_y.line,
                f"{path}.rate",
                f"{_given(rate_y)} x time_scale {self.scale:g} = {rate * self.scale:g}/s",
                f"a rate of at most {MAX_RATE:.0f}/s in the run (time_scale multiplies it)",
            )
            rate = None
        duration = self.duration(get("duration"), f"{path}.duration", positive=True)
        self.run_for = duration
        conc_y = get("concurrency")
        concurrency = self.integer(
            conc_y,
            f"{path}.concurrency",
            1,
            MAX_CONCURRENCY,
            "each writer is a thread with a connection of its own",
        )
        ct_y = get("commit_timeout")
        commit_timeout = self.duration(ct_y, f"{path}.commit_timeout", positive=True)
        if kafka and commit_timeout is not None and commit_timeout < KAFKA_REQUEST_TIMEOUT_S:
            assert ct_y is not None
            self.add(
                ct_y.line,
                f"{path}.commit_timeout",
                _given(ct_y),
                f"a duration >= {KAFKA_REQUEST_TIMEOUT_S:g}s: for Kafka it is the producer's "
                "delivery timeout (delivery.timeout.ms), which may not be shorter than its "
                f"request timeout ({KAFKA_REQUEST_TIMEOUT_S:g}s)",
            )
            commit_timeout = None
        cn_y = get("connect_timeout")
        connect_timeout = self.duration(cn_y, f"{path}.connect_timeout", positive=True)
        acks_y, idem_y = get("acks"), get("enable_idempotence")
        acks = self.acks(acks_y, f"{path}.acks")
        idempotence = self.boolean(idem_y, f"{path}.enable_idempotence")
        if idempotence and acks is not None and acks != "all":
            assert idem_y is not None
            self.add(
                idem_y.line,
                f"{path}.enable_idempotence",
                _given(idem_y),
                f"false with acks: {acks} (an idempotent producer needs acks: all, Kafka's rule)",
            )
            idempotence = None
        if (
            rate is None
            or duration is None
            or (conc_y is not None and concurrency is None)
            or (ct_y is not None and commit_timeout is None)
            or (cn_y is not None and connect_timeout is None)
            or (kafka and (acks is None or idempotence is None))
        ):
            return None
        return Workload(
            rate=rate,
            duration=duration,
            concurrency=concurrency if concurrency is not None else 1,
            commit_timeout=commit_timeout,
            connect_timeout=connect_timeout if connect_timeout is not None else 1.0,
            acks=cast(KafkaAcks, acks),
            enable_idempotence=idempotence,
        )

    def acks(self, y: _Y | None, path: str) -> str | None:
        """Kafka producer acks: "0", "1" or "all" (YAML's integers 0 and 1 accepted)."""
        if y is None:
            return None
        v = y.value if y.kind == "scalar" else None
        if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
            return str(v)
        if isinstance(v, str) and v in KAFKA_ACKS:
            return v
        self.add(y.line, path, _given(y), "one of 0, 1, all (write -1 as all)")
        return None

    def expect(self, y: _Y | None, line: int | None) -> Expect | None:
        path = "expect"
        entries = self.mapping(y, path, line, _EXPECT_KEYS, ("rpo",))
        if entries is None:
            return None

        def get(key: str) -> _Y | None:
            return entries[key][1] if key in entries else None

        rpo = self.duration(get("rpo"), f"{path}.rpo")
        max_y, min_y, rto_y = get("max_lost"), get("min_lost"), get("max_rto")
        max_lost = self.integer(max_y, f"{path}.max_lost", 0)
        min_lost = self.integer(min_y, f"{path}.min_lost", 0)
        max_rto = self.duration(rto_y, f"{path}.max_rto")
        if min_lost is not None and max_lost is not None and min_lost > max_lost:
            assert min_y is not None
            self.add(
                min_y.line,
                f"{path}.min_lost",
                _given(min_y),
                f"at most expect.max_lost ({max_lost}), or no loss count could pass",
            )
            return None
        if (
            rpo is None
            or (max_y is not None and max_lost is None)
            or (min_y is not None and min_lost is None)
            or (rto_y is not None and max_rto is None)
        ):
            return None
        return Expect(rpo=rpo, max_lost=max_lost, min_lost=min_lost, max_rto=max_rto)
