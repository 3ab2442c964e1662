"""Finding the Kafka broker's jars and a Java runtime.

The jars (Apache Kafka ``kafka_2.13`` in KRaft mode, its runtime dependencies, and the
reload4j logging backend Kafka 3.9 logs through) live in the cache, outside git:
``<cache>/kafka/<version>/libs`` (``<cache>`` is ``rpochaos.deps.cache_dir()``).
``scripts/kafka-jars.sh`` fetches them from Maven Central with ``mvn
dependency:copy-dependencies`` and writes ``libs/.complete`` when done, so a half-finished
download is never taken for a complete one.

Overrides: ``$RPOCHAOS_KAFKA_VERSION`` picks another version (fetch it with
``scripts/kafka-jars.sh VERSION``); ``$RPOCHAOS_KAFKA_LIBS`` points at any directory of
jars (e.g. the ``libs/`` of an unpacked Kafka binary distribution); ``$JAVA_HOME`` picks the
JVM, else ``java`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from rpochaos.deps import cache_dir
from rpochaos.errors import MissingDependency

#: the Kafka release rpochaos runs unless $RPOCHAOS_KAFKA_VERSION says otherwise
KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
#: written by scripts/kafka-jars.sh once every jar is in place
COMPLETE_STAMP = ".complete"
JAVA_INSTALL = "apt-get install -y openjdk-17-jre-headless"

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka-jars.sh"


def kafka_version() -> str:
    """The Kafka version to run: $RPOCHAOS_KAFKA_VERSION, else ``KAFKA_VERSION``."""
    return os.environ.get("RPOCHAOS_KAFKA_VERSION") or KAFKA_VERSION


def libs_dir(version: str | None = None) -> Path:
    """Where the jars of ``version`` are (or would be): $RPOCHAOS_KAFKA_LIBS, else
    ``<cache>/kafka/<version>/libs``."""
    if env := os.environ.get("RPOCHAOS_KAFKA_LIBS"):
        return Path(env)
    return cache_dir() / "kafka" / (version or kafka_version()) / "libs"


def install_command(version: str | None = None) -> str:
    """The command that fetches the jars into the cache."""
    script = str(_SCRIPT) if _SCRIPT.exists() else "scripts/kafka-jars.sh"
    v = version or kafka_version()
    arg = "" if v == KAFKA_VERSION else f" {v}"
    return f"{script}{arg}   (needs mvn and a JDK >= 17; or: ./dev setup)"


def kafka_classpath(version: str | None = None) -> str:
    """The JVM classpath (``:``-joined jar paths, sorted) for the Kafka broker and its
    StorageTool. Raises MissingDependency with the install command when the jars are not
    there (or only partly there)."""
    v = version or kafka_version()
    libs = libs_dir(v)
    core = libs / f"kafka_{SCALA_VERSION}-{v}.jar"
    explicit = "RPOCHAOS_KAFKA_LIBS" in os.environ
    if explicit:
        cores = sorted(libs.glob(f"kafka_{SCALA_VERSION}-*.jar"))
        if not cores:
            raise MissingDependency(
                f"Kafka jars (kafka_{SCALA_VERSION}-*.jar) in $RPOCHAOS_KAFKA_LIBS={libs}",
                install_command(v),
            )
    elif not (core.is_file() and (libs / COMPLETE_STAMP).is_file()):
        raise MissingDependency(f"Apache Kafka {v} jars in {libs}", install_command(v))
    jars = sorted(p for p in libs.glob("*.jar") if p.is_file())
    return ":".join(str(p) for p in jars)


def installed_version(version: str | None = None) -> str:
    """The Kafka version of the jars on the classpath, from the kafka_2.13-<v>.jar name."""
    kafka_classpath(version)  # raises when missing
    cores = sorted(libs_dir(version).glob(f"kafka_{SCALA_VERSION}-*.jar"))
    name = cores[0].name  # e.g. kafka_2.13-3.9.2.jar
    return name[len(f"kafka_{SCALA_VERSION}-") : -len(".jar")]


def java_bin() -> Path:
    """The ``java`` launcher: $JAVA_HOME/bin/java, else ``java`` on PATH."""
    if home := os.environ.get("JAVA_HOME"):
        p = Path(home) / "bin" / "java"
        if p.exists():
            return p
        raise MissingDependency(f"java at $JAVA_HOME/bin/java ({p})", JAVA_INSTALL)
    if found := shutil.which("java"):
        return Path(found)
    raise MissingDependency("a Java runtime >= 17 (java)", JAVA_INSTALL)


def java_version() -> str:
    """First line of ``java -version`` (it prints to stderr), or 'unknown'."""
    try:
        out = subprocess.run(
            [str(java_bin()), "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stderr or out.stdout).strip()
    return text.splitlines()[0] if text else "unknown"
