"""``rpochaos doctor``: every external program rpochaos drives, found (with its version) or
missing (with the command that installs it); what only some systems need is marked optional."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

from rpochaos.deps import (
    Check,
    db_user,
    pg_bindir,
    program_version,
    toxiproxy_server,
)
from rpochaos.errors import MissingDependency
from rpochaos.mariadb.deps import doctor_check as mariadb_check
from rpochaos.patroni.deps import doctor_lines


def doctor() -> list[Check]:
    """Every external dependency, found (with version) or missing (with its install command).
    PostgreSQL, Toxiproxy and the database user are required (the PostgreSQL scenarios need
    them); the others only by some systems."""
    checks: list[Check] = []
    try:
        d = pg_bindir()
        checks.append(
            Check(
                "postgresql", True, f"{program_version([str(d / 'postgres'), '--version'])} ({d})"
            )
        )
    except MissingDependency as e:
        checks.append(Check("postgresql", False, e.install))
    try:
        t = toxiproxy_server()
        checks.append(Check("toxiproxy", True, f"{program_version([str(t), '-version'])} ({t})"))
    except MissingDependency as e:
        checks.append(Check("toxiproxy", False, e.install))
    try:
        u = db_user()
        checks.append(
            Check(
                "postgres-user", True, u.pw_name if u else f"(not root: runs as uid {os.geteuid()})"
            )
        )
    except MissingDependency as e:
        checks.append(Check("postgres-user", False, e.install))
    checks.append(replace(mariadb_check(), required=False))
    go = shutil.which("go")
    checks.append(
        Check(
            "go",
            go is not None,
            program_version(["go", "version"])
            if go
            else "needed only to build Toxiproxy: install Go >= 1.23",
            required=False,
        )
    )
    checks += [Check(*line, required=False) for line in doctor_lines()]
    return checks
