"""Labels, ownership and removal of the docker backend's containers, networks and volumes.

Every container, network and volume carries the labels

    rpochaos.run=<run id>            rpochaos.session=<host>-<pid>-<start>
    rpochaos.owner_pid=<pid>         rpochaos.owner_start=<start time of that pid>
    rpochaos.host=<hostname>         rpochaos.keep=0|1
    rpochaos.role=node|sandbox|helper|toxiproxy|network|volume       rpochaos.run_dir=<dir>

Cleanup: ``close`` removes the run's containers (with their anonymous volumes), network and
volumes, all found by the ``rpochaos.run`` label, unless the topology is kept. ``gc``
removes everything of runs whose owner process is gone (pid *and* start time, this host);
with ``force``, of the runs under one runs root (by their ``rpochaos.run_dir`` label) or of
one run id, whoever owns them: never every run on the engine.

Only the engine's labels and this host's /proc are read: nothing here needs a live backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpochaos.backends import engine
from rpochaos.backends.local import labelled_owner_alive, run_dir_within
from rpochaos.backends.local import proc_start as _proc_start
from rpochaos.errors import MissingDependency

if TYPE_CHECKING:
    import docker

LABEL_RUN = "rpochaos.run"
LABEL_SESSION = "rpochaos.session"
LABEL_OWNER = "rpochaos.owner_pid"
LABEL_OWNER_START = "rpochaos.owner_start"
LABEL_HOST = "rpochaos.host"
LABEL_KEEP = "rpochaos.keep"
LABEL_ROLE = "rpochaos.role"
LABEL_RUN_DIR = "rpochaos.run_dir"


# -- who owns what ----------------------------------------------------------------------------


def owner_alive(labels: Mapping[str, str]) -> bool:
    """True when the process that created a labelled object still runs."""
    return labelled_owner_alive(labels, LABEL_OWNER, LABEL_OWNER_START)


def session_id() -> str:
    """This process's session id: one per harness process (a pytest session, a CLI run)."""
    pid = os.getpid()
    return f"{socket.gethostname()}-{pid}-{_proc_start(pid) or 0}"


# -- removal and gc ---------------------------------------------------------------------------

#: in a run directory: the host directories (``host_dir``) the run made, for gc
HOST_DIRS = "docker-host-dirs.json"


def _write_host_dirs(run_dir: Path, dirs: list[Path]) -> None:
    tmp = run_dir / f"{HOST_DIRS}.tmp"
    tmp.write_text(json.dumps([str(d) for d in dirs]))
    tmp.replace(run_dir / HOST_DIRS)


def remove_host_dirs(run_dir: Path) -> list[str]:
    """Delete the host directories a run listed in ``HOST_DIRS`` (only those inside its run
    directory). Returns what was removed."""
    try:
        listed = json.loads((run_dir / HOST_DIRS).read_text())
    except (OSError, ValueError):
        return []
    removed: list[str] = []
    root = run_dir.resolve()
    for entry in listed if isinstance(listed, list) else []:
        d = Path(str(entry)).resolve()
        if root in d.parents and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"host directory {d}")
    return removed


def _remove_one(obj: Any, kind: str, remove: Callable[[], None], timeout_s: float = 30.0) -> str:
    """Remove one container, network or volume; what it says for the record. Another process
    removing the same object at the same time (a concurrent gc or a run's start-up sweep:
    409 "removal already in progress"), or a network whose endpoints are still going away,
    is waited for until the object is gone. Never raises."""
    import docker.errors

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            remove()
            return f"{kind} {obj.name}"
        except docker.errors.NotFound:
            return f"{kind} {obj.name} (removed by another process)"
        except docker.errors.DockerException as e:
            try:
                obj.reload()
            except docker.errors.NotFound:
                return f"{kind} {obj.name} (removed by another process)"
            except docker.errors.DockerException:
                pass
            if time.monotonic() > deadline:
                return f"could not remove {kind} {obj.name}: {e}"
            time.sleep(0.2)


def remove_run(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container, then the networks and volumes labelled ``rpochaos.run=run_id``.
    Returns what was removed (an entry starting with "could not remove" for what resisted for
    30 s); never raises for what is already gone or being removed by another process."""
    import docker.errors

    flt: dict[str, str | list[str] | bool] = {"label": f"{LABEL_RUN}={run_id}"}
    removed: list[str] = []
    for c in client.containers.list(all=True, filters=flt):
        if c.status == "paused":
            with contextlib.suppress(docker.errors.DockerException):
                c.unpause()
        # v: anonymous volumes (the official image's VOLUME)
        removed.append(_remove_one(c, "container", partial(c.remove, force=True, v=True)))
    for net in client.networks.list(filters=flt):
        removed.append(_remove_one(net, "network", net.remove))
    for v in client.volumes.list(filters=flt):
        removed.append(_remove_one(v, "volume", partial(v.remove, force=True)))
    return removed


def labelled(client: docker.DockerClient) -> dict[str, dict[str, str]]:
    """Every run that has a labelled container, network or volume: run id -> its labels."""
    flt: dict[str, str | list[str] | bool] = {"label": LABEL_RUN}
    runs: dict[str, dict[str, str]] = {}
    objects: list[Any] = [
        *client.containers.list(all=True, filters=flt),
        *client.networks.list(filters=flt),
        *client.volumes.list(filters=flt),
    ]
    for obj in objects:
        attrs = obj.attrs
        labels = attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
        run_id = labels.get(LABEL_RUN)
        if run_id:
            runs.setdefault(run_id, dict(labels))
    return runs


def gc(
    *,
    force: bool = False,
    spare_kept: bool = False,
    client: docker.DockerClient | None = None,
    runs_root: Path | None = None,
    run_id: str | None = None,
) -> list[str]:
    """Remove the containers, networks and volumes of every run whose owner process is gone
    (on this host). ``force``: whoever owns them, but only of the runs whose run directory is
    at or below ``runs_root`` (with neither ``runs_root`` nor ``run_id``, ``force`` removes
    nothing more). ``run_id``: only that run. ``spare_kept``: leave runs made with
    --keep-topology (the automatic sweep at the start of a run uses it). Returns what was
    removed; an empty list when there is no engine."""
    try:
        c = client or engine.client(timeout_s=60)
    except MissingDependency:
        return []
    here = socket.gethostname()
    removed: list[str] = []
    for rid, labels in sorted(labelled(c).items()):
        if run_id is not None and rid != run_id:
            continue
        forced = force and (
            run_id is not None
            or (runs_root is not None and run_dir_within(labels.get(LABEL_RUN_DIR), runs_root))
        )
        if not forced:
            if labels.get(LABEL_HOST) != here:
                continue  # another machine's run on a shared engine: its owner is not ours
            if spare_kept and labels.get(LABEL_KEEP) == "1":
                continue
            if owner_alive(labels):
                continue
        gone = remove_run(c, rid)
        if labels.get(LABEL_RUN_DIR):
            gone += remove_host_dirs(Path(labels[LABEL_RUN_DIR]))
        removed += [f"docker run {rid}: {what}" for what in gone]
    return removed
