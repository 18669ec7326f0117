"""pyrt's messages: frozen attrs classes, one per topic, their one codec, and the order lifecycle
(states, transitions, execution identity) that every layer following an order shares.
"""

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
from ._lifecycle import (
    FILL_TOLERANCE as FILL_TOLERANCE,
    ExecutionLedger as ExecutionLedger,
    ExecutionVerdict as ExecutionVerdict,
    OrderState as OrderState,
    advanced as advanced,
    canceled_state as canceled_state,
    is_complete as is_complete,
    is_overfill as is_overfill,
    state_after_fill as state_after_fill,
)
from .control import (
    CONTROL_COMMANDS as CONTROL_COMMANDS,
    OPERATOR as OPERATOR,
    ControlApplied as ControlApplied,
    ControlCommand as ControlCommand,
)
from .enums import OrderType as OrderType, Side as Side, TimeInForce as TimeInForce
from .market import (
    MARKING_TYPES as MARKING_TYPES,
    BarReceived as BarReceived,
    BookLevel as BookLevel,
    BookReceived as BookReceived,
    MarkingMessage as MarkingMessage,
    QuoteReceived as QuoteReceived,
    TradeReceived as TradeReceived,
    mark_price as mark_price,
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
    "FILL_TOLERANCE",
    "MARKING_TYPES",
    "MESSAGE_TYPES",
    "OPERATOR",
    "TOPICS",
    "BarReceived",
    "BookLevel",
    "BookReceived",
    "ControlApplied",
    "ControlCommand",
    "ExecutionLedger",
    "ExecutionVerdict",
    "Heartbeat",
    "MarkingMessage",
    "Message",
    "OrderAccepted",
    "OrderCanceled",
    "OrderFilled",
    "OrderRejected",
    "OrderState",
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
    "advanced",
    "canceled_state",
    "decode",
    "encode",
    "from_dict",
    "is_complete",
    "is_overfill",
    "mark_price",
    "state_after_fill",
    "to_dict",
]
