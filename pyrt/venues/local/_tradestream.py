"""The ``trade_updates`` stream at ``/stream`` (protocol reference section 3).

After ``authenticate`` the server sends exactly one authorization reply (alpaca-py reads one
message and nothing else), then ``listen`` is answered with ``listening``. Updates are JSON text
frames ``{"stream": "trade_updates", "data": {...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import orjson
import trio

from ._faults import FaultState, WsFault
from ._websocket import ServerWebSocket, StreamSession, raw_frame

logger = logging.getLogger(__name__)

KNOWN_STREAMS: Final = ("trade_updates",)


class TradeUpdatesHub:
    """Every trade_updates session; :meth:`publish` fans an update out without blocking."""

    def __init__(
        self,
        *,
        check_credentials: Callable[[str, str], bool],
        faults: FaultState,
        auth_timeout: float,
        output_limit: int,
    ) -> None:
        self._check_credentials = check_credentials
        self.faults = faults
        self.auth_timeout = auth_timeout
        self.output_limit = output_limit
        self.sessions: dict[TradeSession, None] = {}  # insertion-ordered, unlike a set (issue 10)
        self.updates_sent = 0
        self.slow_clients = 0

    def check_credentials(self, key: str, secret: str) -> bool:
        return self._check_credentials(key, secret)

    @property
    def has_listeners(self) -> bool:
        """Whether any session would receive an update now."""
        return any(session.listening for session in self.sessions)

    def publish(self, payload: dict[str, object]) -> None:
        """Send one trade update to every listening session."""
        listening = [s for s in self.sessions if s.listening and not s.ws.closed]
        if not listening:
            return
        text = orjson.dumps({"stream": "trade_updates", "data": payload}).decode()
        for session in listening:
            session.deliver(text)

    async def serve_connection(self, ws: ServerWebSocket) -> None:
        session = TradeSession(self, ws)
        self.sessions[session] = None
        try:
            await session.run()
        finally:
            self.sessions.pop(session, None)


class TradeSession(StreamSession):
    """One trade_updates connection."""

    def __init__(self, hub: TradeUpdatesHub, ws: ServerWebSocket) -> None:
        super().__init__(ws)
        self.hub = hub
        self.authorized = False
        self.streams: list[str] = []

    @property
    def listening(self) -> bool:
        return self.authorized and "trade_updates" in self.streams

    def _send(self, message: dict[str, object]) -> None:
        if not self.ws.send_nowait(orjson.dumps(message).decode()):
            self._slow()

    def _slow(self) -> None:
        self.hub.slow_clients += 1
        logger.warning("trade_updates client cut off as slow; slow clients so far: %d", self.hub.slow_clients)
        self.kick()

    def deliver(self, text: str) -> None:
        if self.ws.silent:
            return
        fault = self.hub.faults.next_trade_ws_fault()
        if fault is not None and self._inject(fault, text):
            return
        if not self.ws.send_nowait(text):
            self._slow()
            return
        self.hub.updates_sent += 1

    def _inject(self, fault: WsFault, text: str) -> bool:
        logger.info("injecting %s on /stream", fault.value)
        data = text.encode()
        if fault is WsFault.CLOSE_MID_FRAME:
            frame = raw_frame(0x1, data)
            self.ws.send_raw_nowait(frame[: max(2, len(frame) // 2)])
            self.kick()
            return True
        if fault is WsFault.MALFORMED_FRAME:
            self.ws.send_raw_nowait(raw_frame(0x3, data, rsv=0b010))
            return True
        if fault is WsFault.TRUNCATED_PAYLOAD:
            self.ws.send_nowait(text[: max(1, len(text) // 2)], force=True)
            return True
        if fault is WsFault.GO_SILENT:
            self.ws.silent = True
            return True
        if fault is WsFault.UNKNOWN_MESSAGE:
            self.ws.send_nowait('{"stream":"mystery","data":{"what":"unknown"}}', force=True)
            return False
        if fault is WsFault.NAN_PRICE:
            self.ws.send_nowait(text.replace('"price":"', '"price":NaN,"was":"', 1), force=True)
            return True
        self.ws.send_nowait(text + " " * self.hub.faults.faults.ws_oversized_bytes, force=True)
        return True

    async def serve(self) -> None:
        deadline = trio.current_time() + self.hub.auth_timeout
        while True:
            raw: str | bytes | None = None
            if self.authorized:
                raw = await self.ws.receive_message()
            else:
                with trio.move_on_at(deadline):
                    raw = await self.ws.receive_message()
                if raw is None:
                    self._send(_authorization("authenticate", "unauthorized"))
                    self.ws.close(1000, "auth timeout")
                    return
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self._send({"stream": "error", "data": {"error_message": "invalid syntax"}})
                continue
            if not isinstance(message, dict):
                self._send({"stream": "error", "data": {"error_message": "invalid syntax"}})
                continue
            action = message.get("action")
            data = message.get("data")
            if action in ("authenticate", "auth"):
                if self.authorized:
                    continue  # alpaca-py never re-authenticates; a second reply could confuse a client
                if action == "auth":
                    key, secret = message.get("key"), message.get("secret")
                elif isinstance(data, dict):
                    key, secret = data.get("key_id"), data.get("secret_key")
                else:
                    key = secret = None
                ok = (
                    isinstance(key, str)
                    and isinstance(secret, str)
                    and self.hub.check_credentials(key, secret)
                )
                self._send(_authorization("authenticate", "authorized" if ok else "unauthorized"))
                if not ok:
                    logger.info("trade_updates auth failed")
                    self.ws.close(1008, "unauthorized")
                    return
                self.authorized = True
                logger.info("trade_updates session authorized")
            elif action == "listen":
                if not self.authorized:
                    self._send(_authorization("listen", "unauthorized"))
                    continue
                streams = data.get("streams") if isinstance(data, dict) else None
                if not isinstance(streams, list):
                    self._send({"stream": "error", "data": {"error_message": "invalid listen request"}})
                    continue
                self.streams = [s for s in streams if s in KNOWN_STREAMS]
                self._send({"stream": "listening", "data": {"streams": list(self.streams)}})
            else:
                self._send({"stream": "error", "data": {"error_message": f"unknown action {action!r}"}})


def _authorization(action: str, status: str) -> dict[str, object]:
    return {"stream": "authorization", "data": {"action": action, "status": status}}
