"""Cleanup after a failed ``docker build``: the containers the builder left behind, never a
run's container nor a running one.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from rpochaos.images.names import RECIPE_LABEL
from rpochaos.images.recipes import _recipes

if TYPE_CHECKING:
    import docker


def _remove_build_leftovers(c: docker.DockerClient, tag: str, before: set[str]) -> list[str]:
    """Remove what a failed build of ``tag`` left on the engine: containers that carry this
    build's labels (the legacy builder commits LABEL steps through a container) and, of the
    containers created since the build began, those of intermediate images (the builder
    names its layers by image id). Never a container of a run (``rpochaos.run`` label) and
    never a running one. Returns the names removed; never raises."""
    import docker.errors

    removed: list[str] = []
    try:
        labelled = c.containers.list(
            all=True, filters={"label": f"{RECIPE_LABEL}={_recipes()[tag]}"}
        )
        fresh = [x for x in c.containers.list(all=True) if x.id not in before]
    except docker.errors.DockerException:
        return removed
    for x in {x.id: x for x in [*labelled, *fresh]}.values():
        labels = x.labels or {}
        image = str((x.attrs.get("Config") or {}).get("Image") or "")
        ours = labels.get(RECIPE_LABEL) == _recipes()[tag] or image.startswith("sha256:")
        if not ours or "rpochaos.run" in labels or x.status in ("running", "paused"):
            continue
        with contextlib.suppress(docker.errors.DockerException):
            x.remove(force=True, v=True)
            removed.append(str(x.name))
    return removed
