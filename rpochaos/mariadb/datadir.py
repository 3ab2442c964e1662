"""Data directories: made once by ``mariadb-install-db``, copied for every node after that.

``mariadb-install-db`` takes 1-6 s per node on a loaded 2-core machine, a copy of its result
0.3 s, and nothing in a fresh MariaDB data directory is specific to one server (server ids
are command-line options; there is no binlog yet). So the first install on a machine is
kept as a template in ``<cache>/mariadb/<key>/data`` (``rpochaos.deps.cache_dir``; the key
is the server's version and the install options) and every node's data directory is a copy
of it, owned by the server's account. A template is complete when its stamp file exists
(written last, after an atomic rename); concurrent runs take a lock so only one installs.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from rpochaos.deps import cache_dir, program_version
from rpochaos.errors import TopologyError
from rpochaos.mariadb import deps

STAMP = ".rpochaos-complete"


@functools.cache
def _server_version() -> str:
    return program_version([str(deps.mariadbd()), "--version"])


def template_root(install_args: list[str]) -> Path:
    """Where the template for ``install_args`` (the options after ``--datadir``) lives."""
    key = hashlib.sha256("\0".join([_server_version(), *install_args]).encode()).hexdigest()
    return cache_dir() / "mariadb" / key[:16]


def _chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
    os.lchown(path, user.pw_uid, user.pw_gid)


def _copy(src: Path, dst: Path) -> None:
    out = subprocess.run(
        ["cp", "-a", "--reflink=auto", str(src), str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise TopologyError(f"copying {src} to {dst} failed: {out.stderr.strip()[-500:]}")


def make(
    data_dir: Path,
    install_args: list[str],
    install: Callable[[Path], None],
    user: pwd.struct_passwd | None,
) -> bool:
    """Create ``data_dir`` (which must not exist) as a copy of the template, owned by
    ``user``; when there is no template yet, ``install(data_dir)`` makes it in place and
    it becomes the template. True when it was copied."""
    root = template_root(install_args)
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        template = root / "data"
        if (root / STAMP).exists() and template.is_dir():
            _copy(template, data_dir)
            _chown_tree(data_dir, user)
            return True
        install(data_dir)
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _copy(data_dir, tmp / "data")
        (tmp / STAMP).write_text(_server_version() + "\n")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        return False
