"""``heal``: undo what a game day left after its harness was killed.

``heal_inventory(inv, runs_root)`` finds every audit journal under ``runs_root`` written for
this inventory whose run has no ``end`` record, applies each undo not yet done (remove the
run's toxics, unpause the containers it paused), records ``undone by heal`` in that journal,
and then removes any toxic on the inventory's proxies that carries one of those runs' ids.
``heal_all(inv, runs_root)`` removes every rpochaos toxic on the inventory's Toxiproxy (all
proxies) and unpauses every container any journal paused. Both return what they did.
"""

from __future__ import annotations

from pathlib import Path

from rpochaos.gameday.actions import TOXIC_PREFIX, DockerCli, undo
from rpochaos.gameday.audit import AUDIT, Audit, ended, pending_undos, records, run_id_of
from rpochaos.gameday.inventory import InventoryBase
from rpochaos.proxy import Toxiproxy


def journals(inv: InventoryBase, runs_root: Path) -> list[Path]:
    """Audit journals under ``runs_root`` whose start record names this inventory."""
    found: list[Path] = []
    if not runs_root.exists():
        return found
    for p in sorted(runs_root.rglob(AUDIT)):
        start = next((r for r in records(p) if r.get("kind") == "start"), None)
        if start is not None and start.get("inventory") == inv.name:
            found.append(p)
    return found


def heal_inventory(inv: InventoryBase, runs_root: Path, *, everything: bool = False) -> list[str]:
    done: list[str] = []
    tp = Toxiproxy(inv.toxiproxy.api) if inv.toxiproxy else None
    docker = DockerCli(inv.docker.host) if inv.docker else None
    try:
        run_ids: set[str] = set()
        paused: set[str] = set()
        for path in journals(inv, runs_root):
            rid = run_id_of(path)
            for rec in records(path):
                undos = rec.get("undo")
                for u in undos if isinstance(undos, list) else []:
                    if isinstance(u, dict) and isinstance(u.get("unpause"), str):
                        paused.add(str(u["unpause"]))
            if ended(path) and not everything:
                continue
            if rid:
                run_ids.add(rid)
            pending = pending_undos(path)
            if not pending:
                continue
            audit = Audit(path)
            try:
                for _i, u in pending:
                    what = undo(u, tp, docker)
                    done.append(f"run {rid}: {what}" if what else f"run {rid}: {u} (already gone)")
                for i in sorted({i for i, _ in pending}):
                    audit.write("undone", id=i, by="heal")
                audit.write("end", exit_path="healed by rpochaos heal")
            finally:
                audit.close()
        if tp is not None:
            for name, info in tp.proxies().items():
                if not everything and name not in inv.links.values():
                    continue
                for toxic in info.toxics:
                    mine = any(toxic.startswith(f"{TOXIC_PREFIX}{r}-") for r in run_ids)
                    if (everything and toxic.startswith(TOXIC_PREFIX)) or mine:
                        tp.remove_toxic(name, toxic)
                        done.append(f"removed toxic {toxic} from {name}")
        if everything and docker is not None:
            for c in sorted(paused):
                if docker.unpause(c):
                    done.append(f"unpaused {c}")
    finally:
        if tp is not None:
            tp.close()
    return done
