"""A failed image build leaves no container on the engine (the legacy builder commits LABEL
steps and RUN steps through containers; a build cut short can leave them behind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpochaos import images
from rpochaos.backends import engine
from rpochaos.errors import RpochaosError
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = require(engine.client)
    if images._labels(c, images.BASE_IMAGE) is None:
        pytest.skip(f"{images.BASE_IMAGE} is not built (rpochaos images build)")
    yield c
    c.close()


def _ours(client: Any, ids: set[str]) -> list[str]:
    return [str(x.name) for x in client.containers.list(all=True) if x.id in ids]


def test_a_build_that_fails_midway_leaves_no_container(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a build cut short leaves (a LABEL-commit container carrying the recipe labels,
    an intermediate one of a layer id) is removed before the error is raised."""
    import docker.errors

    tag = images.LOCAL_PG_IMAGE
    base_id = client.images.get(images.BASE_IMAGE).id
    made: set[str] = set()

    def failing_build(_self: Any, **kw: Any) -> None:
        label_step = client.containers.create(
            images.BASE_IMAGE, command=["true"], labels=dict(kw["labels"])
        )
        layer_step = client.containers.create(base_id, command=["/bin/sh", "-c", "false"])
        layer_step.start()
        layer_step.wait(timeout=30)
        made.update({label_step.id, layer_step.id})
        raise docker.errors.BuildError("The command '/bin/sh -c false' returned 1", [])

    import docker.models.images

    monkeypatch.setattr(docker.models.images.ImageCollection, "build", failing_build)
    with pytest.raises(RpochaosError, match="docker build of rpochaos/postgres:15 failed"):
        images._docker_build(client, tmp_path, tag, lambda _: None)
    assert made and _ours(client, made) == []


def test_a_real_failing_step_is_an_error_and_leaves_nothing(client: Any, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {images.BASE_IMAGE}\nRUN echo one\nRUN false\n")
    before = {x.id for x in client.containers.list(all=True)}
    with pytest.raises(RpochaosError, match="failed"):
        images._docker_build(client, tmp_path, images.LOCAL_PG_IMAGE, lambda _: None)
    after = [x for x in client.containers.list(all=True) if x.id not in before]
    leftover = [x.name for x in after if "rpochaos.run" not in (x.labels or {})]
    assert leftover == []
