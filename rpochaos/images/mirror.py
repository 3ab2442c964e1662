"""The Debian mirror the base image is debootstrapped from: the bookworm main, -updates and
-security entries apt uses on this machine (/etc/apt), $RPOCHAOS_DEBIAN_MIRROR replacing the
main mirror, deb.debian.org when apt names none.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from rpochaos.images.names import DEFAULT_MIRROR, MIRROR_ENV, SUITE


def _apt_entries(root: Path = Path("/etc/apt")) -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every 'deb' entry apt is configured with."""
    out: list[tuple[str, list[str], list[str]]] = []
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for f in files:
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    out.append((words[1], [words[2]], words[3:]))
    for f in sorted((root / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            for stanza in re.split(r"\n\s*\n", f.read_text()):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    out.append(
                        (
                            uri,
                            fields.get("suites", "").split(),
                            fields.get("components", "").split(),
                        )
                    )
    return out


def debian_sources(root: Path = Path("/etc/apt")) -> list[tuple[str, str]]:
    """(uri, suite) of the Debian bookworm main, -updates and -security entries apt uses here.
    $RPOCHAOS_DEBIAN_MIRROR replaces the main mirror."""
    wanted = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
    found: list[tuple[str, str]] = []
    for uri, suites, components in _apt_entries(root):
        for suite in suites:
            if suite in wanted and "main" in components and (uri, suite) not in found:
                found.append((uri.rstrip("/"), suite))
    if env := os.environ.get(MIRROR_ENV):
        found = [(env.rstrip("/"), SUITE)] + [(u, s) for u, s in found if s != SUITE]
    if not any(s == SUITE for _, s in found):
        found.insert(0, (DEFAULT_MIRROR, SUITE))
    return found


def debian_mirror(root: Path = Path("/etc/apt")) -> str:
    return next(u for u, s in debian_sources(root) if s == SUITE)
