"""Container images for the docker backend: which ones a run uses, and local equivalents.

Which image (``resolve_images``), for PostgreSQL (or Kafka) and for Toxiproxy each:

1. the name given (scenario, CLI or pytest option), else $RPOCHAOS_PG_IMAGE /
   $RPOCHAOS_KAFKA_IMAGE / $RPOCHAOS_TOXIPROXY_IMAGE, else the official image:
   ``postgres:15``, ``apache/kafka:3.9.2`` and ``ghcr.io/shopify/toxiproxy:2.12.0``;
2. that image when the engine has it; else a pull of it when a registry answers;
3. else, for the official defaults only, the local equivalent (``rpochaos/postgres:15``,
   ``rpochaos/kafka:3.9.2``, ``rpochaos/toxiproxy:2.12.0``), built once when missing. An
   image named explicitly that is neither present nor pullable is an error
   (MissingDependency) that says how to fix it: an explicit choice is never silently
   replaced. Naming a local image (``rpochaos/...``) explicitly builds it when missing.

The local equivalents (``build_images``; also ``python -m rpochaos.images build`` and
``scripts/docker-setup.sh``), for machines where no container registry answers:

- ``rpochaos/debian:bookworm``: ``debootstrap --variant=minbase bookworm`` from the Debian
  mirror apt uses on this machine ($RPOCHAOS_DEBIAN_MIRROR overrides), imported with
  ``docker import``;
- ``rpochaos/postgres:15``: FROM that base, Debian's postgresql-15, libfaketime, faketime
  and procps; like the official image, the binaries are on PATH, the ``postgres`` user
  exists, STOPSIGNAL is SIGINT;
- ``rpochaos/kafka:3.9.2``: FROM that base, Debian's openjdk-17-jre-headless and the broker
  jars of the cache (``rpochaos.kafka.jars``, fetched from Maven Central) in
  ``/opt/kafka/libs``, with the user ``appuser``: the layout of the official
  ``apache/kafka`` image that rpochaos relies on (``java`` on PATH, ``/opt/kafka/libs``,
  ``appuser``), nothing else;
- ``rpochaos/toxiproxy:2.12.0``: FROM scratch with the static (CGO_ENABLED=0) server and CLI
  that ``go install github.com/Shopify/toxiproxy/v2/cmd/{server,cli}@v2.12.0`` builds, laid
  out as in the official image (``/toxiproxy``, ``/toxiproxy-cli``).

Each local image carries the label ``rpochaos.recipe``: a hash of its recipe. An image whose
recipe changed counts as missing and is rebuilt. Builds take a file lock, so parallel test
workers build once.

Nothing here depends on an image's entrypoint: the backend names the program to run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rpochaos import deps
from rpochaos.backends import engine
from rpochaos.errors import MissingDependency, RpochaosError
from rpochaos.kafka.jars import KAFKA_VERSION

if TYPE_CHECKING:
    import docker

Log = Callable[[str], None]

PG_IMAGE_ENV = "RPOCHAOS_PG_IMAGE"
KAFKA_IMAGE_ENV = "RPOCHAOS_KAFKA_IMAGE"
TOXIPROXY_IMAGE_ENV = "RPOCHAOS_TOXIPROXY_IMAGE"
MIRROR_ENV = "RPOCHAOS_DEBIAN_MIRROR"

DEFAULT_PG_IMAGE = "postgres:15"
DEFAULT_TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
BASE_IMAGE = "rpochaos/debian:bookworm"
LOCAL_PG_IMAGE = "rpochaos/postgres:15"
LOCAL_TOXIPROXY_IMAGE = "rpochaos/toxiproxy:2.12.0"
DEFAULT_KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
LOCAL_KAFKA_IMAGE = f"rpochaos/kafka:{KAFKA_VERSION}"
#: where the Kafka jars are in the official image and in ours
KAFKA_LIBS_IN_IMAGE = "/opt/kafka/libs"
#: official image -> the local equivalent used when it cannot be had
LOCAL_EQUIVALENT = {
    DEFAULT_PG_IMAGE: LOCAL_PG_IMAGE,
    DEFAULT_KAFKA_IMAGE: LOCAL_KAFKA_IMAGE,
    DEFAULT_TOXIPROXY_IMAGE: LOCAL_TOXIPROXY_IMAGE,
}
BUILD_COMMAND = "rpochaos images build   (or: scripts/docker-setup.sh)"
RECIPE_LABEL = "rpochaos.recipe"
#: carried by every local image (and so by every container made from one)
IMAGE_LABEL = "rpochaos.image"

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_TAG = deps.TOXIPROXY_VERSION  # "v2.12.0"

PG_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -eux; \\
    mkdir -p /etc/postgresql-common; \\
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        postgresql-15 libfaketime faketime procps; \\
    apt-get clean; rm -rf /var/lib/apt/lists/*; \\
    mkdir -p /var/lib/postgresql/data /var/run/postgresql; \\
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql; \\
    ln -s "$(dpkg -L libfaketime | grep '/libfaketime.so.1$' | head -1)" /usr/lib/libfaketime.so.1
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
"""

KAFKA_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -eux; \\
    apt-get update; \\
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        openjdk-17-jre-headless procps; \\
    apt-get clean; rm -rf /var/lib/apt/lists/*; \\
    useradd --create-home --shell /bin/bash appuser
COPY libs {KAFKA_LIBS_IN_IMAGE}
ENV LANG=C.UTF-8
STOPSIGNAL SIGTERM
EXPOSE 9092
USER appuser
"""

TOXIPROXY_DOCKERFILE = """\
FROM scratch
COPY toxiproxy /toxiproxy
COPY toxiproxy-cli /toxiproxy-cli
EXPOSE 8474
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
"""


def _quiet(_: str) -> None:
    pass


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Images:
    """The images one docker run uses."""

    postgres: str
    toxiproxy: str
    kafka: str = ""  # only runs of a Kafka scenario need it


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


# -- the Debian mirror ------------------------------------------------------------------------


def _apt_entries(root: Path = Path("/etc/apt")) -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every 'deb' entry apt is configured with."""
    out: list[tuple[str, list[str], list[str]]] = []
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for f in files:
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    out.append((words[1], [words[2]], words[3:]))
    for f in sorted((root / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            for stanza in re.split(r"\n\s*\n", f.read_text()):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    out.append(
                        (
                            uri,
                            fields.get("suites", "").split(),
                            fields.get("components", "").split(),
                        )
                    )
    return out


def debian_sources(root: Path = Path("/etc/apt")) -> list[tuple[str, str]]:
    """(uri, suite) of the Debian bookworm main, -updates and -security entries apt uses here.
    $RPOCHAOS_DEBIAN_MIRROR replaces the main mirror."""
    wanted = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
    found: list[tuple[str, str]] = []
    for uri, suites, components in _apt_entries(root):
        for suite in suites:
            if suite in wanted and "main" in components and (uri, suite) not in found:
                found.append((uri.rstrip("/"), suite))
    if env := os.environ.get(MIRROR_ENV):
        found = [(env.rstrip("/"), SUITE)] + [(u, s) for u, s in found if s != SUITE]
    if not any(s == SUITE for _, s in found):
        found.insert(0, (DEFAULT_MIRROR, SUITE))
    return found


def debian_mirror(root: Path = Path("/etc/apt")) -> str:
    return next(u for u, s in debian_sources(root) if s == SUITE)


# -- recipes ----------------------------------------------------------------------------------


def _base_recipe() -> str:
    return _digest("base", SUITE, "minbase", *(f"{u} {s}" for u, s in debian_sources()))


def _recipes() -> dict[str, str]:
    """Local image -> hash of its recipe (the base's recipe is part of the PostgreSQL one)."""
    return {
        BASE_IMAGE: _base_recipe(),
        LOCAL_PG_IMAGE: _digest("postgres", PG_DOCKERFILE),
        LOCAL_TOXIPROXY_IMAGE: _digest("toxiproxy", TOXIPROXY_DOCKERFILE, TOXIPROXY_TAG),
        LOCAL_KAFKA_IMAGE: _digest("kafka", KAFKA_DOCKERFILE, KAFKA_VERSION),
    }


def _labels(c: docker.DockerClient, name: str) -> dict[str, str] | None:
    """The image's labels (possibly empty), or None when the engine does not have it."""
    import docker.errors

    try:
        img = c.images.get(name)
    except docker.errors.ImageNotFound:
        return None
    cfg = img.attrs.get("Config") or {}
    return dict(cfg.get("Labels") or {})


def _current(c: docker.DockerClient, name: str) -> bool:
    """True when the engine has ``name`` and, for a local image, built from today's recipe."""
    labels = _labels(c, name)
    if labels is None:
        return False
    recipe = _recipes().get(name)
    if recipe is None or name == BASE_IMAGE:  # 'docker import' cannot label; the tag is enough
        return True
    return labels.get(RECIPE_LABEL) == recipe


# -- building ---------------------------------------------------------------------------------


def _cmd(
    argv: list[str], *, what: str, timeout_s: float, env: Mapping[str, str] | None = None
) -> str:
    try:
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise RpochaosError(f"{what} did not finish within {timeout_s:g} s: {argv}") from e
    except OSError as e:
        raise RpochaosError(f"{what} could not start: {argv}: {e}") from e
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-30:])
        raise RpochaosError(f"{what} failed (exit {out.returncode}): {' '.join(argv)}\n{tail}")
    return out.stdout


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    path = deps.cache_dir() / "images.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _workdir(prefix: str) -> Path:
    root = deps.cache_dir() / "build"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def _build_base(c: docker.DockerClient, log: Log) -> None:
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise MissingDependency(
            "debootstrap (to build the Debian base image)", "apt-get install -y debootstrap"
        )
    if os.geteuid() != 0:
        raise MissingDependency("root (debootstrap must run as root)", "sudo rpochaos images build")
    sources = debian_sources()
    mirror = next(u for u, s in sources if s == SUITE)
    work = _workdir("rootfs-")
    try:
        root = work / "root"
        log(f"debootstrap --variant=minbase {SUITE} from {mirror}")
        _cmd(
            [debootstrap, "--variant=minbase", SUITE, str(root), mirror],
            what="debootstrap",
            timeout_s=1800,
        )
        (root / "etc/apt/sources.list").write_text(
            "".join(f"deb {u} {s} main\n" for u, s in sources)
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = work / "rootfs.tar"
        _cmd(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tar), "."],
            what="tar of the root file system",
            timeout_s=600,
        )
        log(f"docker import -> {BASE_IMAGE}")
        repo, tag = BASE_IMAGE.rsplit(":", 1)
        c.api.import_image_from_file(
            str(tar), repository=repo, tag=tag, changes=['CMD ["bash"]', "ENV LANG=C.UTF-8"]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if _labels(c, BASE_IMAGE) is None:
        raise RpochaosError(f"docker import did not create {BASE_IMAGE}")


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


def _build_pg(c: docker.DockerClient, log: Log) -> None:
    if not _current(c, BASE_IMAGE):
        _build_base(c, log)
    work = _workdir("pg-")
    try:
        (work / "Dockerfile").write_text(PG_DOCKERFILE)
        _docker_build(c, work, LOCAL_PG_IMAGE, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


_BUILDERS: dict[str, Callable[[docker.DockerClient, Log], None]] = {
    BASE_IMAGE: _build_base,
    LOCAL_PG_IMAGE: _build_pg,
    LOCAL_TOXIPROXY_IMAGE: _build_toxiproxy,
    LOCAL_KAFKA_IMAGE: _build_kafka,
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
    base, rpochaos/postgres:15, rpochaos/toxiproxy:2.12.0 and rpochaos/kafka:3.9.2 (``kafka``:
    None builds the Kafka image only when the Kafka jars are in the cache). Returns what was
    done, with timings. Raises MissingDependency for a missing engine or tool."""
    c = client or engine.client()
    want_kafka = _kafka_jars_present() if kafka is None else kafka
    names = [n for n in _BUILDERS if n != LOCAL_KAFKA_IMAGE or want_kafka]
    return [ensure_local(n, client=c, force=force, log=log) for n in names]


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
) -> Images:
    """The images a docker run of a ``system`` ("postgres" or "kafka") scenario uses (see the
    module docstring for the order); the other system's image is left empty."""
    c = client or engine.client()
    pg = _resolve(c, postgres, PG_IMAGE_ENV, DEFAULT_PG_IMAGE, log) if system == "postgres" else ""
    kf = _resolve(c, kafka, KAFKA_IMAGE_ENV, DEFAULT_KAFKA_IMAGE, log) if system == "kafka" else ""
    return Images(
        postgres=pg,
        toxiproxy=_resolve(c, toxiproxy, TOXIPROXY_IMAGE_ENV, DEFAULT_TOXIPROXY_IMAGE, log),
        kafka=kf,
    )


def status(client: docker.DockerClient | None = None) -> dict[str, str]:
    """Each local image and the official ones: 'present', 'stale' (old recipe) or 'missing'."""
    c = client or engine.client()
    out: dict[str, str] = {}
    for name in (DEFAULT_PG_IMAGE, DEFAULT_KAFKA_IMAGE, DEFAULT_TOXIPROXY_IMAGE, *_BUILDERS):
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
    ):
        env = {"postgres": PG_IMAGE_ENV, "kafka": KAFKA_IMAGE_ENV}.get(role, TOXIPROXY_IMAGE_ENV)
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


def main(argv: list[str] | None = None) -> int:
    """``python -m rpochaos.images build [--force]`` / ``status``."""
    p = argparse.ArgumentParser(prog="python -m rpochaos.images")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the local images that are missing")
    b.add_argument("--force", action="store_true", help="rebuild even when present")
    sub.add_parser("status", help="which images the engine has")
    a = p.parse_args(argv)

    def say(msg: str) -> None:
        print(f"[images] {msg}", file=sys.stderr, flush=True)

    try:
        if a.cmd == "build":
            for step in build_images(a.force, log=say):
                print(step)
        else:
            for name, state in status().items():
                print(f"{name}: {state}")
    except MissingDependency as e:
        print(f"error: {e}", file=sys.stderr)
        return 254
    except RpochaosError as e:
        print(f"error: {e}", file=sys.stderr)
        return 255
    return 0


if __name__ == "__main__":
    sys.exit(main())
