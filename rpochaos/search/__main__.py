"""``python -m rpochaos.search SCENARIO.yaml --budget N ...``: the search command on its own
(the same ``add_arguments`` and ``main`` as ``rpochaos search``)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from rpochaos.result import EXIT_BAD_INPUT
from rpochaos.search.cli import add_arguments, main


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def entry(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="rpochaos search", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main(args, Console(highlight=False, soft_wrap=True))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the runs tore down their faults and processes\n")
        return 130


if __name__ == "__main__":
    sys.exit(entry())
