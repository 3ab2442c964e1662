"""The project's own single-node Kubernetes test cluster: bring it up, tear it down.

Built from the binaries ``scripts/k8s-setup.sh`` leaves in <cache>/k8s/<version>/bin (see
/docs/kubernetes.md for how they are made). ``up()`` starts, each as a child process whose pid
is recorded: a private containerd (its own socket, root and state under the scratch
directory), etcd on 127.0.0.1, kube-apiserver on 127.0.0.1, kube-controller-manager and
kube-scheduler (no leader election), the kubelet, kube-proxy (iptables mode) and CoreDNS (a
host process on the node IP, answering only for cluster.local: it forwards nothing). It
returns a ``Cluster`` whose kubeconfig reaches the apiserver as cluster-admin.

The network rule (every address lives on interfaces the run creates; no packet from a pod
leaves the machine): the node IP 10.250.0.1/32 sits on a bridge ``rpk8s0`` made for it; pods
live on ``cni0`` (10.244.0.0/24, no masquerade); before the kubelet starts (so before the first
pod), ``mangle FORWARD -i cni0 ! -o cni0 DROP`` (v4 and v6) drops everything a pod sends
anywhere but to another pod, and ``filter FORWARD -i cni0 -o cni0 ACCEPT`` lets pods reach each
other through Docker's FORWARD DROP policy. ``Cluster.dropped()`` reads the DROP rules'
packet counters. NodePorts answer on 127.0.0.1 and the node IP (kube-proxy sets
``route_localnet``, restored at teardown).

Host state changed and restored: the sysctls in ``host.SYSCTLS`` (the kubelet and kube-proxy change
some; their values are saved first), iptables/ip6tables chains named KUBE-* (removed), the rules
above, the two bridges, the fixed host paths the kubelet and CNI write (``host.HOST_PATHS``, removed
when they did not exist before), every mount under the scratch directory, the kubepods cgroups.
A state file (``host.STATE``) records all of it as soon as it is made, so ``down()`` (or the next
``up()``) cleans up after a killed process too. One cluster per machine at a time.

``python -m rpochaos.backends.kubernetes_cluster up|down`` does the same from a shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpochaos.backends import kubernetes_host as host
from rpochaos.deps import cache_dir
from rpochaos.errors import MissingDependency, TopologyError

K8S_VERSION = "v1.34.2"
NODE_NAME = "k8s-node"
NODE_BRIDGE = "rpk8s0"
NODE_IP = "10.250.0.1"
POD_BRIDGE = host.POD_BRIDGE
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/12"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
PAUSE_IMAGE = "localhost/pause:3.10"
COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
IMPORTER = "image-import"
SETUP_HINT = "scripts/k8s-setup.sh   (builds Kubernetes and CoreDNS once into the cache)"


def bin_dir() -> Path:
    return cache_dir() / "k8s" / K8S_VERSION / "bin"


def cni_dir() -> Path:
    return cache_dir() / "k8s" / K8S_VERSION / "cni" / "bin"


def binaries_present() -> bool:
    b = bin_dir()
    return all((b / c).is_file() for c in COMPONENTS) and (cni_dir() / "bridge").is_file()


def require_binaries() -> None:
    """MissingDependency (with the set-up hint) unless every binary and tool is there."""
    if not binaries_present():
        raise MissingDependency(f"Kubernetes {K8S_VERSION} binaries in {bin_dir()}", SETUP_HINT)
    for tool in ("containerd", "etcd", "openssl", "iptables", "ip", "ctr", "docker"):
        if shutil.which(tool) is None:
            raise MissingDependency(f"the {tool} command", SETUP_HINT)
    if os.geteuid() != 0:
        raise MissingDependency("root (the test cluster changes iptables and mounts)", SETUP_HINT)


@dataclass
class Cluster:
    """A running test cluster: its kubeconfig (cluster-admin on https://127.0.0.1:<port>)."""

    kubeconfig: Path
    scratch: Path
    node_ip: str = NODE_IP
    bringup_s: float = 0.0

    def dropped(self) -> int:
        """Packets the pod bridge's outbound DROP rules have dropped (v4 + v6)."""
        return host.dropped_packets()


# -- certificates and kubeconfigs -------------------------------------------------------------


def _certs(pki: Path) -> None:
    """A CA, the apiserver's serving cert, one client cert per component, a service-account
    key pair: EC P-256, made with openssl."""
    pki.mkdir(parents=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    host.run("openssl", "req", "-x509", *ec, "-keyout", f"{pki}/ca.key", "-out", f"{pki}/ca.crt",
         "-days", "3", "-subj", "/CN=rpochaos-test-ca")  # fmt: skip
    clients = {
        "apiserver": ("kube-apiserver", ""),
        "admin": ("rpochaos-admin", "system:masters"),
        "controller-manager": ("system:kube-controller-manager", ""),
        "scheduler": ("system:kube-scheduler", ""),
        "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
        "proxy": ("system:kube-proxy", ""),
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
        "coredns": ("rpochaos-coredns", "system:masters"),
    }
    for name, (cn, org) in clients.items():
        subj = f"/CN={cn}" + (f"/O={org}" if org else "")
        host.run("openssl", "req", *ec, "-keyout", f"{pki}/{name}.key", "-out", f"{pki}/{name}.csr",
             "-subj", subj)  # fmt: skip
        ext = pki / f"{name}.ext"
        if name == "apiserver":
            ext.write_text(
                "subjectAltName=IP:127.0.0.1,IP:"
                f"{API_SERVICE_IP},IP:{NODE_IP},DNS:kubernetes,DNS:kubernetes.default,"
                "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n"
            )
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        host.run("openssl", "x509", "-req", "-in", f"{pki}/{name}.csr", "-CA", f"{pki}/ca.crt",
             "-CAkey", f"{pki}/ca.key", "-CAcreateserial", "-days", "3", "-extfile", str(ext),
             "-out", f"{pki}/{name}.crt")  # fmt: skip
    host.run(
        "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{pki}/sa.key"
    )
    host.run("openssl", "ec", "-in", f"{pki}/sa.key", "-pubout", "-out", f"{pki}/sa.pub")


def _kubeconfig(path: Path, pki: Path, user: str, server: str) -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "rpochaos-test",
                        "cluster": {"server": server, "certificate-authority": f"{pki}/ca.crt"},
                    }
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate": f"{pki}/{user}.crt",
                            "client-key": f"{pki}/{user}.key",
                        },
                    }
                ],
                "contexts": [
                    {"name": "rpochaos-test", "context": {"cluster": "rpochaos-test", "user": user}}
                ],
                "current-context": "rpochaos-test",
            },
            indent=1,
        )
    )


# -- up and down ------------------------------------------------------------------------------


def up(images: list[str] | None = None, log: object = print) -> Cluster:
    """Bring the cluster up (tearing down one a killed process left first) and import
    ``images`` (docker image names) into its containerd. Raises MissingDependency when the
    binaries or tools are missing, TopologyError (after tearing down what started) when a
    component does not come up."""
    require_binaries()
    if host.STATE.exists():
        down()
    t0 = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="rpochaos-k8s-"))
    state = host.State(scratch=str(scratch))
    state.save()
    try:
        cluster = _up(state, scratch, images or [], log)
    except BaseException:
        down()
        raise
    cluster.bringup_s = round(time.monotonic() - t0, 1)
    return cluster


def _say(log: object, msg: str) -> None:
    if callable(log):
        log(f"[k8s] {msg}")


def _up(state: host.State, scratch: Path, images: list[str], log: object) -> Cluster:
    t0 = time.monotonic()
    binaries, logs = bin_dir(), scratch / "logs"
    logs.mkdir()
    for p in host.HOST_PATHS:
        if not os.path.exists(p):
            state.host_paths.append(p)
    for name in host.SYSCTLS:
        v = host.sysctl_read(name)
        if v is not None:
            state.sysctls[name] = v
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            state.chains_before[f"{binary}/{table}"] = host.chains(binary, table)
    state.save()
    # the network first: bridges, then the drop rule, before any pod can exist
    for br in (NODE_BRIDGE, POD_BRIDGE):
        if Path(f"/sys/class/net/{br}").exists():
            raise TopologyError(
                f"test cluster: the interface {br} exists already (another cluster?)"
            )
    host.run("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    state.bridges.append(NODE_BRIDGE)
    state.save()
    host.run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    host.run("ip", "link", "set", NODE_BRIDGE, "up")
    # cni0 is made now (not by the CNI plugin) so the rules below name a real interface
    host.run("ip", "link", "add", POD_BRIDGE, "type", "bridge")
    state.bridges.append(POD_BRIDGE)
    state.save()
    for binary in ("iptables", "ip6tables"):
        if not host.rule(binary, "mangle", "-I", host.DROP_RULE, "DROP"):
            raise TopologyError(f"test cluster: could not add the {binary} drop rule")
        state.rules.append([binary, "mangle", *host.DROP_RULE, "DROP"])
        state.save()
        if host.rule(binary, "filter", "-I", host.ACCEPT_RULE, "ACCEPT"):
            state.rules.append([binary, "filter", *host.ACCEPT_RULE, "ACCEPT"])
            state.save()
    _say(log, f"network ready ({time.monotonic() - t0:.1f} s)")

    pki = scratch / "pki"
    _certs(pki)
    etcd_port, etcd_peer, api_port = host.free_port(), host.free_port(), host.free_port()
    server = f"https://127.0.0.1:{api_port}"
    for user in ("admin", "controller-manager", "scheduler", "kubelet", "proxy", "coredns"):
        _kubeconfig(scratch / f"{user}.kubeconfig", pki, user, server)
    _say(log, f"certificates ready ({time.monotonic() - t0:.1f} s)")

    # containerd
    cd = scratch / "containerd"
    (cd / "root").mkdir(parents=True)
    (cd / "state").mkdir()
    netd = scratch / "cni" / "net.d"
    netd.mkdir(parents=True)
    (netd / "10-rpochaos.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": "rpochaos",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": POD_BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_CIDR}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(scratch / "cni" / "ipam"),
                        },
                    }
                ],
            }
        )
    )
    sock = cd / "containerd.sock"
    (cd / "config.toml").write_text(
        f"""version = 2
root = "{cd}/root"
state = "{cd}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_dir()}"
    conf_dir = "{netd}"
"""
    )
    host.start(state, "containerd", ["containerd", "--config", str(cd / "config.toml")], logs)
    host.wait("containerd did not answer", 30,
          lambda: subprocess.run(["ctr", "-a", str(sock), "version"], capture_output=True,
                                 timeout=5).returncode == 0, logs, "containerd")  # fmt: skip

    # images, while the control plane starts
    importer = host.start(state, IMPORTER, [
        "sh", "-c", 'docker save "$@" | ctr -a "$0" -n k8s.io images import --all-platforms -',
        str(sock), PAUSE_IMAGE, *images,
    ], logs)  # fmt: skip

    host.start(state, "etcd", [
        "etcd", "--name", "default", "--data-dir", str(scratch / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
        "--initial-cluster", f"default=http://127.0.0.1:{etcd_peer}",
        "--listen-metrics-urls", "",
    ], logs)  # fmt: skip
    host.start(state, "kube-apiserver", [
        str(binaries / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1", f"--secure-port={api_port}", f"--advertise-address={NODE_IP}",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
        f"--client-ca-file={pki}/ca.crt",
        f"--tls-cert-file={pki}/apiserver.crt", f"--tls-private-key-file={pki}/apiserver.key",
        f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={pki}/sa.pub",
        f"--service-account-signing-key-file={pki}/sa.key",
        "--allow-privileged=true", "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false", "--endpoint-reconciler-type=none",
        "--service-node-port-range=30000-32767",
    ], logs)  # fmt: skip
    admin = scratch / "admin.kubeconfig"

    def api_ready() -> bool:
        p = subprocess.run(
            ["curl", "-sf", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt",
             "--key", f"{pki}/admin.key", f"{server}/readyz"],
            capture_output=True, timeout=5, check=False,
        )  # fmt: skip
        return p.returncode == 0

    host.wait("kube-apiserver was not ready", 60, api_ready, logs, "kube-apiserver")
    _say(log, f"apiserver ready ({time.monotonic() - t0:.1f} s)")
    host.start(state, "kube-controller-manager", [
        str(binaries / "kube-controller-manager"),
        f"--kubeconfig={scratch}/controller-manager.kubeconfig", "--leader-elect=false",
        f"--service-account-private-key-file={pki}/sa.key", f"--root-ca-file={pki}/ca.crt",
        f"--cluster-signing-cert-file={pki}/ca.crt", f"--cluster-signing-key-file={pki}/ca.key",
        "--use-service-account-credentials=true", "--allocate-node-cidrs=false",
        "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false",
    ], logs)  # fmt: skip
    host.start(state, "kube-scheduler", [
        str(binaries / "kube-scheduler"), f"--kubeconfig={scratch}/scheduler.kubeconfig",
        "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false",
    ], logs)  # fmt: skip

    resolv = scratch / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_SERVICE_IP}\n")
    kubelet_root = scratch / "kubelet"
    (scratch / "kubelet.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "authentication": {
                    "anonymous": {"enabled": False},
                    "webhook": {"enabled": True},
                    "x509": {"clientCAFile": f"{pki}/ca.crt"},
                },
                "authorization": {"mode": "Webhook"},
                "address": NODE_IP,
                "readOnlyPort": 0,
                "healthzBindAddress": "127.0.0.1",
                "healthzPort": 0,
                "cgroupDriver": "cgroupfs",
                "failCgroupV1": False,
                "failSwapOn": False,
                "clusterDNS": [DNS_SERVICE_IP],
                "clusterDomain": "cluster.local",
                "resolvConf": str(resolv),
                "containerRuntimeEndpoint": f"unix://{sock}",
                "podLogsDir": str(scratch / "pod-logs"),
                "imageGCHighThresholdPercent": 100,
                "imageGCLowThresholdPercent": 99,
                "evictionHard": {
                    "memory.available": "100Mi",
                    "nodefs.available": "1%",
                    "imagefs.available": "1%",
                },
                "serializeImagePulls": False,
                "protectKernelDefaults": False,
                "registerNode": True,
                "localStorageCapacityIsolation": False,
            }
        )
    )
    host.start(state, "kubelet", [
        str(binaries / "kubelet"), f"--kubeconfig={scratch}/kubelet.kubeconfig",
        f"--config={scratch}/kubelet.yaml", f"--root-dir={kubelet_root}",
        f"--cert-dir={scratch}/kubelet-pki", f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
    ], logs)  # fmt: skip
    (scratch / "kube-proxy.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "clientConnection": {"kubeconfig": f"{scratch}/proxy.kubeconfig"},
                "mode": "iptables",
                "clusterCIDR": POD_CIDR,
                "hostnameOverride": NODE_NAME,
                "nodePortAddresses": ["127.0.0.0/8", f"{NODE_IP}/32"],
                "healthzBindAddress": f"127.0.0.1:{host.free_port()}",
                "metricsBindAddress": f"127.0.0.1:{host.free_port()}",
                "conntrack": {
                    "maxPerCore": 0,
                    "min": 0,
                    "tcpEstablishedTimeout": "0s",
                    "tcpCloseWaitTimeout": "0s",
                },
                "iptables": {
                    "localhostNodePorts": True,
                    "masqueradeAll": False,
                    "minSyncPeriod": "0s",
                },
            }
        )
    )
    host.start(state, "kube-proxy", [
        str(binaries / "kube-proxy"), f"--config={scratch}/kube-proxy.yaml",
    ], logs)  # fmt: skip
    corefile = scratch / "Corefile"
    corefile.write_text(
        f".:53 {{\n  bind {NODE_IP}\n  errors\n"
        f"  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n"
        f"    kubeconfig {scratch}/coredns.kubeconfig rpochaos-test\n"
        "    pods insecure\n  }\n}\n"
    )
    if (binaries / "coredns").is_file():  # else names do not resolve (nothing leaks either)
        host.start(state, "coredns", [str(binaries / "coredns"), "-conf", str(corefile)], logs)

    if importer.wait(timeout=300) != 0:
        tail = (logs / f"{IMPORTER}.log").read_text(errors="replace")[-2000:]
        raise TopologyError(f"test cluster: importing images failed:\n{tail}")
    _say(log, f"images imported ({time.monotonic() - t0:.1f} s)")

    def node_ready() -> bool:
        return _node_ready(admin)

    host.wait("the node was not Ready", 90, node_ready, logs, "kubelet")
    _dns_service(admin)
    _say(log, f"node Ready ({time.monotonic() - t0:.1f} s)")
    for c in host.kubepods_cgroups():
        state.cgroups.append(str(c))
    state.save()
    return Cluster(kubeconfig=admin, scratch=scratch)


def _core(kubeconfig: Path) -> Any:
    from rpochaos.backends.kubernetes_api import Api

    return Api.from_kubeconfig(kubeconfig).core


def _node_ready(kubeconfig: Path) -> bool:
    node = _core(kubeconfig).read_node(NODE_NAME, _request_timeout=5)
    conds = {c.type: c.status for c in node.status.conditions or []}
    return conds.get("Ready") == "True"


def _dns_service(kubeconfig: Path) -> None:
    """The kube-dns Service at DNS_SERVICE_IP, its endpoint CoreDNS on the node IP."""
    from kubernetes import client

    core = _core(kubeconfig)
    ports = [
        client.V1ServicePort(name="dns", port=53, protocol="UDP"),
        client.V1ServicePort(name="dns-tcp", port=53, protocol="TCP"),
    ]
    core.create_namespaced_service(
        "kube-system",
        client.V1Service(
            metadata=client.V1ObjectMeta(name="kube-dns"),
            spec=client.V1ServiceSpec(cluster_ip=DNS_SERVICE_IP, ports=ports),
        ),
    )
    core.create_namespaced_endpoints(
        "kube-system",
        client.V1Endpoints(
            metadata=client.V1ObjectMeta(name="kube-dns"),
            subsets=[
                client.V1EndpointSubset(
                    addresses=[client.V1EndpointAddress(ip=NODE_IP)],
                    ports=[
                        client.CoreV1EndpointPort(name="dns", port=53, protocol="UDP"),
                        client.CoreV1EndpointPort(name="dns-tcp", port=53, protocol="TCP"),
                    ],
                )
            ],
        ),
    )


def down(log: object = print) -> list[str]:
    """Tear down the cluster ``host.STATE`` records (nothing when there is none); return what
    was removed or restored. Never raises for what is already gone."""
    try:
        state = host.State(**json.loads(host.STATE.read_text()))
    except (OSError, ValueError, TypeError):
        return []
    t0 = time.monotonic()
    done: list[str] = []
    scratch = state.scratch
    admin = Path(scratch, "admin.kubeconfig")
    pids = state.pids
    if IMPORTER in pids and host.alive(*pids[IMPORTER]):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pids[IMPORTER][0], signal.SIGKILL)  # its own session: sh, docker, ctr
    if "kubelet" in pids and host.alive(*pids["kubelet"]) and admin.exists():
        with contextlib.suppress(Exception):
            _delete_all_pods(admin)
            done.append("every pod deleted")
    for name in ("coredns", "kube-proxy", "kubelet", "kube-scheduler",
                 "kube-controller-manager", "kube-apiserver", "etcd"):  # fmt: skip
        if name in pids:
            host.stop_pid(*pids[name])
            done.append(f"stopped {name}")
    # whatever containers remain: their shims and processes, then containerd
    for pid in host.shims(scratch):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if "containerd" in pids:
        host.stop_pid(*pids["containerd"])
        done.append("stopped containerd")
    kube_proxy = bin_dir() / "kube-proxy"
    if kube_proxy.exists():
        host.run(str(kube_proxy), "--cleanup", check=False)
    host.remove_kube_chains(state)
    for rule in state.rules:
        binary, table, *spec = rule
        target = spec.pop()
        while host.rule(binary, table, "-D", spec, target):
            pass
        done.append(f"removed {binary} {table} {' '.join(spec)} -j {target}")
    for target in host.mounts_under(scratch):
        if subprocess.run(["umount", target], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    for br in reversed(state.bridges):
        host.run("ip", "link", "del", br, check=False)
        done.append(f"removed bridge {br}")
    for p in host.kubepods_cgroups():
        host.rmdir_tree(p)
    for name, value in state.sysctls.items():
        if host.sysctl_read(name) != value:
            host.sysctl_write(name, value)
            done.append(f"restored {name.replace('/', '.')}={value}")
    for path in state.host_paths:
        for target in host.mounts_under(path):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    with contextlib.suppress(OSError):
        host.STATE.unlink()
    _say(log, f"down ({time.monotonic() - t0:.1f} s)")
    return done


def _delete_all_pods(kubeconfig: Path, timeout_s: float = 20.0) -> None:
    """Delete every pod with zero grace, then wait until the kubelet has stopped them (so CNI
    releases every pod's address and veth)."""
    core = _core(kubeconfig)
    for ns in core.list_namespace().items:
        name = ns.metadata.name
        if not (name.startswith("kube-") or name == "default"):
            with contextlib.suppress(Exception):
                core.delete_namespace(name, grace_period_seconds=0)
    for pod in core.list_pod_for_all_namespaces().items:
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
            )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and core.list_pod_for_all_namespaces().items:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["up"]:
        try:
            c = up(images=args[1:])
        except (MissingDependency, TopologyError) as e:
            print(e, file=sys.stderr)
            return 1
        print(f"up in {c.bringup_s} s; KUBECONFIG={c.kubeconfig}")
        return 0
    if args[:1] == ["down"]:
        for line in down():
            print(line)
        return 0
    print(
        "usage: python -m rpochaos.backends.kubernetes_cluster up [IMAGE...] | down",
        file=sys.stderr,
    )
    return 254


if __name__ == "__main__":
    raise SystemExit(main())
