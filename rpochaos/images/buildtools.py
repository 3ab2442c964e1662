"""What every build uses: host commands with a timeout (``_cmd``: RpochaosError with the
output's tail on failure), scratch directories under the cache, and the file lock that makes
parallel processes build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from rpochaos import deps
from rpochaos.errors import RpochaosError


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
