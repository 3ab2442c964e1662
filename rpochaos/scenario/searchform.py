"""The ``search:`` section: how ``rpochaos search`` may reshape the schedule (docs/search.md).

``score`` is what the search climbs (``window/rpo``: the data-loss window over the RPO, the
default; ``lost``: lost acknowledged writes; ``rto``: the recovery time, over ``expect.max_rto``
when declared). ``optional`` names the steps a candidate may leave out, ``max_steps`` is the
most steps one candidate keeps. A plain run ignores the section. The dimensions themselves
are the schedule's ``{between: ..}``, ``{choose: ..}`` and ``{range: ..}``. The rules between
this section and the schedule are in ``searchrules``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rpochaos.scenario.fields import Wrong, _file, _pydantic, bounded, checked_elsewhere

#: the scores a search may climb
SCORES: tuple[str, ...] = ("window/rpo", "lost", "rto")
#: the most steps a searched schedule may have, and the most optional ones (2^N subsets)
MAX_SEARCH_STEPS = 16
MAX_OPTIONAL = 8


def _score(v: object) -> str:
    if v not in SCORES:
        raise Wrong("one of " + ", ".join(SCORES))
    assert isinstance(v, str)
    return v


Score = Annotated[str, _pydantic(_score), _file({"enum": list(SCORES)})]
MaxSteps = Annotated[
    int | None,
    _pydantic(lambda v: bounded(v, MAX_SEARCH_STEPS, f"an integer from 1 to {MAX_SEARCH_STEPS}")),
    _file({"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_STEPS}),
]


class SearchSection(BaseModel):
    """``search:`` (all keys optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    score: Score = Field("window/rpo", description="what the search climbs")
    max_steps: MaxSteps = Field(None, description="the most steps one candidate keeps")
    optional: Annotated[
        object,
        checked_elsewhere(Annotated[list[str], Field(max_length=MAX_OPTIONAL)]),
    ] = Field(None, description="names of steps a candidate may leave out (not the outage)")
