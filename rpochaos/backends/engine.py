"""Reaching the Docker engine through the Docker SDK for Python (the ``docker`` package).

``client()`` returns a connected ``docker.DockerClient`` (it honours DOCKER_HOST and the other
DOCKER_* variables, like the ``docker`` CLI) or raises MissingDependency saying how to get an
engine. The SDK is imported lazily, so the local backend works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rpochaos.errors import MissingDependency

if TYPE_CHECKING:
    import docker

ENGINE_INSTALL = (
    "scripts/docker-setup.sh   (installs Debian's docker.io when no engine answers, starts "
    "dockerd in the background and builds the images rpochaos needs)"
)
SDK_INSTALL = "pip install 'docker>=7.1'"


def client(timeout_s: float = 120.0) -> docker.DockerClient:
    """A client of the engine that answers ``ping``; MissingDependency when there is none."""
    try:
        import docker
    except ImportError:
        raise MissingDependency(
            "the Docker SDK for Python (package 'docker')", SDK_INSTALL
        ) from None
    try:
        c = docker.from_env(timeout=int(timeout_s))
        c.ping()
    except Exception as e:  # the SDK raises DockerException, requests' and OSError subclasses
        raise MissingDependency(f"a Docker engine that answers ({e})", ENGINE_INSTALL) from e
    return c


def available() -> bool:
    """True when the SDK is installed and an engine answers."""
    try:
        client(timeout_s=10).close()
    except MissingDependency:
        return False
    return True


def version(c: docker.DockerClient) -> str:
    """'Docker Engine 20.10.24+dfsg1 (API 1.41)'"""
    try:
        v = c.version()
    except Exception as e:
        return f"unknown ({e})"
    return f"Docker Engine {v.get('Version', '?')} (API {v.get('ApiVersion', '?')})"
