"""One Kafka node: a JVM running ``kafka.Kafka`` as broker + controller (KRaft combined mode)
on a backend ``Node`` of kind "kafka". Its command lines (the broker, the one-shot storage
format), the files it writes into its data directory (``server.properties``,
``log4j.properties``), and what can be done to the process: start, controlled stop, SIGKILL,
restart, pause and resume. What goes into ``server.properties`` is the cluster's to decide
(``KafkaCluster.broker_settings``)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Mapping, Sequence

from kafka.errors import KafkaError  # type: ignore[import-untyped]

from rpochaos.backends.base import Node
from rpochaos.errors import TopologyError
from rpochaos.kafka.names import node_id_of
from rpochaos.waiting import wait_until

#: JVM options of every broker: three brokers must fit in a few GB
JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
#: the StorageTool is a short-lived JVM: small heap, no JIT tiers beyond C1
FORMAT_JVM_OPTS: tuple[str, ...] = ("-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1")

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
"""


def _tcp_open(host: str, port: int) -> bool:
    """Whether ``host:port`` accepts a TCP connection within half a second."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _properties(settings: Mapping[str, str]) -> str:
    """``settings`` as a Java properties file, one ``key=value`` a line (backslashes and
    newlines in values escaped)."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n")

    return "".join(f"{k}={esc(v)}\n" for k, v in settings.items())


class KafkaNode:
    """One JVM running ``kafka.Kafka`` as broker + controller, on a backend ``Node`` of kind
    "kafka" (host processes locally, a container on docker)."""

    def __init__(
        self,
        node: Node,
        controller_port: int,
        inter_ports: dict[int, int],
        classpath: str,
        libs: str,
        jvm_opts: Sequence[str] = JVM_OPTS,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.node = node
        self.name = node.name
        self.node_id = node_id_of(node.name)
        self.client_port = node.port
        self.controller_port = controller_port
        self.inter_ports = inter_ports  # node id B -> real port of listener FROM_BROKER<B>
        self.classpath = classpath
        self.libs = libs  # the directory of the jars, as the node sees it
        self.jvm_opts = list(jvm_opts)
        self.env = dict(env or {})
        self.datadir = node.datadir
        self.config_path = f"{self.datadir}/server.properties"
        self.log4j_path = f"{self.datadir}/log4j.properties"
        self.log_dir = f"{self.datadir}/log"
        self.settings: dict[str, str] = {}
        self.started = False
        self.version: str | None = None  # from the kafka_2.13-<v>.jar the node runs

    @property
    def port(self) -> int:
        """The real client port (the one ``client->brokerN`` forwards to)."""
        return self.client_port

    @property
    def bind_host(self) -> str:
        """The address its listeners bind."""
        return "0.0.0.0" if self.node.listen_host == "*" else self.node.listen_host

    @property
    def own_host(self) -> str:
        """How the node names itself (its own, unproxied, advertised endpoints): loopback
        locally, its network alias on docker."""
        return self.node.name if self.node.listen_host == "*" else self.node.listen_host

    def _java(self, main: str, *args: str, jvm_opts: Sequence[str] | None = None) -> list[str]:
        return [
            self.node.program("java"),
            *(self.jvm_opts if jvm_opts is None else jvm_opts),
            f"-Dlog4j.configuration=file:{self.log4j_path}",
            f"-Dkafka.logs.dir={self.datadir}",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def format(
        self, settings: Mapping[str, str], cluster_id: str, timeout_s: float = 120.0
    ) -> None:
        """Write server.properties and log4j.properties into the data directory and format
        the storage with ``cluster_id`` (one one-shot command where the node runs)."""
        self.settings = dict(settings)
        fmt = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # an id may start with "-"
            "-c",
            self.config_path,
            jvm_opts=FORMAT_JVM_OPTS,
        )
        script = (
            'printf "%s" "$1" > "$3" && printf "%s" "$2" > "$4" && '
            'echo "rpochaos-jar: $(ls "$5" | grep "^kafka_2")" && shift 5 && exec "$@"'
        )
        out = self.node.run(
            [
                "sh",
                "-c",
                script,
                "sh",
                _properties(self.settings),
                LOG4J_PROPERTIES,
                self.config_path,
                self.log4j_path,
                self.libs,
                *fmt,
            ],
            timeout_s=timeout_s,
            what=f"kafka storage format of {self.name}",
        )
        for line in out.splitlines():
            if line.startswith("rpochaos-jar: kafka_"):
                self.version = line.rsplit("-", 1)[-1].removesuffix(".jar").strip()

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the JVM and wait until its client listener accepts connections. (Whether the
        broker is registered and unfenced is the cluster's to check.) The broker opens that
        listener only once the controller quorum answers, so a node of a multi-node cluster
        comes up only when a majority of nodes runs: start them all with ``spawn`` first."""
        self.spawn()
        self.wait_listening(timeout_s)

    def spawn(self) -> None:
        """Start the JVM; don't wait."""
        self.node.start(self._java("kafka.Kafka", self.config_path), env=self.env or None)
        self.started = True

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        """Wait until the client listener accepts connections; TopologyError if the JVM
        exits meanwhile or ``timeout_s`` passes (with the log tail)."""
        at = self.node.address

        def listening() -> bool:
            if self.started and not self.node.running():
                raise TopologyError(f"{self.name} exited during start-up\n{self.log_tail(40)}")
            return _tcp_open(at.host, at.port)

        wait_until(
            f"{self.name} did not listen on {at}", timeout_s, listening, self._log, KafkaError
        )

    def _log(self) -> str:
        return self.log_tail(40)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the node's output ("(not started)" before ``spawn``)."""
        return self.node.log_tail(lines) if self.started else "(not started)"

    def running(self) -> bool:
        """Whether the JVM was started and still runs."""
        return self.started and self.node.running()

    def crash(self) -> None:
        """SIGKILL the JVM (no controlled shutdown, no flush of the page cache needed)."""
        if self.started:
            self.node.kill()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Controlled shutdown (SIGTERM), then kill if it takes longer than ``timeout_s``."""
        if self.started:
            self.node.stop(timeout_s=timeout_s, sig=signal.SIGTERM)

    def restart(self) -> None:
        """Stop the JVM (controlled if it runs; else reap what is left of it) and start it
        again, waiting until it listens."""
        if self.running():
            self.stop()
        else:
            self.crash()  # reap a killed process tree
        self.start()

    def pause(self) -> None:
        """Freeze the JVM (SIGSTOP, or the cgroup freezer) if it was started."""
        if self.started:
            self.node.pause()

    def resume(self) -> None:
        """Undo ``pause``."""
        if self.started:
            self.node.resume()
