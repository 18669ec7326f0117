"""pyrt's messages: frozen attrs classes, one per topic, and their one codec."""

from __future__ import annotations

from ._codec import (
    CONVERTER as CONVERTER,
    MESSAGE_TYPES as MESSAGE_TYPES,
    TOPICS as TOPICS,
    Message as Message,
    decode as decode,
    encode as encode,
    from_dict as from_dict,
    to_dict as to_dict,
)
from .control import (
    CONTROL_COMMANDS as CONTROL_COMMANDS,
    OPERATOR as OPERATOR,
    ControlCommand as ControlCommand,
)
from .enums import OrderType as OrderType, Side as Side, TimeInForce as TimeInForce
from .market import (
    BarReceived as BarReceived,
    BookLevel as BookLevel,
    BookReceived as BookReceived,
    QuoteReceived as QuoteReceived,
    TradeReceived as TradeReceived,
)
from .system import (
    Heartbeat as Heartbeat,
    SupervisorEvent as SupervisorEvent,
    SupervisorEventKind as SupervisorEventKind,
)
from .trading import (
    OrderAccepted as OrderAccepted,
    OrderCanceled as OrderCanceled,
    OrderFilled as OrderFilled,
    OrderRejected as OrderRejected,
    OrderSubmitted as OrderSubmitted,
    RiskApproved as RiskApproved,
    RiskRejected as RiskRejected,
    SignalGenerated as SignalGenerated,
    TradingStateChanged as TradingStateChanged,
)

__all__ = [
    "CONTROL_COMMANDS",
    "CONVERTER",
    "MESSAGE_TYPES",
    "OPERATOR",
    "TOPICS",
    "BarReceived",
    "BookLevel",
    "BookReceived",
    "ControlCommand",
    "Heartbeat",
    "Message",
    "OrderAccepted",
    "OrderCanceled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "OrderType",
    "QuoteReceived",
    "RiskApproved",
    "RiskRejected",
    "Side",
    "SignalGenerated",
    "SupervisorEvent",
    "SupervisorEventKind",
    "TimeInForce",
    "TradeReceived",
    "TradingStateChanged",
    "decode",
    "encode",
    "from_dict",
    "to_dict",
]
