"""Finding Patroni and etcd, and saying how to install them.

Patroni runs in its own virtual environment (pinned ``PATRONI_REQUIREMENT``), built with
Debian's python3 by scripts/patroni-setup.sh. PostgreSQL refuses to run as root, so Patroni
runs as the database user and must be able to read that environment: a cache under root's
0700 home is out of its reach. Search order for the environment (first complete one wins;
complete = its stamp file holds ``PATRONI_REQUIREMENT`` and ``bin/patroni`` exists):

1. ``$RPOCHAOS_PATRONI_VENV``;
2. ``<cache>/patroni-<version>`` (``rpochaos.deps.cache_dir``), when we are not root or the
   database user can reach it;
3. ``/var/cache/rpochaos/patroni-<version>`` (where the set-up script puts it otherwise).

etcd and etcdctl: ``$RPOCHAOS_ETCD`` / ``$RPOCHAOS_ETCDCTL``, else on PATH (Debian's
``etcd-server`` and ``etcd-client`` put them in /usr/bin).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rpochaos.deps import cache_dir
from rpochaos.errors import MissingDependency

PATRONI_VERSION = "4.1.5"
PATRONI_REQUIREMENT = f"patroni[etcd3,psycopg3]=={PATRONI_VERSION}"
STAMP = ".rpochaos-installed"
SYSTEM_CACHE = Path("/var/cache/rpochaos")
SETUP = "bash scripts/patroni-setup.sh   (or: ./dev test, which runs it)"


def install_hint() -> str:
    """The command that installs Patroni and etcd."""
    return SETUP


def _reachable_by_others(path: Path) -> bool:
    """Every existing directory from / down to ``path`` lets others traverse it."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return all(q.stat().st_mode & 0o001 for q in (p, *p.parents))


def venv_candidates() -> list[Path]:
    """Where Patroni's environment may be, in search order."""
    if env := os.environ.get("RPOCHAOS_PATRONI_VENV"):
        return [Path(env)]
    out: list[Path] = []
    own = cache_dir() / f"patroni-{PATRONI_VERSION}"
    if os.geteuid() != 0 or _reachable_by_others(own):
        out.append(own)
    out.append(SYSTEM_CACHE / f"patroni-{PATRONI_VERSION}")
    return out


def _complete(venv: Path) -> bool:
    try:
        stamp = (venv / STAMP).read_text().strip()
    except OSError:
        return False
    return stamp == PATRONI_REQUIREMENT and os.access(venv / "bin" / "patroni", os.X_OK)


def patroni_venv() -> Path:
    """The directory of Patroni's complete environment; MissingDependency if there is none."""
    tried = venv_candidates()
    for venv in tried:
        if _complete(venv):
            return venv
    where = ", ".join(str(p) for p in tried)
    raise MissingDependency(f"Patroni {PATRONI_VERSION} (looked in {where})", install_hint())


def patroni() -> Path:
    """The ``patroni`` executable."""
    return patroni_venv() / "bin" / "patroni"


def patronictl() -> Path:
    """The ``patronictl`` executable."""
    return patroni_venv() / "bin" / "patronictl"


def _program(env: str, name: str, package: str) -> Path:
    if given := os.environ.get(env):
        p = Path(given)
        if os.access(p, os.X_OK):
            return p
        raise MissingDependency(f"{name} at ${env}={given}", install_hint())
    if found := shutil.which(name):
        return Path(found)
    raise MissingDependency(f"{name} (Debian {package})", install_hint())


def etcd() -> Path:
    """The etcd server executable."""
    return _program("RPOCHAOS_ETCD", "etcd", "etcd-server")


def etcdctl() -> Path:
    """The etcd command-line client."""
    return _program("RPOCHAOS_ETCDCTL", "etcdctl", "etcd-client")


def doctor_lines() -> list[tuple[str, bool, str]]:
    """``rpochaos doctor``'s Patroni lines (name, found, version and path or the install
    command): Patroni's environment and etcd, needed only by ``manager: patroni``."""
    out: list[tuple[str, bool, str]] = []
    try:
        out.append(("patroni", True, f"Patroni {PATRONI_VERSION} ({patroni_venv()})"))
    except MissingDependency as e:
        out.append(("patroni", False, f"{e.install}   (only for topology.manager: patroni)"))
    try:
        out.append(("etcd", True, str(etcd())))
    except MissingDependency as e:
        out.append(("etcd", False, f"{e.install}   (only for topology.manager: patroni)"))
    return out
