"""Finding MariaDB's programs and the account its servers run as.

``mariadbd`` and ``mariadb-install-db``: ``$RPOCHAOS_MARIADB_BINDIR`` (both in it), else
Debian's places (/usr/sbin/mariadbd, mariadb-install-db on PATH). Set-up:
scripts/mariadb-setup.sh (``./dev test`` runs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rpochaos.deps import unprivileged_user
from rpochaos.errors import MissingDependency

if TYPE_CHECKING:
    from rpochaos.deps import Check

SETUP = "bash scripts/mariadb-setup.sh   (or: ./dev test, which runs it)"


def _found(name: str, default: str | None) -> Path:
    if given := os.environ.get("RPOCHAOS_MARIADB_BINDIR"):
        p = Path(given) / name
        if os.access(p, os.X_OK):
            return p
        raise MissingDependency(f"{name} in $RPOCHAOS_MARIADB_BINDIR={given}", SETUP)
    if default is not None and os.access(default, os.X_OK):
        return Path(default)
    if on_path := shutil.which(name):
        return Path(on_path)
    raise MissingDependency(f"MariaDB's {name} (Debian mariadb-server)", SETUP)


def mariadbd() -> Path:
    """The server program."""
    return _found("mariadbd", "/usr/sbin/mariadbd")


def install_db() -> Path:
    """``mariadb-install-db``, which creates a data directory."""
    return _found("mariadb-install-db", None)


def mysql_user() -> pwd.struct_passwd | None:
    """The unprivileged account the servers run as when we are root: $RPOCHAOS_MARIADB_USER,
    else ``mysql`` (Debian's package creates it). None when we are not root (they run as
    ourselves)."""
    return unprivileged_user("RPOCHAOS_MARIADB_USER", "mysql", "MariaDB runs as", lambda _: SETUP)


def check() -> None:
    """MissingDependency for the first thing a MariaDB cluster needs that is not there."""
    mariadbd()
    install_db()
    mysql_user()


def doctor_check() -> Check:
    """The ``mariadb`` line of ``rpochaos doctor``: the server's version and path, or the
    set-up command."""
    from rpochaos.deps import Check, program_version

    try:
        check()
        d = mariadbd()
    except MissingDependency as e:
        return Check("mariadb", False, e.install)
    return Check("mariadb", True, f"{program_version([str(d), '--version'])} ({d})")
