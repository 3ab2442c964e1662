"""Which image a run uses for each role (``resolve_images``; the order is in the package
docstring), what the engine has (``status``) and the docker part of ``rpochaos doctor``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rpochaos import deps
from rpochaos.backends import engine
from rpochaos.errors import MissingDependency
from rpochaos.images.build import _BUILDERS, ensure_local
from rpochaos.images.names import (
    BUILD_COMMAND,
    DEFAULT_KAFKA_IMAGE,
    DEFAULT_MARIADB_IMAGE,
    DEFAULT_PG_IMAGE,
    DEFAULT_TOXIPROXY_IMAGE,
    KAFKA_IMAGE_ENV,
    LOCAL_EQUIVALENT,
    LOCAL_KAFKA_IMAGE,
    LOCAL_MARIADB_IMAGE,
    LOCAL_PATRONI_IMAGE,
    LOCAL_PG_IMAGE,
    LOCAL_TOXIPROXY_IMAGE,
    MARIADB_IMAGE_ENV,
    PATRONI_IMAGE_ENV,
    PG_IMAGE_ENV,
    TOXIPROXY_IMAGE_ENV,
    Images,
    Log,
    _quiet,
)
from rpochaos.images.recipes import _current, _labels

if TYPE_CHECKING:
    import docker

# -- choosing ---------------------------------------------------------------------------------

_pull_failed: dict[str, str] = {}  # image -> why its pull failed (asked once per process)


def _pull(c: docker.DockerClient, name: str, log: Log) -> str | None:
    """Pull ``name``; None on success, else why it failed."""
    import docker.errors

    if name in _pull_failed:
        return _pull_failed[name]
    log(f"pulling {name}")
    try:
        c.images.pull(name)  # the SDK splits repository, tag and digest itself
    except (docker.errors.APIError, docker.errors.DockerException, OSError) as e:
        why = str(e).splitlines()[0][:300]
        _pull_failed[name] = why
        return why
    return None


def _resolve(c: docker.DockerClient, given: str | None, env: str, default: str, log: Log) -> str:
    name = given or os.environ.get(env) or default
    if name in _BUILDERS:
        ensure_local(name, client=c, log=log)
        return name
    if _labels(c, name) is not None:
        return name
    why = _pull(c, name, log)
    if why is None:
        return name
    local = LOCAL_EQUIVALENT.get(name)
    if local is None or name != default:
        raise MissingDependency(
            f"the image {name} (not present; pull failed: {why})",
            f"docker pull {name} where a registry answers, or set {env} to an image the engine "
            f"has; the local builds are {', '.join(LOCAL_EQUIVALENT.values())} "
            f"({BUILD_COMMAND})",
        )
    log(f"{name} cannot be pulled ({why}); using {local}")
    ensure_local(local, client=c, log=log)
    return local


def resolve_images(
    postgres: str | None = None,
    toxiproxy: str | None = None,
    kafka: str | None = None,
    *,
    system: str = "postgres",
    client: docker.DockerClient | None = None,
    log: Log = _quiet,
    mariadb: str | None = None,
) -> Images:
    """The images a docker run of a ``system`` ("postgres", "kafka" or "mariadb") scenario
    uses (see the module docstring for the order); the other systems' images are left
    empty."""
    c = client or engine.client()
    pg = _resolve(c, postgres, PG_IMAGE_ENV, DEFAULT_PG_IMAGE, log) if system == "postgres" else ""
    kf = _resolve(c, kafka, KAFKA_IMAGE_ENV, DEFAULT_KAFKA_IMAGE, log) if system == "kafka" else ""
    md = (
        _resolve(c, mariadb, MARIADB_IMAGE_ENV, DEFAULT_MARIADB_IMAGE, log)
        if system == "mariadb"
        else ""
    )
    return Images(
        postgres=pg,
        toxiproxy=_resolve(c, toxiproxy, TOXIPROXY_IMAGE_ENV, DEFAULT_TOXIPROXY_IMAGE, log),
        kafka=kf,
        mariadb=md,
    )


def resolve_patroni_image(
    given: str | None = None, *, client: docker.DockerClient | None = None, log: Log = _quiet
) -> str:
    """The image of a docker Patroni run's nodes and etcd: ``given``, else
    $RPOCHAOS_PATRONI_IMAGE, else ``rpochaos/patroni:4.1.5`` (built when missing or stale).
    An image named otherwise must be present or pullable (MissingDependency otherwise)."""
    c = client or engine.client()
    return _resolve(c, given, PATRONI_IMAGE_ENV, LOCAL_PATRONI_IMAGE, log)


def status(client: docker.DockerClient | None = None) -> dict[str, str]:
    """Each local image and the official ones: 'present', 'stale' (old recipe) or 'missing'."""
    c = client or engine.client()
    out: dict[str, str] = {}
    officials = (DEFAULT_PG_IMAGE, DEFAULT_KAFKA_IMAGE, DEFAULT_TOXIPROXY_IMAGE)
    for name in (*officials, DEFAULT_MARIADB_IMAGE, *_BUILDERS):
        if _labels(c, name) is None:
            out[name] = "missing"
        else:
            out[name] = "present" if _current(c, name) else "stale"
    return out


def doctor() -> list[deps.Check]:
    """The docker backend's dependencies, in the shape of ``deps.doctor()``: the engine, and
    which image each role would use (or what is missing). Never raises, never builds."""
    try:
        c = engine.client(timeout_s=10)
    except MissingDependency as e:
        return [deps.Check("docker-engine", False, e.install)]
    checks = [deps.Check("docker-engine", True, engine.version(c))]
    state = status(c)
    for role, official, local in (
        ("postgres", DEFAULT_PG_IMAGE, LOCAL_PG_IMAGE),
        ("kafka", DEFAULT_KAFKA_IMAGE, LOCAL_KAFKA_IMAGE),
        ("toxiproxy", DEFAULT_TOXIPROXY_IMAGE, LOCAL_TOXIPROXY_IMAGE),
        ("mariadb", DEFAULT_MARIADB_IMAGE, LOCAL_MARIADB_IMAGE),
    ):
        env = {
            "postgres": PG_IMAGE_ENV,
            "kafka": KAFKA_IMAGE_ENV,
            "mariadb": MARIADB_IMAGE_ENV,
        }.get(role, TOXIPROXY_IMAGE_ENV)
        chosen = os.environ.get(env)
        if chosen:
            ok = _labels(c, chosen) is not None
            detail = f"{chosen} (from ${env})" if ok else f"docker pull {chosen}"
        elif state[official] == "present":
            ok, detail = True, official
        elif state[local] == "present":
            ok, detail = True, f"{local} (local build; {official} is not present)"
        else:
            ok, detail = False, BUILD_COMMAND
        checks.append(deps.Check(f"image-{role}", ok, detail))
    c.close()
    return checks
