"""Whole sections validated by pydantic (their models are in ``shapes``). ``_Sections.section``
runs one over a mapping of the YAML tree and turns every error pydantic collects into a
problem at the value's line (the key's line for an unknown key, the section's for a missing
one), with the usual wording: what was given as written, what was expected, and "did you
mean" for a near miss. Rules between keys stay with each section's checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from rpochaos.scenario.fields import (
    ERROR_TYPE,
)
from rpochaos.scenario.limits import MAX_REPLICAS
from rpochaos.scenario.messages import _join, _suggest
from rpochaos.scenario.shapes import keys_of
from rpochaos.scenario.source import _Y, _given
from rpochaos.scenario.values import _Values

_M = TypeVar("_M", bound=BaseModel)


class _Sections(_Values):
    def section(
        self,
        model: type[_M],
        y: _Y | None,
        path: str,
        line: int | None,
        elsewhere: Sequence[str] = (),
        elsewhere_note: str = "",
        missing_as_written: bool = False,
    ) -> tuple[_M | None, dict[str, object]]:
        """Validate the mapping ``y`` (named at ``line``) with ``model``. Returns the section
        (None if any key has a problem or ``y`` is missing) and, for the rules between keys,
        the parsed value of every given key that has no problem. A missing key is expected
        as its section describes it, or (``missing_as_written``) as its type does."""
        keys = keys_of(model)
        if y is None:
            return None, {}
        if y.kind != "map":
            self.mapping(y, path, line, keys)
            return None, {}
        data = {k: (v.value if v.kind == "scalar" else v) for k, (_, v) in y.entries.items()}
        try:
            return model.model_validate(data), dict(_parsed(model, data))
        except ValidationError as e:
            bad: set[str] = set()
            # as a mapping is read: unknown keys, then missing ones, then values in key order
            rank = {"extra_forbidden": 0, "missing": 1}
            for err in sorted(e.errors(include_url=False), key=lambda x: rank.get(x["type"], 2)):
                key = str(err["loc"][0])
                bad.add(key)
                self._report(
                    model, y, path, line, key, err, keys, elsewhere, elsewhere_note,
                    missing_as_written,
                )  # fmt: skip
            good = {k: v for k, v in data.items() if k not in bad}
            return None, dict(_parsed(model, good))

    def replica_list(self, rep_y: _Y, path: str, *, server: str, at_least_one: bool) -> bool:
        """Whether ``rep_y``, the ``replicas`` value of the topology at ``path``, is a list of
        at most MAX_REPLICAS items (and, with ``at_least_one``, not an empty one). If not, one
        problem is added for ``{path}.replicas`` (the limit's names ``server``, what each
        replica runs) and the answer is False."""
        if rep_y.kind != "seq" or (at_least_one and not rep_y.items):
            expected = "a non-empty list of replicas" if at_least_one else "a list of replicas"
            self.add(rep_y.line, f"{path}.replicas", _given(rep_y), expected)
            return False
        if len(rep_y.items) > MAX_REPLICAS:
            self.add(
                rep_y.line,
                f"{path}.replicas",
                f"a list of {len(rep_y.items)}",
                f"at most {MAX_REPLICAS} replicas (each is a {server} server of its own)",
            )
            return False
        return True

    def _report(
        self,
        model: type[BaseModel],
        y: _Y,
        path: str,
        line: int | None,
        key: str,
        err: object,
        keys: Sequence[str],
        elsewhere: Sequence[str],
        elsewhere_note: str,
        missing_as_written: bool = False,
    ) -> None:
        assert isinstance(err, dict)
        kpath = _join(path, key)
        if err["type"] == "missing":
            expected = _expected(model, key) if missing_as_written else self._describe(path, key)
            self.add(line, kpath, "nothing", expected)
        elif err["type"] == "extra_forbidden":
            hint = f" ({key} belongs to {elsewhere_note})" if key in elsewhere else ""
            self.add(
                y.entries[key][0],
                kpath,
                repr(key),
                "a known key: " + ", ".join(keys) + (hint or _suggest(key, keys)),
            )
        else:
            node = y.entries[key][1]
            ctx = err.get("ctx", {}) if err["type"] == ERROR_TYPE else {}
            wording = ctx.get("expected", err["msg"])
            self.add(node.line, kpath, str(ctx.get("given", _given(node))), str(wording))


def _parsed(model: type[BaseModel], data: dict[str, object]) -> dict[str, object]:
    """The parsed value of each of ``data``'s keys that ``model`` has."""
    out: dict[str, object] = {}
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None:
            continue
        adapter = _adapter(model, key)
        out[key] = adapter.validate_python(value)
    return out


_ADAPTERS: dict[tuple[type[BaseModel], str], TypeAdapter[object]] = {}


def _adapter(model: type[BaseModel], key: str) -> TypeAdapter[object]:
    """A TypeAdapter for one key of a section model (its annotated type)."""
    found = _ADAPTERS.get((model, key))
    if found is None:
        info = model.model_fields[key]
        annotated = info.rebuild_annotation()
        found = _ADAPTERS[(model, key)] = TypeAdapter(annotated)
    return found


def _expected(model: type[BaseModel], key: str) -> str:
    """What a key's type expects, as its check words it for a value that is not there."""
    try:
        _adapter(model, key).validate_python(None)
    except ValidationError as e:
        ctx = e.errors(include_url=False)[0].get("ctx") or {}
        return str(ctx.get("expected", "a value"))
    return "a value"
