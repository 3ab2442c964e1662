"""The local backend: servers as child processes on 127.0.0.1.

Each server runs in its own process group (so a crash kills the postmaster and every backend
at once, and a Ctrl-C in the terminal reaches only the harness, which then heals and tears
down in order). Unless the topology is kept, each child also gets PR_SET_PDEATHSIG=SIGKILL:
if the harness itself is killed with SIGKILL, the kernel kills its servers too, so nothing
outlives a run. When the harness runs as root, PostgreSQL runs as the unprivileged database
user (see ``rpochaos.deps.db_user``), since it refuses to run as root.

Ownership and gc: ``<run dir>/pids.json`` names the run (``run_id``), its owner (the harness
process: pid and start time, so a reused pid is not mistaken for it) and every server it
started. ``gc`` kills the servers of runs whose owner is gone and deletes their data
directories (``<run dir>/data``, or the temporary directory it links to); with ``force``,
of the runs it is pointed at whoever owns them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from rpochaos import deps, procs
from rpochaos.backends.base import (
    Address,
    Backend,
    LinkAddress,
    Node,
    NodeKind,
    Server,
    wait_for_api,
)
from rpochaos.errors import TopologyError
from rpochaos.proxy import Toxiproxy
from rpochaos.watchdog import Check

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

    def _tree(self) -> list[int]:
        """The leader and every descendant. PostgreSQL's children call setsid(), so they are
        not in the leader's process group: signalling the group alone would miss them."""
        return procs.descendants(self.popen.pid)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        for pid in self._tree():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        # Freeze the whole tree, take its final list while nobody can fork, then SIGKILL
        # children before the leader: once the leader is dead its children are reparented
        # and could no longer be found by walking down from it.
        first = self._tree()
        for pid in first:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        pids = list(dict.fromkeys([*first, *self._tree()]))
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if not self.running():
            self._signal_group(signal.SIGKILL)  # orphans of a dead leader
            return
        self._signal_group(signal.SIGCONT)
        try:
            os.kill(self.popen.pid, sig)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout_s)
        self.kill()

    def pause(self) -> None:
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)


class RunsOneServer:
    """Mixin for a node run as one ``LocalServer``, held in ``server`` (None until the node
    starts it): ``running``, ``pid``, ``kill``, ``pause`` and ``resume`` act on that server.
    Before it is started the node is not running, has no pid, and the three actions do
    nothing. ``kill`` is a crash: SIGKILL to every process of the node at once, returning once
    they are dead."""

    server: LocalServer | None

    def running(self) -> bool:
        return self.server is not None and self.server.running()

    @property
    def pid(self) -> int | None:
        return self.server.pid if self.server is not None and self.server.running() else None

    def kill(self) -> None:
        if self.server is not None:
            self.server.kill()

    def pause(self) -> None:
        if self.server is not None:
            self.server.pause()

    def resume(self) -> None:
        if self.server is not None:
            self.server.resume()


class LocalNode(RunsOneServer, Node):
    """A node as processes on the host: data under the run's data root, server on 127.0.0.1
    on a free port, programs from ``deps.pg_bindir()``."""

    listen_host = "127.0.0.1"

    def __init__(
        self,
        backend: LocalBackend,
        name: str,
        datadir: Path,
        port: int,
        kind: NodeKind = "postgres",
    ) -> None:
        self.backend = backend
        self.name = name
        self.kind = kind
        self.datadir = str(datadir)
        self.port = port
        self.address = Address(backend.host, port)
        self.server: LocalServer | None = None
        self._bindir: Path | None = None
        # PostgreSQL refuses to run as root; the JVMs run as whoever runs the harness
        self.as_db_user = kind == "postgres"

    def program(self, name: str) -> str:
        if self.kind == "kafka":
            from rpochaos.kafka import jars

            if name != "java":
                raise TopologyError(f"a Kafka node has no program {name!r}")
            return str(jars.java_bin())
        if self._bindir is None:
            self._bindir = deps.pg_bindir()
        return str(self._bindir / name)

    def more_ports(self, count: int) -> list[int]:
        return [self.backend.free_port() for _ in range(count)]

    def prepare(self) -> None:
        self.backend.prepare_dir(Path(self.datadir), as_db_user=self.as_db_user)

    def run(self, argv: list[str], *, timeout_s: float, what: str) -> str:
        return self.backend.run(argv, as_db_user=self.as_db_user, timeout_s=timeout_s, what=what)

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.server = self.backend.spawn(self.name, argv, as_db_user=self.as_db_user, env=env)

    def stop(self, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if self.server is not None:
            self.server.stop(timeout_s=timeout_s, sig=sig)

    def log_tail(self, lines: int = 20) -> str:
        return self.server.log_tail(lines) if self.server is not None else "(not started)"


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
        self._data_root: Path | None = None
        self._given: set[int] = set()  # ports handed out by free_port
        self.run_id = uuid.uuid4().hex[:10]

    # -- the node contract -------------------------------------------------------------------

    def node(
        self, name: str, *, data_dir: Path | None = None, kind: NodeKind = "postgres"
    ) -> LocalNode:
        datadir = data_dir if data_dir is not None else self.data_root() / name
        return LocalNode(self, name, datadir, self.free_port(), kind)

    def link(self, name: str, dst: Node, *, harness: bool, port: int | None = None) -> LinkAddress:
        at = Address(self.host, self.free_port())
        return LinkAddress(
            listen=str(at),
            upstream=str(self.direct(dst, port)),
            peer=at,
            harness=at if harness else None,
        )

    def direct(self, dst: Node, port: int | None = None) -> Address:
        return Address(dst.address.host, port if port is not None else dst.address.port)

    def host_dir(self, name: str) -> Path:
        """``<data root>/<name>``, owned by the database user (removed with the data)."""
        return self.prepare_dir(self.data_root() / name)

    def start_proxy(self, timeout_s: float = 15.0) -> Toxiproxy:
        """Start this run's Toxiproxy server (``deps.toxiproxy_server()``) on a free port of
        127.0.0.1 and return a client once its API answers."""
        binary = deps.toxiproxy_server()
        port = self.free_port()
        server = self.spawn(
            "toxiproxy", [str(binary), "-host", self.host, "-port", str(port)], as_db_user=False
        )
        return wait_for_api(
            Toxiproxy(f"http://{self.host}:{port}", timeout_s=5.0),
            server.running,
            lambda: f"Toxiproxy did not answer on port {port}\n{server.log_tail()}",
            timeout_s,
        )

    def signals_processes(self) -> bool:
        return True

    def kept(self) -> list[str]:
        return [f"kept {s.name}: pid {s.pid}" for s in self.servers()]

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "run_id": self.run_id}

    def liveness(self) -> list[Check]:
        """What the watchdog watches of this backend: the Toxiproxy server process."""
        proxy = next((s for s in self.servers() if s.name == "toxiproxy"), None)
        if proxy is None:
            return []

        def detail() -> str:
            code = proxy.popen.returncode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
            return f"the Toxiproxy server, pid {proxy.pid}, is gone: {how}"

        return [Check("toxiproxy", proxy.running, detail)]

    # -- the process-level part ----------------------------------------------------------------

    def free_port(self) -> int:
        """A port of 127.0.0.1 free right now and not handed out before in this run (nodes
        and proxies bind theirs only later, so the kernel could offer one twice)."""
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((self.host, 0))
                port = int(s.getsockname()[1])
            with self._lock:
                if port not in self._given:
                    self._given.add(port)
                    return port
        raise TopologyError("could not find a free port on 127.0.0.1 not already handed out")

    def _popen_kwargs(
        self, as_db_user: bool, env: Mapping[str, str] | None = None
    ) -> dict[str, object]:
        kw: dict[str, object] = {"start_new_session": True}
        child_env: dict[str, str] | None = dict(env) if env else None
        if as_db_user and self.user is not None:
            kw["user"] = self.user.pw_uid
            kw["group"] = self.user.pw_gid
            kw["extra_groups"] = []
            child_env = {"HOME": self.user.pw_dir, "USER": self.user.pw_name, **(child_env or {})}
        if child_env is not None:
            kw["env"] = {**os.environ, **child_env}
        if not self.keep:
            kw["preexec_fn"] = _die_with_parent
        return kw

    def data_root(self) -> Path:
        """Where node data directories go: ``<run dir>/data``. When the database user cannot
        enter the run directory (e.g. pytest's 0700 tmp_path while we are root), the data go
        to a private temporary directory instead and ``<run dir>/data`` links to it."""
        if self._data_root is not None:
            return self._data_root
        link = self.run_dir / "data"
        if self.user is None or self._reachable(self.run_dir):
            link.mkdir(exist_ok=True)
            self._data_root = link
        else:
            tmp = Path(tempfile.mkdtemp(prefix="rpochaos-data-"))
            os.chmod(tmp, 0o711)
            if not link.exists():
                link.symlink_to(tmp, target_is_directory=True)
            self._data_root = tmp
        return self._data_root

    def _reachable(self, path: Path) -> bool:
        return all(p.stat().st_mode & 0o001 for p in (path, *path.parents))

    def remove_data(self) -> None:
        """Delete the data directories (and the link to them, if any)."""
        link = self.run_dir / "data"
        if self._data_root is not None:
            shutil.rmtree(self._data_root, ignore_errors=True)
        if link.is_symlink():
            link.unlink()

    def prepare_dir(self, path: Path, *, as_db_user: bool = True) -> Path:
        """Create ``path`` (mode 0700), owned by the database user unless ``as_db_user`` is
        false."""
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        if as_db_user and self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
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
            raise TopologyError(
                f"{what} did not finish within {timeout_s:g} s: {' '.join(argv)}"
            ) from e
        text = out.stdout.decode(errors="replace")
        if out.returncode != 0:
            raise TopologyError(
                f"{what} failed (exit {out.returncode}): {' '.join(argv)}\n{text.strip()[-2000:]}"
            )
        return str(text)

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        as_db_user: bool,
        env: Mapping[str, str] | None = None,
    ) -> LocalServer:
        log_path = self.logs / f"{name}.log"
        with self._lock:
            if self._closed:
                raise TopologyError(f"cannot start {name}: the backend is already closed")
            log = open(log_path, "ab")  # noqa: SIM115 - owned by the child from here on
            try:
                popen = subprocess.Popen(  # type: ignore[call-overload]
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd="/",
                    **self._popen_kwargs(as_db_user, env),
                )
            finally:
                log.close()
            server = LocalServer(name, popen, log_path)
            self._servers.append(server)
            self._write_pids()
            return server

    def _write_pids(self) -> None:
        """pids.json: who owns this run and every server it started, for ``rpochaos gc``."""
        data = {
            "run_id": self.run_id,
            "owner": os.getpid(),
            "owner_start": proc_start(os.getpid()),
            "keep": self.keep,
            "servers": {
                s.name: {
                    "pid": s.pid,
                    "argv0": str(s.popen.args[0]),  # type: ignore[index]
                    # with the pid, names the process for good, also once it exec'd another
                    # program (setpriv -> mariadbd)
                    "start": proc_start(s.pid),
                }
                for s in self._servers
            },
        }
        tmp = self.run_dir / "pids.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.run_dir / "pids.json")

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


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), None when it is gone or a
    zombie. Together with the pid it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def _alive(pid: int) -> bool:
    return proc_start(pid) is not None


def labelled_owner_alive(labels: Mapping[str, str], pid_key: str, start_key: str) -> bool:
    """True when the process named by an object's labels (its pid under ``pid_key``, its start
    time under ``start_key`` when present) still runs: docker containers', Kubernetes
    namespaces' owner."""
    try:
        pid = int(labels.get(pid_key, "0"))
    except ValueError:
        return False
    return pid > 0 and owner_alive(pid, labels.get(start_key))


def run_dir_within(run_dir: str | None, root: Path) -> bool:
    """True when ``run_dir`` (a run directory recorded on an object's labels) is ``root`` or
    lies below it: which leftovers a ``gc --runs-root`` may remove."""
    if not run_dir:
        return False
    d, r = Path(run_dir).resolve(), root.resolve()
    return d == r or r in d.parents


def owner_alive(pid: int, start: str | None) -> bool:
    """True while the process ``pid`` runs and, when ``start`` is known, is the one that
    started at ``start`` (not a later process that reused the pid)."""
    now = proc_start(pid) if pid > 0 else None
    return now is not None and (start is None or now == start)


def leftovers(run_dir: Path) -> dict[str, int]:
    """Servers of a run that are still running, by name: matched by pid and start time
    (pids.json of this version), or by pid and program (older ones)."""
    try:
        data = json.loads((run_dir / "pids.json").read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, int] = {}
    for name, info in data.get("servers", {}).items():
        pid, argv0, start = int(info["pid"]), str(info["argv0"]), info.get("start")
        if start is not None:
            if proc_start(pid) == start:
                out[name] = pid
            continue
        cmd = _cmdline(pid)
        if cmd is not None and cmd.startswith(argv0) and _alive(pid):
            out[name] = pid
    return out


def _kill_detached_postmasters(run_dir: Path) -> list[str]:
    """Postmasters started detached (by Patroni) on the run's data, which pids.json does not
    list: SIGKILL each with its children."""
    data = run_dir / "data"
    roots = {data, data.resolve()} if data.exists() else {data}
    out = []
    for pid in sorted({p for r in roots for p in procs.postmasters_under(r)}):
        for child in reversed(procs.descendants(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        out.append(f"{run_dir}: a detached postmaster (pid {pid})")
    return out


def _kill_tree(pid: int) -> list[int]:
    """SIGKILL a server's process group and every process below it (a paused group is
    killed too: SIGKILL needs no SIGCONT). Returns the pids signalled."""
    tree = procs.descendants(pid)
    for p in reversed(tree):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return tree


def _working_in(root: Path) -> list[int]:
    """Processes whose working directory is ``root`` or below it (PostgreSQL's processes
    work in their data directory: this finds the backends a killed postmaster left)."""
    out: list[int] = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(d / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            out.append(int(d.name))
    return out


def _wait_gone(pids: list[int], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def _data_of(run_dir: Path) -> Path | None:
    """The run's data root: ``<run dir>/data``, or the temporary directory it links to (only
    one this backend made: ``rpochaos-data-*``). None when there is none."""
    data = run_dir / "data"
    if data.is_symlink():
        target = data.resolve()
        return target if target.name.startswith("rpochaos-data-") else None
    return data if data.is_dir() else None


def _remove_data(run_dir: Path) -> bool:
    """Delete ``<run dir>/data`` (and what it links to). True when there was something."""
    data = run_dir / "data"
    root = _data_of(run_dir)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
    if data.is_symlink():
        data.unlink()
    return root is not None


def gc(runs_root: Path, *, force: bool = False, run_id: str | None = None) -> list[str]:
    """For every run under ``runs_root`` (or a run directory itself) whose owner process is
    gone: kill the servers it left (a killed harness's, a kept topology's) and delete its
    data directories. ``force``: also runs whose owner still lives (a kept topology of a
    process that goes on, a run in progress). ``run_id``: only the run with that id. The
    journal and every other file of the run directory stay. Returns what was removed."""
    removed: list[str] = []
    for pids in sorted(Path(runs_root).glob("**/pids.json")):
        run_dir = pids.parent
        try:
            data = json.loads(pids.read_text())
            owner = int(data.get("owner", 0))
            start = data.get("owner_start")
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if run_id is not None and data.get("run_id") != run_id:
            continue
        if not force and owner_alive(owner, str(start) if start is not None else None):
            continue
        signalled: list[int] = []
        for name, pid in leftovers(run_dir).items():
            signalled += _kill_tree(pid)
            removed.append(f"{run_dir}: {name} (pid {pid})")
        removed += _kill_detached_postmasters(run_dir)
        data = _data_of(run_dir)
        if data is not None:
            strays = [p for p in _working_in(data) if p not in signalled]
            for p in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            if strays:
                removed.append(f"{run_dir}: {len(strays)} process(es) working in its data")
            signalled += strays
        _wait_gone(signalled)
        if _remove_data(run_dir):
            removed.append(f"{run_dir}: data directories")
    return removed
