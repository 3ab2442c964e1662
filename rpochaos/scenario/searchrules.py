"""The rules between ``search:`` and the schedule (the section's own keys are checked by
``searchform.SearchSection``)."""

from __future__ import annotations

from collections.abc import Sequence

from rpochaos.scenario.model import StepSpec
from rpochaos.scenario.searchform import MAX_OPTIONAL
from rpochaos.scenario.source import _Y, _given, _Source


def check_search(
    src: _Source, y: _Y | None, specs: Sequence[StepSpec] | None, section_ok: bool
) -> None:
    """The rules between ``search:`` and the schedule (the keys' own values are checked by
    ``SearchSection``): every optional name is a step's, not the outage step, each once, and
    ``max_steps`` leaves room for the steps that may not be dropped."""
    if y is None or y.kind != "map" or specs is None:
        return
    names = {s.name: s for s in specs if s.name is not None}
    optional: list[str] = []
    entry = y.entries.get("optional")
    if entry is not None:
        node = entry[1]
        expected = f"a list of at most {MAX_OPTIONAL} step names (not the outage step's)"
        if node.kind != "seq" or len(node.items) > MAX_OPTIONAL:
            src.add(node.line, "search.optional", _given(node), expected)
            return
        for i, item in enumerate(node.items):
            spec = names.get(item.value) if isinstance(item.value, str) else None
            path = f"search.optional[{i}]"
            if spec is None:
                known = ", ".join(sorted(n for n in names if n)) or "none are named"
                src.add(item.line, path, _given(item), f"a step's name ({known})")
            elif spec.outage:
                src.add(item.line, path, _given(item), "a step that is not the outage step")
            elif item.value in optional:
                src.add(item.line, path, _given(item), "each step once")
            else:
                optional.append(str(item.value))
        for spec in specs:
            if spec.after is not None and spec.name not in optional and spec.after in optional:
                line = next(i.line for i in node.items if i.value == spec.after)
                src.add(
                    line,
                    "search.optional",
                    repr(spec.after),
                    f"a step no kept step starts after ({spec.name or spec.source_index!r} does)",
                )
    steps = y.entries.get("max_steps")
    if steps is not None and section_ok and isinstance(steps[1].value, int):
        needed = len(specs) - len(optional)
        if steps[1].value < needed:
            src.add(
                steps[1].line,
                "search.max_steps",
                str(steps[1].value),
                f"at least {needed} (the steps that may not be dropped)",
            )
