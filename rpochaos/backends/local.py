"""The local backend: servers as child processes on 127.0.0.1.

Each server runs in its own process group (so a crash kills the postmaster and every backend
at once, and a Ctrl-C in the terminal reaches only the harness, which then heals and tears
down in order). Unless the topology is kept, each child also gets PR_SET_PDEATHSIG=SIGKILL:
if the harness itself is killed with SIGKILL, the kernel kills its servers too, so nothing
outlives a run. When the harness runs as root, PostgreSQL runs as the unprivileged database
user (see ``rpochaos.deps.db_user``), since it refuses to run as root.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

from rpochaos import deps
from rpochaos.backends.base import Backend, Server
from rpochaos.errors import TopologyError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalServer(Server):
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self._signal_group(signal.SIGCONT)  # a paused group must not stay stopped as zombies
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - kernel did not deliver
            pass

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if not self.running():
            self._signal_group(signal.SIGKILL)  # orphans of a dead leader
            return
        self._signal_group(signal.SIGCONT)
        try:
            os.kill(self.popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def pause(self) -> None:
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)


class LocalBackend(Backend):
    name = "local"
    host = "127.0.0.1"

    def __init__(self, run_dir: Path, *, keep: bool = False) -> None:
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.user = deps.db_user()
        self._servers: list[LocalServer] = []
        self._lock = threading.Lock()
        self._closed = False

    def free_port(self) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((self.host, 0))
            return int(s.getsockname()[1])

    def _popen_kwargs(self, as_db_user: bool) -> dict[str, object]:
        kw: dict[str, object] = {"start_new_session": True}
        if as_db_user and self.user is not None:
            kw["user"] = self.user.pw_uid
            kw["group"] = self.user.pw_gid
            kw["extra_groups"] = []
            kw["env"] = {**os.environ, "HOME": self.user.pw_dir, "USER": self.user.pw_name}
        if not self.keep:
            kw["preexec_fn"] = _die_with_parent
        return kw

    def prepare_dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
            # the database user must be able to reach it: every parent needs o+x
            for parent in path.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    raise TopologyError(
                        f"{path} is under {parent} (mode {oct(mode & 0o777)}), which the "
                        f"database user {self.user.pw_name!r} cannot enter; pass --out with a "
                        "directory outside it (e.g. under /tmp or the project folder)"
                    )
        return path

    def run(self, argv: list[str], *, as_db_user: bool, timeout_s: float, what: str) -> str:
        kw = self._popen_kwargs(as_db_user)
        try:
            out = subprocess.run(  # type: ignore[call-overload]
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
                cwd="/",
                **kw,
            )
        except subprocess.TimeoutExpired as e:
            raise TopologyError(f"{what} did not finish within {timeout_s:g} s: {' '.join(argv)}") from e
        text = out.stdout.decode(errors="replace")
        if out.returncode != 0:
            raise TopologyError(
                f"{what} failed (exit {out.returncode}): {' '.join(argv)}\n{text.strip()[-2000:]}"
            )
        return str(text)

    def spawn(self, name: str, argv: list[str], *, as_db_user: bool) -> LocalServer:
        log_path = self.logs / f"{name}.log"
        with self._lock:
            if self._closed:
                raise TopologyError(f"cannot start {name}: the backend is already closed")
            log = open(log_path, "ab")  # noqa: SIM115 - owned by the child from here on
            try:
                popen = subprocess.Popen(  # type: ignore[call-overload]
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd="/", **self._popen_kwargs(as_db_user),
                )
            finally:
                log.close()
            server = LocalServer(name, popen, log_path)
            self._servers.append(server)
            return server

    def servers(self) -> list[LocalServer]:
        with self._lock:
            return list(self._servers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            servers, self._servers = self._servers, []
        for s in reversed(servers):
            if self.keep:
                continue
            s.kill()
