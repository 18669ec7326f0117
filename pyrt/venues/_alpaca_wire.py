"""Alpaca's wire scalars, one implementation for both sides of the protocol.

The client (``pyrt.venues.alpaca._wire``) and the Alpaca-compatible server
(``pyrt.venues.local._wire``) write decimals, read numbers and read and write RFC 3339
timestamps the same way, so both import them from here and keep only what is side-specific
(their error types, the server's lenient query parameters, the client's REST objects and frames).
See ``/work/shared/alpaca-protocol.md`` sections 0 and 2.

Each function raises a plain ``ValueError`` whose text says what was expected and what was
found; each side re-raises it as its own error (``DecodeError`` on the client, ``WireError``
with an HTTP status on the server).
"""

from __future__ import annotations

import calendar
import datetime
import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from ..runtime.clock import NS_PER_SECOND

__all__ = ["format_decimal", "format_timestamp", "make_timestamp_parser", "parse_number"]

_SECONDS_CACHE_LIMIT: Final = 4096
_PAD: Final = "000000000"


def format_decimal(value: float) -> str:
    """Format a float as a plain decimal string (no exponent): ``10.0 -> "10"``, ``1.5 -> "1.5"``.

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    value = float(value)  # an int passes the float annotation
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, was {value!r}")
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def parse_number(value: object, *, name: str) -> float:
    """Parse a decimal sent as a string (the Go SDK) or a JSON number (alpaca-py).

    Raises:
        ValueError: not a finite number, e.g. ``"qty must be a decimal number, was 'x'"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a decimal number, was {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a decimal number, was {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, was {value!r}")
    return number


def format_timestamp(ns: int) -> str:
    """Format epoch nanoseconds as RFC 3339 UTC with all nine fraction digits and ``Z``."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def make_timestamp_parser() -> Callable[[str], int]:
    """Return a parser of RFC 3339 text to epoch nanoseconds, fast for a stream's stamps.

    The ``YYYY-MM-DDTHH:MM:SS`` head is looked up in a small cache of its own (one ``timegm``
    per distinct second); the fraction (any number of digits, nanoseconds kept) and the offset
    (``Z`` or ``±HH:MM``) are parsed by hand. A closure, not a method: this runs once per
    message on the JSON hot path. The parser raises ``ValueError`` on anything else.
    """
    seconds_cache: dict[str, int] = {}
    cached = seconds_cache.get

    def head_seconds(head: str) -> int:
        if len(head) != 19 or head[4] != "-" or head[7] != "-" or head[10] not in "Tt " or head[13] != ":":
            raise ValueError(f"timestamp must be RFC 3339, was {head!r}")
        fields = (
            int(head[0:4]),
            int(head[5:7]),
            int(head[8:10]),
            int(head[11:13]),
            int(head[14:16]),
            int(head[17:19]),
        )
        try:  # timegm would roll month 13 or February 30 over; a datetime refuses them
            datetime.datetime(*fields, tzinfo=datetime.UTC)
        except ValueError:
            raise ValueError(f"timestamp must be RFC 3339, was {head!r}") from None
        seconds = calendar.timegm(fields)
        if len(seconds_cache) >= _SECONDS_CACHE_LIMIT:
            seconds_cache.clear()
        seconds_cache[head] = seconds
        return seconds

    def parse(text: str) -> int:
        head = text[:19]
        seconds = cached(head)
        if seconds is None:
            seconds = head_seconds(head)
        if len(text) == 30 and text[29] == "Z" and text[19] == ".":  # the common nanosecond form
            return seconds * NS_PER_SECOND + int(text[20:29])
        rest = text[19:]
        fraction = 0
        if rest[:1] == ".":
            end = 1
            while end < len(rest) and rest[end].isdigit():
                end += 1
            digits = rest[1:end]
            if not digits:
                raise ValueError(f"timestamp must be RFC 3339, was {text!r}")
            fraction = int((digits + _PAD)[:9])
            rest = rest[end:]
        if rest in ("Z", "z"):
            offset = 0
        elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
            offset = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if rest[0] == "-":
                offset = -offset
        else:
            raise ValueError(f"timestamp must be RFC 3339, was {text!r}")
        return (seconds - offset) * NS_PER_SECOND + fraction

    return parse
