"""The account's standing at start (#8 §4): a blocked or inactive account starts pyrt halted.

The whole live tree (``run_live``) runs against the embedded venue on a real loopback socket,
the venue configured to report the account as Alpaca would.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import trio

from pyrt.config import load_config
from pyrt.modes.live import run_live
from pyrt.modes.tree import RunStatus
from pyrt.venues.local import AccountStatus
from tests.integration.conftest import start_venue

KEY, SECRET = "PKACCOUNTTEST1", "account-test-secret"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("standing", "said"),
    [
        (AccountStatus(trading_blocked=True), "trading_blocked"),
        (AccountStatus(account_blocked=True), "account_blocked"),
        (AccountStatus(status="ACCOUNT_CLOSED"), "status ACCOUNT_CLOSED"),
    ],
)
async def test_run_live_when_the_account_may_not_trade_starts_halted_and_says_why(
    nursery: trio.Nursery,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    standing: AccountStatus,
    said: str,
) -> None:
    venue = await start_venue(
        nursery, symbols=["AAPL", "MSFT"], key=KEY, secret=SECRET, tick_interval=0.02, account_status=standing
    )
    config = load_config(
        env={"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET},
        overrides={"run.venue": venue.url, "run.data_dir": str(tmp_path), "symbols": ["AAPL", "MSFT"]},
    )

    with caplog.at_level(logging.ERROR):
        summary = await run_live(config, journal_path=tmp_path / "s.pyrtj", duration=2.5)

    assert summary.status.trading_state == "halted"
    assert summary.status.count("order.submitted") == 0
    async with httpx.AsyncClient(headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}) as client:
        number = (await client.get(f"{venue.url}/v2/account")).json()["account_number"]
        orders = (await client.get(f"{venue.url}/v2/orders", params={"status": "all"})).json()
        refused = await client.post(
            f"{venue.url}/v2/orders",
            json={"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"},
        )
    halts = [r.getMessage() for r in caplog.records if "may not trade" in r.getMessage()]
    assert f"venue account {number} may not trade ({said}); trading starts HALTED" in halts
    assert orders == []
    assert refused.status_code == 403  # the venue itself refuses orders from such an account


@pytest.mark.slow
async def test_run_live_when_the_account_is_blocked_mid_session_halts_at_the_next_reconcile(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    venue = await start_venue(nursery, symbols=["AAPL", "MSFT"], key=KEY, secret=SECRET, tick_interval=0.02)
    config = load_config(
        env={"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET},
        overrides={
            "run.venue": venue.url,
            "run.data_dir": str(tmp_path),
            "symbols": ["AAPL", "MSFT"],
            "execution.reconcile_interval_secs": 0.5,
        },
    )
    states: list[str] = []

    halted = trio.Event()

    def on_status(status: RunStatus) -> None:
        states.append(status.trading_state)
        if status.count("order.submitted"):  # it has traded: now the account gets blocked
            venue.account_status = AccountStatus(trading_blocked=True)
        if status.trading_state == "halted":
            halted.set()

    summary = await run_live(
        config, journal_path=tmp_path / "s.pyrtj", duration=30.0, on_status=on_status, stop=halted
    )

    assert summary.status.count("order.submitted") > 0  # it traded while the account could
    assert summary.status.trading_state == "halted"
    assert "may not trade (trading_blocked)" in (summary.status.trading_state_reason or "")
    assert "active" in states
