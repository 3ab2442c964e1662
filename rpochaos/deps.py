"""Finding the external programs rpochaos drives, and saying how to install missing ones.

Search order (first hit wins):
- PostgreSQL server binaries: $RPOCHAOS_PG_BINDIR; the newest /usr/lib/postgresql/*/bin that
  has ``postgres``; the directory of ``postgres`` on PATH.
- Toxiproxy server: $RPOCHAOS_TOXIPROXY; ``<cache>/bin/toxiproxy-server``; ``<cache>/bin/server``
  (what ``go install .../cmd/server`` names it); ``toxiproxy-server`` on PATH.
The cache is $RPOCHAOS_CACHE, else $XDG_CACHE_HOME/rpochaos, else ~/.cache/rpochaos.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rpochaos.errors import MissingDependency

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_INSTALL = (
    f"GOBIN={{cache}}/bin go install github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}"
    "   (or: ./dev setup)"
)
POSTGRES_INSTALL = "apt-get update && apt-get install -y postgresql-15   (or: ./dev setup)"
PG_TOOLS = ("initdb", "postgres", "pg_basebackup", "pg_ctl")


def cache_dir() -> Path:
    if env := os.environ.get("RPOCHAOS_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rpochaos"


def _version_key(p: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)


def pg_bindir() -> Path:
    """Directory holding initdb, postgres, pg_basebackup and pg_ctl."""
    candidates: list[Path] = []
    if env := os.environ.get("RPOCHAOS_PG_BINDIR"):
        candidates.append(Path(env))
    else:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
        candidates.extend(found)
        if on_path := shutil.which("postgres"):
            candidates.append(Path(on_path).resolve().parent)
    for c in candidates:
        if all((c / t).exists() for t in PG_TOOLS):
            return c
    raise MissingDependency("PostgreSQL server (initdb, postgres, pg_basebackup)", POSTGRES_INSTALL)


def toxiproxy_server() -> Path:
    """Path of the Toxiproxy server binary."""
    if env := os.environ.get("RPOCHAOS_TOXIPROXY"):
        p = Path(env)
        if p.exists():
            return p
        raise MissingDependency(f"Toxiproxy server at $RPOCHAOS_TOXIPROXY={env}", _tp_hint())
    for p in (cache_dir() / "bin" / "toxiproxy-server", cache_dir() / "bin" / "server"):
        if p.exists():
            return p
    if on_path := shutil.which("toxiproxy-server"):
        return Path(on_path)
    raise MissingDependency(f"Toxiproxy server {TOXIPROXY_VERSION}", _tp_hint())


def _tp_hint() -> str:
    return TOXIPROXY_INSTALL.format(cache=cache_dir())


def unprivileged_user(
    env_var: str, default: str, runs: str, fix: Callable[[str], str]
) -> pwd.struct_passwd | None:
    """The account a server runs as when we are root: the one named by $``env_var``, else
    ``default``. None when we are not root (the server runs as ourselves). When there is no
    such account, MissingDependency "the unprivileged user 'NAME' that ``runs``", with
    ``fix(NAME)`` as the fix."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(env_var, default)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise MissingDependency(f"the unprivileged user {name!r} that {runs}", fix(name)) from None


def db_user() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (it refuses root):
    $RPOCHAOS_PG_USER, else 'postgres'. None when we are not root (run as ourselves)."""
    return unprivileged_user(
        "RPOCHAOS_PG_USER",
        "postgres",
        "PostgreSQL runs as (it refuses to run as root)",
        lambda name: f"useradd --system {name}   (or set RPOCHAOS_PG_USER to an existing user)",
    )


def program_version(argv: list[str]) -> str:
    """First line a program prints for its version flag, or 'unknown'."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


@dataclass(frozen=True)
class Check:
    name: str
    found: bool
    detail: str  # version or path when found; install command when missing
    #: False for what only some systems need (Patroni, etcd, MariaDB, Go): missing, it does
    #: not make ``rpochaos doctor`` fail
    required: bool = True


def node_shim() -> Path:
    """The LD_PRELOAD shim behind io_stall and clock_skew, compiled from
    rpochaos/native/nodeshim.c into the cache on first use (keyed by the source's hash, so an
    edited source is rebuilt)."""
    import hashlib

    src = Path(__file__).parent / "native" / "nodeshim.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    lib = cache_dir() / "lib" / f"librpochaos-node-{digest}.so"
    if lib.exists():
        return lib
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise MissingDependency(
            "a C compiler (to build the node-fault shim)",
            "apt-get install -y gcc   (or: ./dev setup)",
        )
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(".tmp")
    out = subprocess.run(
        [cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise MissingDependency(
            f"the node-fault shim (cc failed: {out.stderr.strip()[-300:]})",
            "apt-get install -y gcc libc6-dev",
        )
    os.chmod(tmp, 0o755)
    tmp.replace(lib)
    return lib
