"""Context-manager bases for things that hold a resource until ``close``.

``Closing``: ``with thing:`` yields the thing itself and calls ``close()`` on the way out,
whatever happened inside; exceptions are never swallowed. ``Started``: ``with thing:`` calls
``start()`` and yields the thing itself; when ``start`` raises (or is interrupted), ``close()``
runs before the exception goes on, so a half-started thing leaves nothing behind. Subclasses
supply ``close`` (and ``start``); ``close`` should be safe to call more than once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closing(ABC):
    """``with`` yields ``self``; leaving the block calls ``close()`` and lets exceptions pass."""

    @abstractmethod
    def close(self) -> None:
        """Release what this object holds; safe to call more than once."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Started(Closing):
    """``with`` calls ``start()`` and yields ``self``; if ``start`` raises, ``close()`` runs
    first and the exception propagates. Leaving the block calls ``close()``."""

    @abstractmethod
    def start(self) -> object:
        """Bring the thing up; what it returns (``self``, for chaining, or None) is ignored."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self
