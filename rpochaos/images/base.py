"""The Debian base image ``rpochaos/debian:bookworm``: ``debootstrap --variant=minbase`` (as
root) from the mirror apt uses here, imported with ``docker import``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rpochaos.errors import MissingDependency, RpochaosError
from rpochaos.images.buildtools import _cmd, _workdir
from rpochaos.images.mirror import debian_sources
from rpochaos.images.names import BASE_IMAGE, SUITE, Log
from rpochaos.images.recipes import _labels

if TYPE_CHECKING:
    import docker


def _build_base(c: docker.DockerClient, log: Log) -> None:
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise MissingDependency(
            "debootstrap (to build the Debian base image)", "apt-get install -y debootstrap"
        )
    if os.geteuid() != 0:
        raise MissingDependency("root (debootstrap must run as root)", "sudo rpochaos images build")
    sources = debian_sources()
    mirror = next(u for u, s in sources if s == SUITE)
    work = _workdir("rootfs-")
    try:
        root = work / "root"
        log(f"debootstrap --variant=minbase {SUITE} from {mirror}")
        _cmd(
            [debootstrap, "--variant=minbase", SUITE, str(root), mirror],
            what="debootstrap",
            timeout_s=1800,
        )
        (root / "etc/apt/sources.list").write_text(
            "".join(f"deb {u} {s} main\n" for u, s in sources)
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = work / "rootfs.tar"
        _cmd(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tar), "."],
            what="tar of the root file system",
            timeout_s=600,
        )
        log(f"docker import -> {BASE_IMAGE}")
        repo, tag = BASE_IMAGE.rsplit(":", 1)
        c.api.import_image_from_file(
            str(tar), repository=repo, tag=tag, changes=['CMD ["bash"]', "ENV LANG=C.UTF-8"]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if _labels(c, BASE_IMAGE) is None:
        raise RpochaosError(f"docker import did not create {BASE_IMAGE}")
