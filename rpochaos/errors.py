"""One error tree for rpochaos.

    RpochaosError                 every error this library raises on purpose
     ├── ScenarioError            a scenario file (or override) is wrong; lists every problem
     ├── MissingDependency        a binary or service is not installed; says how to install it
     ├── ProxyError               a Toxiproxy API call failed; names the call and the reason
     ├── TopologyError            a node did not come up or did not answer; carries its log tail
     └── WorkloadError            the workload could not be set up (schema, first connection)

Each message says what was given, what was expected, and how to fix it. The CLI maps
ScenarioError and MissingDependency to exit code 254, anything else to 255.
"""

from __future__ import annotations

from dataclasses import dataclass


class RpochaosError(Exception):
    """Root of every error rpochaos raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where it is, what was given, what was expected."""

    file: str
    line: int | None
    key: str
    given: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: got {self.given}, expected {self.expected}"


class ScenarioError(RpochaosError):
    """A scenario is invalid. ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in scenario"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class MissingDependency(RpochaosError):
    """A needed program is missing. The message says which one and the command that installs it."""

    def __init__(self, what: str, install: str) -> None:
        self.what = what
        self.install = install
        super().__init__(f"{what} was not found. Install it with: {install}")


class NotEnoughSpace(RpochaosError):
    """The filesystem that would hold a run directory has too little free space for the run.
    The message says where, how much is free, how much is needed and what to do."""


class ProxyError(RpochaosError):
    """A Toxiproxy API call failed (HTTP error, timeout, or refused connection)."""


class TopologyError(RpochaosError):
    """A node failed to start, become ready, or act (promote, restart)."""


class WorkloadError(RpochaosError):
    """The workload could not be prepared (schema creation, first connection)."""


def first_line(e: BaseException) -> str:
    """``e`` in one line for a journal note or a status: ``<type>: <first line of the
    message>``, cut to 200 characters."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:200]


#: what the CLI reports as bad input (exit 254) rather than as a failure
BAD_INPUT: tuple[type[Exception], ...] = (
    ScenarioError,
    MissingDependency,
    NotEnoughSpace,
    FileNotFoundError,
)


def bad_input_text(e: Exception) -> str:
    """The one message the CLI prints for a ``BAD_INPUT`` error: a missing file as
    ``<file>: no such file``, anything else as its own message (which says where and why)."""
    if isinstance(e, FileNotFoundError):
        return f"{e.filename}: no such file"
    return str(e)
