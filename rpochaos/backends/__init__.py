"""Backends: how nodes are started and reached (see ``base`` for the contract).

- ``make_backend(name, run_dir, keep)``: a ``local``, ``docker`` or ``kubernetes`` backend
  for one run. For
  docker it first sweeps what dead runs left behind (``docker.gc(spare_kept=True)``), then
  resolves the images (building the local ones when nothing better is there).
- ``resolve_backend(explicit, declared)``: which backend a run uses.
- ``start_proxy(backend)``: start the run's Toxiproxy server and return its client (the one
  way to start one).
- ``gc(runs_root, force, run_id)``: every backend's leftovers of runs whose owner is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rpochaos.backends.base import Address, Backend, LinkAddress, Node, Server
from rpochaos.errors import Problem, ScenarioError

if TYPE_CHECKING:
    from rpochaos.proxy import Toxiproxy

BACKENDS = ("local", "docker", "kubernetes")

__all__ = [
    "BACKENDS",
    "Address",
    "Backend",
    "LinkAddress",
    "Node",
    "Server",
    "gc",
    "make_backend",
    "resolve_backend",
    "start_proxy",
]


def _quiet(_: str) -> None:
    pass


def resolve_backend(explicit: str | None, declared: str | None) -> str:
    """Which backend a run uses, first hit wins: the explicit choice (``--backend``,
    ``--rpo-backend`` or the ``rpo_backend`` ini key), $RPOCHAOS_BACKEND, the scenario's
    ``backend:`` key (``declared``), then ``local``. ScenarioError for an unknown name."""
    name = explicit or os.environ.get("RPOCHAOS_BACKEND") or declared or "local"
    if name not in BACKENDS:
        raise ScenarioError(
            [Problem("--backend", None, "backend", repr(name), f"one of {', '.join(BACKENDS)}")]
        )
    return name


def make_backend(
    name: str,
    run_dir: Path,
    keep: bool = False,
    *,
    postgres_image: str | None = None,
    toxiproxy_image: str | None = None,
    kafka_image: str | None = None,
    system: str = "postgres",
    log: Callable[[str], None] = _quiet,
) -> Backend:
    """The backend ``name`` for the run in ``run_dir`` of a ``system`` ("postgres" or
    "kafka") scenario. ``postgres_image``, ``kafka_image`` and ``toxiproxy_image`` (docker
    only) override $RPOCHAOS_PG_IMAGE / $RPOCHAOS_KAFKA_IMAGE / $RPOCHAOS_TOXIPROXY_IMAGE and
    the defaults. Raises ScenarioError for an unknown name and MissingDependency when
    the docker engine, the SDK or an image cannot be had."""
    if name == "local":
        from rpochaos.backends.local import LocalBackend

        return LocalBackend(run_dir, keep=keep)
    if name == "docker":
        from rpochaos.backends import docker as docker_backend
        from rpochaos.backends import engine
        from rpochaos.images import resolve_images

        client = engine.client()
        swept = docker_backend.gc(spare_kept=True, client=client)
        if swept:
            log(f"removed {len(swept)} leftover(s) of dead docker runs")
        images = resolve_images(
            postgres_image, toxiproxy_image, kafka_image, system=system, client=client, log=log
        )
        return docker_backend.DockerBackend(
            run_dir, keep=keep, images=images, client=client, log=log
        )
    if name == "kubernetes":
        from rpochaos.backends.kubernetes import KubernetesBackend

        if system != "postgres":
            raise ScenarioError(
                [Problem("--backend", None, "backend", repr(name), "a PostgreSQL scenario")]
            )
        return KubernetesBackend(
            run_dir,
            keep=keep,
            postgres_image=postgres_image,
            toxiproxy_image=toxiproxy_image,
            log=log,
        )
    raise ScenarioError(
        [Problem("--backend", None, "backend", repr(name), f"one of {', '.join(BACKENDS)}")]
    )


def start_proxy(backend: Backend, timeout_s: float = 30.0) -> Toxiproxy:
    """Start ``backend``'s Toxiproxy server; return a client once its API answers."""
    return backend.start_proxy(timeout_s=timeout_s)


def gc(runs_root: Path, *, force: bool = False, run_id: str | None = None) -> list[str]:
    """What ``rpochaos gc`` removes, of runs whose owner process is gone: the local servers and
    data directories of runs under ``runs_root``, and every docker container, network and
    volume of such runs on this host (nothing when no engine answers). ``force``: also runs
    whose owner still lives (e.g. --keep-topology), but only those under ``runs_root`` (a
    runs root, or one run directory). ``run_id``: only the run with that id."""
    from rpochaos.backends import docker as docker_backend
    from rpochaos.backends import kubernetes_api, local

    return [
        *local.gc(runs_root, force=force, run_id=run_id),
        *docker_backend.gc(force=force, runs_root=runs_root, run_id=run_id),
        *kubernetes_api.gc(force=force, runs_root=runs_root, run_id=run_id),
    ]
