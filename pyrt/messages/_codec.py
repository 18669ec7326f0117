from __future__ import annotations

from typing import Final, TypeAlias

import cattrs
import orjson
from cattrs.preconf.orjson import make_converter as _make_orjson_converter
from cattrs.strategies import configure_tagged_union

from ..errors import DecodeError
from .control import ControlApplied, ControlCommand
from .market import BarReceived, BookReceived, QuoteReceived, TradeReceived
from .system import Heartbeat, SupervisorEvent
from .trading import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskApproved,
    RiskRejected,
    SignalGenerated,
    TradingStateChanged,
)

Message: TypeAlias = (
    TradeReceived
    | QuoteReceived
    | BarReceived
    | BookReceived
    | SignalGenerated
    | RiskApproved
    | RiskRejected
    | TradingStateChanged
    | OrderSubmitted
    | OrderAccepted
    | OrderFilled
    | OrderCanceled
    | OrderRejected
    | Heartbeat
    | SupervisorEvent
    | ControlCommand
    | ControlApplied
)

MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    TradeReceived,
    QuoteReceived,
    BarReceived,
    BookReceived,
    SignalGenerated,
    RiskApproved,
    RiskRejected,
    TradingStateChanged,
    OrderSubmitted,
    OrderAccepted,
    OrderFilled,
    OrderCanceled,
    OrderRejected,
    Heartbeat,
    SupervisorEvent,
    ControlCommand,
    ControlApplied,
)

TOPICS: Final[dict[str, type[Message]]] = {cls.TOPIC: cls for cls in MESSAGE_TYPES}


def _topic_of(cls: type) -> str:
    topic: str = cls.TOPIC  # type: ignore[attr-defined]  # every union member declares TOPIC
    return topic


def make_converter() -> cattrs.Converter:
    """Build pyrt's one converter: orjson, unknown keys forbidden, messages tagged by topic."""
    conv = _make_orjson_converter(forbid_extra_keys=True)
    configure_tagged_union(Message, conv, tag_name="topic", tag_generator=_topic_of)
    return conv


CONVERTER: Final = make_converter()
# the tagged union's own hook, looked up once: CONVERTER.unstructure(msg, Message) dispatches on
# every call, and encode runs once per journaled message (issue 10)
_UNSTRUCTURE_MESSAGE: Final = CONVERTER.get_unstructure_hook(Message)


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError | TypeError) and str(exc):
        return str(exc)  # the validators' messages name the field and the bad value
    return cattrs.v.format_exception(exc, type_)


def to_dict(msg: Message) -> dict[str, object]:
    """Unstructure a message to plain data, tagged with its ``topic``."""
    data: dict[str, object] = CONVERTER.unstructure(msg, Message)
    return data


def from_dict(data: object, *, source: str = "") -> Message:
    """Structure plain data (with a ``topic`` key) into its message class.

    Raises:
        DecodeError: naming the topic and every bad field.
    """
    if not isinstance(data, dict):
        raise DecodeError(
            f"expected a JSON object with a topic, was {type(data).__name__}",
            source=source,
            preview=repr(data),
        )
    try:
        msg: Message = CONVERTER.structure(data, Message)  # type: ignore[arg-type]  # the union alias is a valid structure target
    except KeyError as exc:
        raise DecodeError(f"unknown or missing topic {exc}", source=source, preview=repr(data)) from exc
    except cattrs.ClassValidationError as exc:
        details = "; ".join(cattrs.transform_error(exc, format_exception=_format_exception))
        raise DecodeError(details, source=source, preview=repr(data)) from exc
    except (ValueError, TypeError) as exc:
        raise DecodeError(str(exc), source=source, preview=repr(data)) from exc
    return msg


def encode(msg: Message) -> bytes:
    """Encode one message as JSON bytes (with ``topic``)."""
    return orjson.dumps(_UNSTRUCTURE_MESSAGE(msg))


def decode(payload: bytes | str, *, source: str = "") -> Message:
    """Decode JSON bytes made by :func:`encode`.

    Raises:
        DecodeError: the bytes are not JSON, or not a valid message.
    """
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}", source=source, preview=str(payload[:120])) from exc
    return from_dict(data, source=source)
