"""The schedule language, resolved: random choices made, 'after' chains and repetitions laid
out on one timeline, time_scale applied. docs/scenarios.md ("Random choices and the seed")
describes the rules; ``rpochaos.scenario.model`` implements them, since loading a file
resolves its schedule.

``resolve(scenario_or_specs, seed, time_scale=...)`` -> the resolved steps sorted by (at,
index); ``start_bounds(specs, time_scale)`` -> per step, the earliest and latest start over
every seed. Pure: no I/O, no clock; the same seed gives the same timeline. This module depends
on the scenario model, never the other way round.
"""

from __future__ import annotations

from rpochaos.scenario.model import resolve, start_bounds

__all__ = ["resolve", "start_bounds"]
