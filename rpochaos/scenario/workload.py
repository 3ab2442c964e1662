"""The workload and expect sections: their keys and values validated by their models
(``shapes``), then the rules between keys: the run's rate (times time_scale) within bounds,
Kafka's delivery timeout no shorter than its request timeout, idempotence only with acks all,
min_lost at most max_lost.
"""

from __future__ import annotations

from typing import cast

from rpochaos.scenario.keys import _KAFKA_ONLY
from rpochaos.scenario.limits import MAX_RATE
from rpochaos.scenario.model import KAFKA_REQUEST_TIMEOUT_S, Expect, KafkaAcks, Workload
from rpochaos.scenario.shapes import ExpectSection, KafkaWorkload, PostgresWorkload, keys_of
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.topology import _TopologyChecks


class _WorkloadChecks(_TopologyChecks):
    def workload(self, y: _Y | None, line: int | None) -> Workload | None:
        path = "workload"
        kafka = self.system == "kafka"
        section, good = self.section(
            KafkaWorkload if kafka else PostgresWorkload,
            y,
            path,
            line,
            elsewhere=() if kafka else keys_of(KafkaWorkload),
            elsewhere_note=_KAFKA_ONLY,
        )
        if y is None or y.kind != "map":
            return None

        def node(key: str) -> _Y:
            return y.entries[key][1]

        ok = section is not None
        duration = good.get("duration")
        self.run_for = duration if isinstance(duration, float) else None
        rate = good.get("rate")
        if isinstance(rate, float) and rate * self.scale > MAX_RATE:
            self.add(
                node("rate").line,
                f"{path}.rate",
                f"{_given(node('rate'))} x time_scale {self.scale:g} = {rate * self.scale:g}/s",
                f"a rate of at most {MAX_RATE:.0f}/s in the run (time_scale multiplies it)",
            )
            ok = False
        commit_timeout = good.get("commit_timeout")
        if kafka and isinstance(commit_timeout, float) and commit_timeout < KAFKA_REQUEST_TIMEOUT_S:
            self.add(
                node("commit_timeout").line,
                f"{path}.commit_timeout",
                _given(node("commit_timeout")),
                f"a duration >= {KAFKA_REQUEST_TIMEOUT_S:g}s: for Kafka it is the producer's "
                "delivery timeout (delivery.timeout.ms), which may not be shorter than its "
                f"request timeout ({KAFKA_REQUEST_TIMEOUT_S:g}s)",
            )
            ok = False
        acks = good.get("acks")
        if good.get("enable_idempotence") is True and acks is not None and acks != "all":
            self.add(
                node("enable_idempotence").line,
                f"{path}.enable_idempotence",
                _given(node("enable_idempotence")),
                f"false with acks: {acks} (an idempotent producer needs acks: all, Kafka's rule)",
            )
            ok = False
        if not ok or section is None:
            return None
        return Workload(
            rate=section.rate,
            duration=section.duration,
            concurrency=section.concurrency,
            commit_timeout=section.commit_timeout,
            connect_timeout=section.connect_timeout,
            acks=cast(KafkaAcks, section.acks) if isinstance(section, KafkaWorkload) else None,
            enable_idempotence=(
                section.enable_idempotence if isinstance(section, KafkaWorkload) else None
            ),
        )

    def expect(self, y: _Y | None, line: int | None) -> Expect | None:
        path = "expect"
        section, good = self.section(ExpectSection, y, path, line)
        max_lost, min_lost = good.get("max_lost"), good.get("min_lost")
        if isinstance(min_lost, int) and isinstance(max_lost, int) and min_lost > max_lost:
            assert y is not None
            min_y = y.entries["min_lost"][1]
            self.add(
                min_y.line,
                f"{path}.min_lost",
                _given(min_y),
                f"at most expect.max_lost ({max_lost}), or no loss count could pass",
            )
            return None
        if section is None:
            return None
        return Expect(
            rpo=section.rpo,
            max_lost=section.max_lost,
            min_lost=section.min_lost,
            max_rto=section.max_rto,
        )
