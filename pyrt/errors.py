"""Every exception pyrt raises on purpose.

::

    PyrtError                      base of everything pyrt raises on purpose
    ├── ConfigError(ValueError)    lists every bad key/env var in one message
    ├── DecodeError(ValueError)    frame or journal record that does not structure
    ├── JournalError               a journal file that cannot be opened or is not a journal
    ├── StoreError                 a store (SQLite) file that cannot be opened or written
    ├── VenueError
    │   ├── TransportError         connect/read/timeout: retryable
    │   ├── RateLimited            HTTP 429: ``.retry_after`` seconds
    │   ├── VenueRejected          other 4xx: never retried; becomes an order.rejected message
    │   └── VenueUnavailable       5xx: retryable with backoff
    ├── SupervisionError           restart intensity exceeded; ``__cause__`` is the child's error
    └── InvariantViolation         a numbered invariant broke (``.invariant_id``): fail fast

Business outcomes (a risk rejection, a venue 4xx on an order) are messages, not exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "DecodeError",
    "InvariantViolation",
    "JournalError",
    "PyrtError",
    "RateLimited",
    "StoreError",
    "SupervisionError",
    "TransportError",
    "VenueError",
    "VenueRejected",
    "VenueUnavailable",
]


class PyrtError(Exception):
    """Base of every exception pyrt raises on purpose."""


class ConfigError(PyrtError, ValueError):
    """A configuration with one or more bad keys, values or environment variables.

    Attributes:
        errors: one line per problem, each naming the key (``$.risk.max_order_size``) or variable.
    """

    def __init__(self, errors: Sequence[str], *, source: str = "config") -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        self.source = source
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"invalid {source} ({len(self.errors)} problem(s)):\n{lines}")


class DecodeError(PyrtError, ValueError):
    """A payload that does not decode into a pyrt message.

    Attributes:
        source: where the payload came from (``"journal"``, ``"alpaca.stream"`` …).
        preview: the first bytes of the payload, for the log.
    """

    def __init__(self, message: str, *, source: str = "", preview: str = "") -> None:
        self.source = source
        self.preview = preview[:120]
        text = message if not source else f"{source}: {message}"
        if self.preview:
            text = f"{text} (payload starts {self.preview!r})"
        super().__init__(text)


class JournalError(PyrtError):
    """A journal file that cannot be opened, or is not a pyrt journal."""


class StoreError(PyrtError):
    """A store file that cannot be opened or written, or is not a (readable) pyrt store."""


class VenueError(PyrtError):
    """Base of errors talking to a venue."""


class TransportError(VenueError):
    """Connect, read or timeout failure: the request may or may not have reached the venue."""


class RateLimited(VenueError):
    """HTTP 429 from the venue.

    Attributes:
        retry_after: seconds the venue asked us to wait.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class VenueRejected(VenueError):
    """A 4xx other than 429: the request is wrong and is never retried.

    Attributes:
        status_code: the HTTP status.
        code: the venue's error code, when its body had one.
    """

    def __init__(self, message: str, *, status_code: int, code: int | None = None) -> None:
        self.status_code = status_code
        self.code = code
        super().__init__(message)


class VenueUnavailable(VenueError):
    """A 5xx from the venue: retryable with backoff.

    Attributes:
        status_code: the HTTP status.
    """

    def __init__(self, message: str, *, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(message)


class SupervisionError(PyrtError):
    """A child exceeded its supervisor's restart intensity; ``__cause__`` is its last error."""


class InvariantViolation(PyrtError):
    """A numbered invariant from ``specs/`` broke.

    Attributes:
        invariant_id: the invariant's number, e.g. ``"R3"``.
    """

    def __init__(self, invariant_id: str, message: str) -> None:
        self.invariant_id = invariant_id
        super().__init__(f"{invariant_id}: {message}")
