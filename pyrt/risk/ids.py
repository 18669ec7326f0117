"""Client order ids: the one id per signal under which an approved order travels.

The risk engine mints the id when it approves a signal (``risk.approved`` carries it), and its
duplicate check is keyed on it; execution only ever sends the id it was handed. The id is a pure
function of the signal id, so a redelivered or replayed signal gets the same one and a venue that
already has the order recognises it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["client_order_id_for"]

_CLIENT_ORDER_ID_PREFIX: Final = "pyrt-"
_CLIENT_ORDER_ID_MAX: Final = 48
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")


def client_order_id_for(signal_id: str) -> str:
    """Return the deterministic client order id for a signal.

    ``pyrt-<signal_id>`` when that is at most 48 characters of ``[A-Za-z0-9_-]``; otherwise a
    sanitized prefix of the signal id plus a hash of the whole id, so distinct signals still
    get distinct ids and a replayed signal gets the same one.

    Args:
        signal_id: the signal's id (non-empty).

    Returns:
        An id of at most 48 characters from ``[A-Za-z0-9_-]``.
    """
    plain = _CLIENT_ORDER_ID_PREFIX + signal_id
    if len(plain) <= _CLIENT_ORDER_ID_MAX and _SAFE_ID.match(signal_id):
        return plain
    digest = hashlib.blake2b(signal_id.encode("utf-8"), digest_size=8).hexdigest()
    room = _CLIENT_ORDER_ID_MAX - len(_CLIENT_ORDER_ID_PREFIX) - len(digest) - 1
    stem = _UNSAFE_CHARS.sub("_", signal_id)[:room]
    return f"{_CLIENT_ORDER_ID_PREFIX}{stem}-{digest}"
