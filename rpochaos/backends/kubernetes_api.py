"""The kubernetes backend's one door to the cluster: the official ``kubernetes`` client,
behind typed calls, plus the labels every object carries and ``gc``.

Labels (on the namespace and on every pod and Service in it):

    rpochaos.io/run=<run id>          rpochaos.io/owner-pid=<pid>
    rpochaos.io/owner-start=<start>   rpochaos.io/host=<hostname, as a label value>
    rpochaos.io/keep=0|1              rpochaos.io/role=namespace|node|toxiproxy|service
    rpochaos.io/node=<pod name>  (pods)
and the annotation ``rpochaos.io/run-dir`` on the namespace.

Which cluster: $RPOCHAOS_KUBECONFIG, else $KUBECONFIG, else ~/.kube/config, with the context
$RPOCHAOS_KUBE_CONTEXT (else the kubeconfig's current one). The client is imported lazily, so
the other backends work without it. Every call has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpochaos.backends.local import labelled_owner_alive, proc_start, run_dir_within
from rpochaos.errors import MissingDependency, TopologyError

LABEL_RUN = "rpochaos.io/run"
LABEL_OWNER = "rpochaos.io/owner-pid"
LABEL_OWNER_START = "rpochaos.io/owner-start"
LABEL_HOST = "rpochaos.io/host"
LABEL_KEEP = "rpochaos.io/keep"
LABEL_ROLE = "rpochaos.io/role"
LABEL_NODE = "rpochaos.io/node"
ANN_RUN_DIR = "rpochaos.io/run-dir"
KUBECONFIG_ENV = "RPOCHAOS_KUBECONFIG"
CONTEXT_ENV = "RPOCHAOS_KUBE_CONTEXT"
NAMESPACE_ENV = "RPOCHAOS_KUBE_NAMESPACE"
CLIENT_INSTALL = "pip install kubernetes"
REQUEST_TIMEOUT_S = 15.0
CONTAINER = "node"


def dns_name(text: str) -> str:
    """``text`` as a DNS-1123 label (pod and Service names)."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63] or "node"


def label_value(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63] or "x"


def run_labels(run_id: str, *, keep: bool, role: str, **extra: str) -> dict[str, str]:
    pid = os.getpid()
    labels = {
        LABEL_RUN: run_id,
        LABEL_OWNER: str(pid),
        LABEL_OWNER_START: proc_start(pid) or "0",
        LABEL_HOST: label_value(socket.gethostname()),
        LABEL_KEEP: "1" if keep else "0",
        LABEL_ROLE: role,
    }
    labels.update({f"rpochaos.io/{k}": label_value(v) for k, v in extra.items()})
    return labels


def kubeconfig_path() -> Path | None:
    """The kubeconfig to use, None when none is set or present."""
    given = os.environ.get(KUBECONFIG_ENV) or os.environ.get("KUBECONFIG")
    if given:
        return Path(given.split(os.pathsep)[0])
    default = Path.home() / ".kube" / "config"
    return default if default.is_file() else None


@dataclass(frozen=True)
class ServiceInfo:
    cluster_ip: str
    node_ports: dict[str, int]  # port name -> NodePort (NodePort Services only)


class Api:
    """Typed calls on one namespace of one cluster."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client

        self._client = api_client
        self.core: Any = client.CoreV1Api(api_client)
        self.namespace = namespace

    @classmethod
    def from_env(cls, namespace: str = "default") -> Api:
        """The cluster the environment names (see the module docstring); MissingDependency
        when the client is missing or no kubeconfig is found, TopologyError when it cannot
        be read."""
        try:
            import kubernetes  # noqa: F401 - only: is it installed?
        except ImportError:
            raise MissingDependency(
                "the Kubernetes Python client (package 'kubernetes')", CLIENT_INSTALL
            ) from None
        path = kubeconfig_path()
        if path is None or not path.is_file():
            raise MissingDependency(
                "a kubeconfig ($RPOCHAOS_KUBECONFIG, $KUBECONFIG or ~/.kube/config)",
                "point RPOCHAOS_KUBECONFIG at the cluster's kubeconfig",
            )
        return cls.from_kubeconfig(path, os.environ.get(CONTEXT_ENV) or None, namespace)

    @classmethod
    def from_kubeconfig(
        cls, path: Path, context: str | None = None, namespace: str = "default"
    ) -> Api:
        """The cluster of kubeconfig ``path``; TopologyError when it cannot be read."""
        from kubernetes import config

        try:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(path), context=context
            )
        except Exception as e:  # the loader raises ConfigException and YAML errors
            raise TopologyError(f"cannot read the kubeconfig {path}: {e}") from e
        return cls(api_client, namespace)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    # -- objects ----------------------------------------------------------------------------

    def create_namespace(self, labels: dict[str, str], annotations: dict[str, str]) -> None:
        from kubernetes import client

        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=self.namespace, labels=labels, annotations=annotations
            )
        )
        self._call(f"create namespace {self.namespace}", self.core.create_namespace, body)

    def create_pod(
        self,
        name: str,
        *,
        image: str,
        command: list[str],
        labels: dict[str, str],
        args: list[str] | None = None,
        uid: int | None = None,
        gid: int | None = None,
        volume_mount: str | None = None,
        pull_policy: str = "Never",
    ) -> None:
        """A bare pod (restartPolicy Never, no service-account token, zero grace) with one
        container ``node``; ``volume_mount``: an emptyDir there. The namespace's default
        service account may lag its creation: retried for 30 s."""
        from kubernetes import client

        mounts, volumes = None, None
        if volume_mount:
            mounts = [client.V1VolumeMount(name="data", mount_path=volume_mount)]
            volumes = [client.V1Volume(name="data", empty_dir=client.V1EmptyDirVolumeSource())]
        sc = None
        if uid is not None:
            sc = client.V1PodSecurityContext(run_as_user=uid, run_as_group=gid, fs_group=gid)
        body = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1PodSpec(
                restart_policy="Never",
                automount_service_account_token=False,
                enable_service_links=False,
                termination_grace_period_seconds=0,
                security_context=sc,
                volumes=volumes,
                containers=[
                    client.V1Container(
                        name=CONTAINER,
                        image=image,
                        image_pull_policy=pull_policy,
                        command=command,
                        args=args,
                        volume_mounts=mounts,
                        env=[client.V1EnvVar(name="HOME", value="/tmp")],
                    )
                ],
            ),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.core.create_namespaced_pod(
                    self.namespace, body, _request_timeout=REQUEST_TIMEOUT_S
                )
                return
            except Exception as e:
                if "serviceaccount" in str(e).lower() and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise TopologyError(f"create pod {name} in {self.namespace}: {_short(e)}") from e

    def create_service(
        self,
        name: str,
        *,
        selector: dict[str, str],
        ports: dict[str, int],
        node_port: bool,
        labels: dict[str, str],
    ) -> ServiceInfo:
        from kubernetes import client

        body = client.V1Service(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1ServiceSpec(
                type="NodePort" if node_port else "ClusterIP",
                selector=selector,
                ports=[
                    client.V1ServicePort(name=k, port=v, target_port=v, protocol="TCP")
                    for k, v in ports.items()
                ],
            ),
        )
        svc = self._call(
            f"create service {name}", self.core.create_namespaced_service, self.namespace, body
        )
        node_ports = {p.name: int(p.node_port) for p in svc.spec.ports if p.node_port}
        return ServiceInfo(str(svc.spec.cluster_ip), node_ports)

    def pod_phase(self, name: str) -> str:
        try:
            pod = self.core.read_namespaced_pod(
                name, self.namespace, _request_timeout=REQUEST_TIMEOUT_S
            )
        except Exception as e:
            return f"unknown ({_short(e)})"
        return str(pod.status.phase)

    def wait_running(self, name: str, timeout_s: float) -> None:
        """Until the pod's container runs; TopologyError with its state when it does not."""
        deadline = time.monotonic() + timeout_s
        why = "no status yet"
        while time.monotonic() < deadline:
            pod = self._call(
                f"read pod {name}", self.core.read_namespaced_pod, name, self.namespace
            )
            statuses = pod.status.container_statuses or []
            if pod.status.phase == "Running" and all(s.state.running for s in statuses):
                return
            if pod.status.phase in ("Failed", "Succeeded"):
                why = f"phase {pod.status.phase}"
                break
            waiting = [s.state.waiting for s in statuses if s.state and s.state.waiting]
            why = f"{waiting[0].reason}: {waiting[0].message}" if waiting else str(pod.status.phase)
            if waiting and waiting[0].reason in ("ErrImageNeverPull", "InvalidImageName"):
                break
            time.sleep(0.1)
        raise TopologyError(f"pod {name} in {self.namespace} is not running: {why}")

    def exec(self, pod: str, argv: list[str], timeout_s: float = 30.0) -> tuple[int, str]:
        """Run ``argv`` in the pod's container; (exit code, stdout+stderr). TopologyError when
        the call fails or does not finish within ``timeout_s``."""
        from kubernetes.stream import stream

        try:
            resp = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                self.namespace,
                container=CONTAINER,
                command=argv,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except Exception as e:
            raise TopologyError(f"exec in pod {pod}: {_short(e)}") from e
        out: list[str] = []
        deadline = time.monotonic() + timeout_s
        try:
            while resp.is_open():
                resp.update(timeout=0.5)
                if resp.peek_stdout():
                    out.append(resp.read_stdout())
                if resp.peek_stderr():
                    out.append(resp.read_stderr())
                if time.monotonic() > deadline:
                    raise TopologyError(
                        f"exec in pod {pod} did not finish within {timeout_s:g} s: "
                        f"{' '.join(argv)}\n{''.join(out)[-2000:]}"
                    )
            out.append(resp.read_stdout() or "")  # what came with the close
            out.append(resp.read_stderr() or "")
            try:
                code = resp.returncode
            except (ValueError, KeyError, IndexError, TypeError) as e:  # not an exit status
                raise TopologyError(f"exec in pod {pod}: {''.join(out)[-2000:] or e}") from e
        finally:
            with contextlib.suppress(Exception):
                resp.close()
        return (int(code) if code is not None else 255), "".join(out)

    def pod_log(self, name: str) -> str:
        text = self._call(
            f"log of pod {name}", self.core.read_namespaced_pod_log, name, self.namespace
        )
        return str(text)

    def delete_namespace(self, name: str) -> None:
        """Delete the namespace with zero grace (its pods first, so they go at once)."""
        with contextlib.suppress(Exception):
            self.core.delete_collection_namespaced_pod(
                name, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT_S
            )
        with contextlib.suppress(Exception):
            self.core.delete_namespace(
                name, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT_S
            )

    def namespaces(self, selector: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        """(name, labels, annotations) of every namespace matching ``selector``."""
        listing = self._call("list namespaces", self.core.list_namespace, label_selector=selector)
        return [
            (
                str(ns.metadata.name),
                dict(ns.metadata.labels or {}),
                dict(ns.metadata.annotations or {}),
            )
            for ns in listing.items
            if ns.status is None or ns.status.phase != "Terminating"
        ]

    def server_version(self) -> str:
        from kubernetes import client

        with contextlib.suppress(Exception):
            v = client.VersionApi(self._client).get_code(_request_timeout=REQUEST_TIMEOUT_S)
            return f"Kubernetes {v.git_version}"
        return "Kubernetes (version unknown)"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except Exception as e:
            raise TopologyError(f"{what}: {_short(e)}") from e


def _short(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    body = getattr(e, "body", None)
    if reason and body:
        return f"{reason}: {str(body)[:300]}"
    return str(e).splitlines()[0][:300] if str(e) else type(e).__name__


def _owner_alive(labels: dict[str, str]) -> bool:
    return labelled_owner_alive(labels, LABEL_OWNER, LABEL_OWNER_START)


def gc(
    *,
    force: bool = False,
    runs_root: Path | None = None,
    run_id: str | None = None,
    api: Api | None = None,
) -> list[str]:
    """Delete the namespace of every run (labelled ``rpochaos.io/run``) made on this host whose
    owner process is gone. ``force``: whoever owns them, but only runs whose run directory is
    at or below ``runs_root``, or the run ``run_id``. Runs of other hosts are left alone.
    Nothing (an empty list) when no kubeconfig is set or the cluster does not answer."""
    if api is None:
        if kubeconfig_path() is None:
            return []
        try:
            api = Api.from_env()
        except (MissingDependency, TopologyError):
            return []
    here = label_value(socket.gethostname())
    try:
        listing = api.namespaces(LABEL_RUN)
    except TopologyError:
        return []
    removed: list[str] = []
    for name, labels, notes in sorted(listing):
        rid = labels.get(LABEL_RUN, "")
        if run_id is not None and rid != run_id:
            continue
        forced = force and (
            run_id is not None
            or (runs_root is not None and run_dir_within(notes.get(ANN_RUN_DIR), runs_root))
        )
        if not forced and (labels.get(LABEL_HOST) != here or _owner_alive(labels)):
            continue
        api.delete_namespace(name)
        removed.append(f"kubernetes run {rid}: namespace {name}")
    return removed
