"""``python -m rpochaos.images build [--force]`` / ``status``."""

from __future__ import annotations

import argparse
import sys

from rpochaos.errors import MissingDependency, RpochaosError
from rpochaos.images.build import build_images
from rpochaos.images.resolve import status


def main(argv: list[str] | None = None) -> int:
    """``python -m rpochaos.images build [--force]`` / ``status``."""
    p = argparse.ArgumentParser(prog="python -m rpochaos.images")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the local images that are missing")
    b.add_argument("--force", action="store_true", help="rebuild even when present")
    sub.add_parser("status", help="which images the engine has")
    a = p.parse_args(argv)

    def say(msg: str) -> None:
        print(f"[images] {msg}", file=sys.stderr, flush=True)

    try:
        if a.cmd == "build":
            for step in build_images(a.force, log=say):
                print(step)
        else:
            for name, state in status().items():
                print(f"{name}: {state}")
    except MissingDependency as e:
        print(f"error: {e}", file=sys.stderr)
        return 254
    except RpochaosError as e:
        print(f"error: {e}", file=sys.stderr)
        return 255
    return 0
