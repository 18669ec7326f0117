"""Bugs injected on purpose into the real code, for the swarm to find (issue 10).

Each ``inject_*`` function patches pyrt in the process it runs in: a swarm's workers call it as
their initializer, a test's own reproduction run through ``monkeypatch``. Nothing in ``pyrt/``
knows about them.
"""

from __future__ import annotations

import trio

from pyrt.errors import RateLimited, TransportError
from pyrt.execution.engine import ExecutionEngine
from pyrt.messages import ExecutionLedger, ExecutionVerdict
from pyrt.risk.actor import RiskActor
from pyrt.runtime.bus import Bus, Policy

_original_on_submit_result = ExecutionEngine.on_submit_result
_original_check = ExecutionLedger.check
_original_subscribe = Bus.subscribe


def resubmit_on_submit_result(self, client_order_id, result, now_ns):
    # a lost reply (the venue took the order) taken for a refusal: resent with no lookup
    if isinstance(result, TransportError):
        result = RateLimited(str(result), retry_after=1.0)
    return _original_on_submit_result(self, client_order_id, result, now_ns)


def ledger_keyed_by_order(self, fill):
    # a second fill of an order taken for a redelivery of its first: dropped as "seen"
    seen = self._seen
    if fill.execution_id not in seen and any(key[0] == fill.client_order_id for key in seen.values()):
        return ExecutionVerdict.DUPLICATE
    return _original_check(self, fill)


def blocking_outcomes_subscribe(self, *topics, name, policy=Policy.BLOCK, buffer=16):
    # risk reads order outcomes on a block channel (not feedback): risk → execution → risk cycle
    if name == "risk.orders":
        policy, buffer = Policy.BLOCK, 0
    return _original_subscribe(self, *topics, name=name, policy=policy, buffer=buffer)


async def outcomes_only_between_signals(self, ctx, outcomes):
    # ... and drains them only in its signal loop, which itself publishes into execution
    await trio.sleep_forever()


PATCHES = {
    "resubmit": ((ExecutionEngine, "on_submit_result", resubmit_on_submit_result),),
    "dropfill": ((ExecutionLedger, "check", ledger_keyed_by_order),),
    "cycle": (
        (Bus, "subscribe", blocking_outcomes_subscribe),
        (RiskActor, "_outcomes", outcomes_only_between_signals),
    ),
}


def _inject(name: str) -> None:
    for owner, attribute, replacement in PATCHES[name]:
        setattr(owner, attribute, replacement)


def inject_resubmit() -> None:
    _inject("resubmit")


def inject_dropfill() -> None:
    _inject("dropfill")


def inject_cycle() -> None:
    _inject("cycle")
