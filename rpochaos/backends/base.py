"""The backend contract: how nodes are started, reached, crashed and removed.

A backend owns every process (or container) it starts and removes all of them in ``close``,
which is idempotent and never raises for something already gone. Topologies (PostgreSQL,
later Kafka) ask the backend for ports, run one-shot commands and start long-lived servers;
they never touch processes directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path


class Server(ABC):
    """A long-lived server the backend started (a PostgreSQL node, a Toxiproxy server)."""

    name: str
    log_path: Path

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL every process of this server at once (a crash: no shutdown, no flush)."""

    @abstractmethod
    def stop(self, timeout_s: float = 10.0, sig: int = 15) -> None:
        """Send ``sig`` (default SIGTERM) to ask the server to shut down, then kill it if it
        has not within ``timeout_s``."""

    @abstractmethod
    def pause(self) -> None:
        """SIGSTOP every process of this server."""

    @abstractmethod
    def resume(self) -> None:
        """SIGCONT every process of this server."""

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Backend(ABC):
    name: str
    host: str  # the address the harness uses to reach servers and proxies

    @abstractmethod
    def free_port(self) -> int: ...

    @abstractmethod
    def run(self, argv: list[str], *, as_db_user: bool, timeout_s: float, what: str) -> str:
        """Run a one-shot command to completion; return its output. Raises TopologyError
        carrying ``what`` and the output when it fails or times out."""

    @abstractmethod
    def spawn(self, name: str, argv: list[str], *, as_db_user: bool) -> Server:
        """Start a long-lived server; its output goes to logs/<name>.log in the run dir."""

    @abstractmethod
    def data_root(self) -> Path:
        """The directory under which node data directories are created."""

    @abstractmethod
    def remove_data(self) -> None:
        """Delete every node data directory."""

    @abstractmethod
    def prepare_dir(self, path: Path) -> Path:
        """Create a directory the database user may own and use (mode 0700)."""

    @abstractmethod
    def close(self) -> None:
        """Kill and remove everything this backend started. Idempotent."""
