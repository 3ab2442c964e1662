"""What a game day does to the inventory's system, and how each thing is undone.

Link faults are Toxiproxy toxics named ``rpochaos-<run id>-<step>-<kind>-<stream>`` (so
``heal`` can find exactly one run's, or every rpochaos toxic); node actions are the docker CLI
(``docker kill`` / ``pause`` / ``restart``, ``-H`` from the inventory); a promotion is the
inventory's failover command. Every undo here is idempotent: healing twice is harmless.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from rpochaos.errors import ProxyError
from rpochaos.gameday.audit import Undo
from rpochaos.gameday.inventory import InventoryBase
from rpochaos.proxy import Stream, Toxiproxy
from rpochaos.scenario import Step

TOXIC_PREFIX = "rpochaos-"


class ActionError(RuntimeError):
    pass


def toxic_name(run_id: str, step: Step, stream: str) -> str:
    return f"{TOXIC_PREFIX}{run_id}-{step.index}-{step.action}-{stream}"


def streams(step: Step) -> tuple[Stream, ...]:
    d = str(step.params.get("direction", "both"))
    if d == "upstream":
        return ("upstream",)
    if d == "downstream":
        return ("downstream",)
    return ("upstream", "downstream")


def toxic_of(step: Step) -> tuple[str, dict[str, int | float]]:
    """Toxiproxy's type and attributes for a link step."""
    p = step.params
    if step.action == "partition":
        return "timeout", {"timeout": 0}
    if step.action == "latency":
        delay = p.get("delay", 0.0)
        jitter = p.get("jitter", 0.0)
        assert isinstance(delay, int | float) and isinstance(jitter, int | float)
        return "latency", {"latency": round(delay * 1000), "jitter": round(jitter * 1000)}
    rate = p.get("rate_kbps", 1)
    assert isinstance(rate, int | float)
    return "bandwidth", {"rate": int(rate)}


def link_undos(inv: InventoryBase, run_id: str, step: Step) -> list[Undo]:
    proxy = inv.links[step.target]
    return [{"toxic": {"proxy": proxy, "name": toxic_name(run_id, step, s)}} for s in streams(step)]


def add_toxics(tp: Toxiproxy, inv: InventoryBase, run_id: str, step: Step) -> None:
    type_, attrs = toxic_of(step)
    proxy = inv.links[step.target]
    for s in streams(step):
        tp.add_toxic(proxy, toxic_name(run_id, step, s), type_, s, attrs)


class DockerCli:
    """The docker CLI against the inventory's engine."""

    def __init__(self, host: str | None, timeout_s: float = 30.0) -> None:
        self.base = ["docker", *(["-H", host] if host else [])]
        self.timeout_s = timeout_s

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            out = subprocess.run(
                [*self.base, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ActionError(f"docker {' '.join(args)}: {e}") from None
        if check and out.returncode != 0:
            raise ActionError(f"docker {' '.join(args)}: {out.stderr.strip()[:300]}")
        return out

    def state(self, container: str) -> str | None:
        """'running', 'paused', 'exited', ... or None when there is no such container."""
        out = self.run("inspect", "-f", "{{.State.Status}}", container, check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    def unpause(self, container: str) -> bool:
        """Unpause if paused; True when it was paused."""
        if self.state(container) == "paused":
            self.run("unpause", container)
            return True
        return False


def undo(u: Undo, tp: Toxiproxy | None, docker: DockerCli | None) -> str | None:
    """Apply one undo; returns what it did (None: nothing was left to undo)."""
    tox = u.get("toxic")
    if isinstance(tox, dict):
        if tp is None:
            raise ActionError("a toxic to remove but no Toxiproxy in the inventory")
        proxy, name = str(tox["proxy"]), str(tox["name"])
        try:
            present = name in toxics_on(tp, proxy)
        except ProxyError:
            present = True
        if present:
            tp.remove_toxic(proxy, name)
            return f"removed toxic {name} from {proxy}"
        return None
    container = u.get("unpause")
    if isinstance(container, str):
        if docker is None:
            raise ActionError("a container to unpause but no docker in the inventory")
        return f"unpaused {container}" if docker.unpause(container) else None
    return None


def toxics_on(tp: Toxiproxy, proxy: str) -> list[str]:
    """The names of the toxics on a proxy, read from the API."""
    return list(tp.get_proxy(proxy).toxics)


def fill(command: Sequence[str], target: str) -> list[str]:
    return [a.replace("{target}", target) for a in command]
