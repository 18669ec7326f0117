"""Alpaca wire shapes the local venue sends and the inputs it accepts.

Decimals leave as strings, timestamps as RFC 3339 (``Z``) strings or, on msgpack streams, as
msgpack Timestamps. Inputs accept strings or JSON numbers (alpaca-py sends numbers, the Go SDK
strings). See ``/work/shared/alpaca-protocol.md`` sections 0, 2 and 5.

The scalars themselves (decimal strings, numbers, RFC 3339) come from ``pyrt.venues._alpaca_wire``,
which the client shares; this module keeps the server's side: its error type, the lenient query
parameters and the asset ids.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime
from typing import Final

from ...runtime.clock import NS_PER_SECOND
from .._alpaca_wire import format_decimal, format_timestamp, make_timestamp_parser, parse_number

_ASSET_NAMESPACE: Final = uuid.UUID("5b0a9c2e-6f1d-4d8e-9a57-3c0e1f2a7b64")

#: Exchange reported for equity positions; alpaca-py validates it against its AssetExchange enum.
EQUITY_EXCHANGE: Final = "NASDAQ"
CRYPTO_EXCHANGE: Final = "CRYPTO"


class WireError(ValueError):
    """An input the venue refuses: ``status`` and ``code`` become the Alpaca error body."""

    def __init__(self, message: str, *, status: int = 422, code: int = 40010001) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def is_crypto(symbol: str) -> bool:
    return "/" in symbol


@functools.cache
def asset_id(symbol: str) -> str:
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def asset_class(symbol: str) -> str:
    return "crypto" if is_crypto(symbol) else "us_equity"


def format_ts_opt(ns: int | None) -> str | None:
    return None if ns is None else format_timestamp(ns)


_PARSE_RFC3339: Final = make_timestamp_parser()
_FRACTION: Final = re.compile(r"\.(\d+)")


def parse_ts(text: str, *, name: str) -> int:
    """Parse an RFC 3339 timestamp (or a date) into epoch nanoseconds, keeping all nine digits."""
    text = text.strip().replace(" ", "+")  # "+" in a query string arrives as a space
    try:
        return _PARSE_RFC3339(text)
    except ValueError:
        pass
    # what clients send that RFC 3339 does not cover: a bare date, no offset (read as UTC)
    fraction = _FRACTION.search(text)
    nanos = 0
    if fraction is not None:
        digits = fraction.group(1)
        nanos = int(digits[:9].ljust(9, "0"))
        text = text[: fraction.start()] + text[fraction.end() :]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WireError(f"{name} must be an RFC 3339 timestamp, was {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + nanos


def format_decimal_opt(value: float | None) -> str | None:
    return None if value is None else format_decimal(value)


def parse_decimal(value: object, *, name: str, positive: bool = True) -> float:
    """Parse a decimal input sent as a JSON number or a string."""
    try:
        number = parse_number(value, name=name)
    except ValueError as exc:
        raise WireError(str(exc)) from None
    if positive and number <= 0.0:
        raise WireError(f"{name} must be > 0, was {value!r}")
    return number


def parse_bool(value: object, *, name: str) -> bool:
    """Parse a boolean from JSON or a query string (``true``, ``True``, ``1`` …)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False
    raise WireError(f"{name} must be a boolean, was {value!r}")


def error_body(code: int, message: str) -> dict[str, object]:
    return {"code": code, "message": message}
