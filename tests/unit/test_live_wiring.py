"""How live mode builds its parts from the config (no sockets are opened here)."""

from __future__ import annotations

import logging

import pytest
import trio

from pyrt.config import load_config
from pyrt.modes.live import open_live_venue, warn_reserved_keys
from pyrt.runtime.clock import WallClock

ENV = {"APCA_API_KEY_ID": "PKTEST", "APCA_API_SECRET_KEY": "not-a-real-secret"}


def test_the_feeds_reconnect_after_market_data_reconnect_delay_secs() -> None:
    # the key was read by nothing: the feeds reconnected after their own 1 s
    config = load_config(
        env=ENV, overrides={"run.venue": "http://127.0.0.1:9", "market_data.reconnect_delay_secs": 7.5}
    )

    async def main() -> list[float]:
        async with open_live_venue(config, clock=WallClock()) as (feed, _broker, _where):
            return [sub._backoff.base for sub in (feed.stocks, feed.crypto)]  # type: ignore[attr-defined]

    assert trio.run(main) == [7.5, 7.5]


def test_zmq_keys_set_away_from_their_defaults_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(
        env={},
        overrides={
            "market_data.zmq_publish_address": "tcp://127.0.0.1:6000",
            "risk.zmq_subscribe_address": "tcp://127.0.0.1:6001",
        },
    )
    caplog.set_level(logging.WARNING)

    warn_reserved_keys(config)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "market_data.zmq_publish_address" in warnings[0]
    assert "risk.zmq_subscribe_address" in warnings[0]
    assert "issue 15" in warnings[0]


def test_default_zmq_keys_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    warn_reserved_keys(load_config(env={}))

    assert caplog.records == []
