"""The per-image builds (``rpochaos/postgres``, ``rpochaos/toxiproxy``, ``rpochaos/kafka``,
``rpochaos/mariadb``, ``rpochaos/patroni``, on top of the Debian base) and ``ensure_local`` /
``build_images``,
which build only what is missing or stale, under the build lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rpochaos.backends import engine
from rpochaos.errors import MissingDependency, RpochaosError
from rpochaos.images.base import _build_base
from rpochaos.images.buildtools import _build_lock, _cmd, _workdir
from rpochaos.images.leftovers import _remove_build_leftovers
from rpochaos.images.names import (
    BASE_IMAGE,
    IMAGE_LABEL,
    LOCAL_KAFKA_IMAGE,
    LOCAL_MARIADB_IMAGE,
    LOCAL_PATRONI_IMAGE,
    LOCAL_PG_IMAGE,
    LOCAL_TOXIPROXY_IMAGE,
    RECIPE_LABEL,
    TOXIPROXY_MODULE,
    TOXIPROXY_TAG,
    Log,
    _quiet,
)
from rpochaos.images.recipes import (
    KAFKA_DOCKERFILE,
    MARIADB_DOCKERFILE,
    PATRONI_DOCKERFILE,
    PG_DOCKERFILE,
    TOXIPROXY_DOCKERFILE,
    _current,
    _recipes,
)
from rpochaos.kafka.jars import KAFKA_VERSION

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class Step:
    """What ``build_images`` did for one image."""

    image: str
    action: str  # "present" | "built"
    seconds: float

    def __str__(self) -> str:
        if self.action == "present":
            return f"{self.image}: present"
        return f"{self.image}: {self.action} in {self.seconds:.1f} s"


def _docker_build(c: docker.DockerClient, context: Path, tag: str, log: Log) -> None:
    """``docker build`` of ``context`` as ``tag``. On any failure (a failing step, an engine
    error, a client timeout, an interrupt) the containers the build left are removed first
    (``_remove_build_leftovers``), then RpochaosError (or the interrupt) is raised."""
    import docker.errors
    import requests

    log(f"docker build -> {tag}")
    before = {str(x.id) for x in c.containers.list(all=True)}
    try:
        c.images.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            labels={RECIPE_LABEL: _recipes()[tag], IMAGE_LABEL: "1"},
        )
    except docker.errors.BuildError as e:
        _remove_build_leftovers(c, tag, before)
        lines = [str(x.get("stream") or x.get("error") or "").rstrip() for x in e.build_log]
        tail = "\n".join(ln for ln in lines if ln)[-3000:]
        raise RpochaosError(f"docker build of {tag} failed: {e}\n{tail}") from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        _remove_build_leftovers(c, tag, before)
        raise RpochaosError(f"docker build of {tag} failed: {e}") from e
    except BaseException:
        _remove_build_leftovers(c, tag, before)
        raise


def _build_on_base(
    c: docker.DockerClient, log: Log, dockerfile: str, tag: str, prefix: str
) -> None:
    """Build ``tag`` from ``dockerfile`` alone (an image FROM the Debian base, which is built
    first when missing or stale)."""
    if not _current(c, BASE_IMAGE):
        _build_base(c, log)
    work = _workdir(prefix)
    try:
        (work / "Dockerfile").write_text(dockerfile)
        _docker_build(c, work, tag, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_pg(c: docker.DockerClient, log: Log) -> None:
    _build_on_base(c, log, PG_DOCKERFILE, LOCAL_PG_IMAGE, "pg-")


def _build_mariadb(c: docker.DockerClient, log: Log) -> None:
    _build_on_base(c, log, MARIADB_DOCKERFILE, LOCAL_MARIADB_IMAGE, "mariadb-")


def is_static(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header (no dynamic loader)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return False
    is64 = data[4] == 2
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"

    def num(off: int, size: int) -> int:
        return int.from_bytes(data[off : off + size], order)

    if is64:
        phoff, phentsize, phnum = num(0x20, 8), num(0x36, 2), num(0x38, 2)
    else:
        phoff, phentsize, phnum = num(0x1C, 4), num(0x2A, 2), num(0x2C, 2)
    return all(num(phoff + i * phentsize, 4) != 3 for i in range(phnum))  # 3 = PT_INTERP


def _build_toxiproxy(c: docker.DockerClient, log: Log) -> None:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise MissingDependency(
            "Go >= 1.23 (to build the static Toxiproxy server for its image)",
            "install Go >= 1.23, then: rpochaos images build",
        )
    work = _workdir("toxiproxy-")
    try:
        bin_dir = work / "bin"
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOBIN": str(bin_dir),
            "GOFLAGS": "-mod=mod",
        }
        version = TOXIPROXY_TAG.lstrip("v")
        log(f"CGO_ENABLED=0 go install {TOXIPROXY_MODULE}/cmd/{{server,cli}}@{TOXIPROXY_TAG}")
        _cmd(
            [
                go,
                "install",
                "-trimpath",
                f"-ldflags=-s -w -X {TOXIPROXY_MODULE}.Version={version}",
                f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_TAG}",
                f"{TOXIPROXY_MODULE}/cmd/cli@{TOXIPROXY_TAG}",
            ],
            what="go install of the Toxiproxy server",
            timeout_s=1800,
            env=env,
        )
        for built, name in (("server", "toxiproxy"), ("cli", "toxiproxy-cli")):
            src = bin_dir / built
            if not is_static(src):
                raise RpochaosError(
                    f"{src} is dynamically linked although CGO_ENABLED=0; it cannot run in an "
                    "image FROM scratch"
                )
            shutil.copy2(src, work / name)
        (work / "Dockerfile").write_text(TOXIPROXY_DOCKERFILE)
        _docker_build(c, work, LOCAL_TOXIPROXY_IMAGE, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_kafka(c: docker.DockerClient, log: Log) -> None:
    from rpochaos.kafka import jars

    jars.kafka_classpath(KAFKA_VERSION)  # MissingDependency with the fetch command
    libs = jars.libs_dir(KAFKA_VERSION)
    if not _current(c, BASE_IMAGE):
        _build_base(c, log)
    work = _workdir("kafka-")
    try:
        (work / "libs").mkdir()
        for jar in sorted(libs.glob("*.jar")):
            shutil.copy2(jar, work / "libs" / jar.name)
        (work / "Dockerfile").write_text(KAFKA_DOCKERFILE)
        _docker_build(c, work, LOCAL_KAFKA_IMAGE, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: Debian's interpreter and the modules ``pip wheel --no-build-isolation`` needs: Patroni's
#: wheelhouse is made for the image's python3 (the same bookworm Python 3.11)
WHEEL_PYTHON = "/usr/bin/python3"


def _wheelhouse(dest: Path, log: Log) -> None:
    """Wheels of Patroni's pinned requirement and all its dependencies in ``dest``, made on
    the host with Debian's python3 (``pip wheel``: pure-Python sdists such as ydiff are
    built into wheels here, with the host's setuptools, so the image needs no index)."""
    from rpochaos.patroni.deps import PATRONI_REQUIREMENT

    ok = Path(WHEEL_PYTHON).exists() and (
        subprocess.run(
            [WHEEL_PYTHON, "-c", "import setuptools, wheel, pip"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not ok:
        raise MissingDependency(
            f"{WHEEL_PYTHON} with pip, setuptools and wheel (to make Patroni's wheelhouse)",
            "apt-get install -y python3-pip python3-setuptools python3-wheel",
        )
    log(f"pip wheel {PATRONI_REQUIREMENT} (the image's wheelhouse)")
    _cmd(
        [
            WHEEL_PYTHON, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
            "--no-build-isolation", "-w", str(dest), PATRONI_REQUIREMENT,
        ],
        what=f"pip wheel of {PATRONI_REQUIREMENT}",
        timeout_s=900,
    )  # fmt: skip


def _build_patroni(c: docker.DockerClient, log: Log) -> None:
    if not _current(c, LOCAL_PG_IMAGE):  # under the build lock already: build it here
        _build_pg(c, log)
    work = _workdir("patroni-")
    try:
        _wheelhouse(work / "wheels", log)
        (work / "Dockerfile").write_text(PATRONI_DOCKERFILE)
        _docker_build(c, work, LOCAL_PATRONI_IMAGE, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_BUILDERS: dict[str, Callable[[docker.DockerClient, Log], None]] = {
    BASE_IMAGE: _build_base,
    LOCAL_PG_IMAGE: _build_pg,
    LOCAL_TOXIPROXY_IMAGE: _build_toxiproxy,
    LOCAL_KAFKA_IMAGE: _build_kafka,
    LOCAL_MARIADB_IMAGE: _build_mariadb,
    LOCAL_PATRONI_IMAGE: _build_patroni,
}


def _kafka_jars_present() -> bool:
    from rpochaos.kafka import jars

    try:
        jars.kafka_classpath(KAFKA_VERSION)
    except MissingDependency:
        return False
    return True


def ensure_local(
    name: str, *, client: docker.DockerClient | None = None, force: bool = False, log: Log = _quiet
) -> Step:
    """Build the local image ``name`` unless the engine has it from today's recipe."""
    if name not in _BUILDERS:
        raise ValueError(f"{name!r} is not one of the local images {sorted(_BUILDERS)}")
    c = client or engine.client()
    if not force and _current(c, name):
        return Step(name, "present", 0.0)
    with _build_lock():
        if not force and _current(c, name):  # another process built it meanwhile
            return Step(name, "present", 0.0)
        t = time.monotonic()
        _BUILDERS[name](c, log)
        return Step(name, "built", time.monotonic() - t)


def build_images(
    force: bool = False,
    *,
    kafka: bool | None = None,
    client: docker.DockerClient | None = None,
    log: Log = _quiet,
) -> list[Step]:
    """Build every local image that is missing (or all of them with ``force``): the Debian
    base, rpochaos/postgres:15, rpochaos/toxiproxy:2.12.0, rpochaos/mariadb:10.11,
    rpochaos/patroni:4.1.5 and
    rpochaos/kafka:3.9.2 (``kafka``:
    None builds the Kafka image only when the Kafka jars are in the cache). Returns what was
    done, with timings. Raises MissingDependency for a missing engine or tool."""
    c = client or engine.client()
    want_kafka = _kafka_jars_present() if kafka is None else kafka
    names = [n for n in _BUILDERS if n != LOCAL_KAFKA_IMAGE or want_kafka]
    return [ensure_local(n, client=c, force=force, log=log) for n in names]
