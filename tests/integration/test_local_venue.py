"""The local venue over real sockets: REST v2, trade_updates and market-data streams, faults."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgpack
import orjson
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from pyrt.runtime.clock import VirtualClock
from pyrt.venues.local import LocalVenue, VenueFaults, WsFault
from tests.integration.conftest import start_venue

GUARD_SECONDS = 10.0
MSGPACK_HEADERS = [(b"Content-Type", b"application/msgpack")]


@asynccontextmanager
async def rest(venue: LocalVenue, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=venue.url, headers=headers, timeout=5.0) as client:
        yield client


@asynccontextmanager
async def stream(
    venue: LocalVenue, path: str, *, use_msgpack: bool = False
) -> AsyncIterator[WebSocketConnection]:
    headers = MSGPACK_HEADERS if use_msgpack else None
    async with open_websocket_url(f"ws://127.0.0.1:{venue.port}{path}", extra_headers=headers) as ws:
        try:
            yield ws
        finally:
            # trio-websocket 0.12 leaves its socket open after an abnormal close (its aclose
            # returns early once a close reason is set), which filterwarnings=error turns into
            # a failure: close the transport ourselves
            await ws._stream.aclose()


async def receive(ws: WebSocketConnection) -> list[dict[str, Any]]:
    raw = await ws.get_message()
    if isinstance(raw, bytes):
        decoded: list[dict[str, Any]] = msgpack.unpackb(raw, timestamp=0)
        return decoded
    loaded: list[dict[str, Any]] = orjson.loads(raw)
    return loaded


async def send(ws: WebSocketConnection, message: dict[str, Any], *, use_msgpack: bool = False) -> None:
    await ws.send_message(msgpack.packb(message) if use_msgpack else orjson.dumps(message).decode())


async def connect_and_auth(ws: WebSocketConnection, *, use_msgpack: bool = False) -> None:
    assert await receive(ws) == [{"T": "success", "msg": "connected"}]
    await send(ws, {"action": "auth", "key": "k", "secret": "s"}, use_msgpack=use_msgpack)
    assert await receive(ws) == [{"T": "success", "msg": "authenticated"}]


async def collect_until(ws: WebSocketConnection, wanted: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Read data frames until a message of every ``T`` in ``wanted`` arrived."""
    seen: dict[str, list[dict[str, Any]]] = {}
    while not wanted <= seen.keys():
        for message in await receive(ws):
            seen.setdefault(message["T"], []).append(message)
    return seen


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "AAPL",
        "qty": 1,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
    }
    body.update(overrides)
    return body


# ---------------------------------------------------------------------------- REST


async def test_account_reports_starting_cash_as_decimal_strings(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        response = await client.get("/v2/account")

    body = response.json()
    assert response.status_code == 200
    assert body["cash"] == "100000"
    assert body["buying_power"] == "100000"
    assert body["equity"] == "100000"
    assert body["status"] == "ACTIVE"
    assert body["currency"] == "USD"


async def test_clock_is_open_with_future_open_and_close(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        body = (await client.get("/v2/clock")).json()

    assert body["is_open"] is True
    assert body["next_close"] > body["timestamp"][:19]
    assert body["timestamp"].endswith(("-04:00", "-05:00"))


async def test_market_order_fills_at_once_and_opens_a_position(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        response = await client.post("/v2/orders", json=order_body(qty=3, client_order_id="mkt-1"))
        position = await client.get("/v2/positions/AAPL")
        account = (await client.get("/v2/account")).json()

    order = response.json()
    assert response.status_code == 200
    assert order["status"] == "filled"
    assert order["client_order_id"] == "mkt-1"
    assert order["qty"] == "3"
    assert order["filled_qty"] == "3"
    assert isinstance(order["filled_avg_price"], str)
    assert order["created_at"].endswith("Z")
    assert order["type"] == order["order_type"] == "market"
    assert order["asset_class"] == "us_equity"
    assert position.status_code == 200
    assert position.json()["qty"] == "3"
    assert position.json()["side"] == "long"
    assert position.json()["exchange"] == "NASDAQ"
    assert float(account["cash"]) == pytest.approx(100_000 - 3 * float(order["filled_avg_price"]))


async def test_submit_accepts_decimal_strings_like_the_go_sdk(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        response = await client.post(
            "/v2/orders", json=order_body(qty="2", type="limit", time_in_force="gtc", limit_price="1.25")
        )

    assert response.status_code == 200
    assert response.json()["status"] == "new"
    assert response.json()["limit_price"] == "1.25"
    assert response.json()["qty"] == "2"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(order_body(symbol=None), 422, 40010001, id="missing-symbol"),
        pytest.param(order_body(side="hold"), 422, 40010001, id="bad-side"),
        pytest.param(order_body(type="limit"), 422, 40010001, id="limit-without-price"),
        pytest.param(order_body(qty=-1), 422, 40010001, id="negative-qty"),
        pytest.param(order_body(qty="NaN"), 422, 40010001, id="nan-qty"),
        pytest.param(order_body(qty=True), 422, 40010001, id="bool-qty"),
        pytest.param(order_body(qty=1.5, type="limit", limit_price=1), 422, 40010001, id="fractional-limit"),
        pytest.param(order_body(symbol="NOPE"), 422, 42210000, id="unknown-symbol"),
        pytest.param(order_body(symbol="BTC/USD", qty=0.1), 422, 40010001, id="crypto-day"),
        pytest.param(order_body(time_in_force="opg"), 422, 40010001, id="opg"),
        pytest.param(order_body(order_class="bracket"), 422, 40010001, id="bracket"),
        pytest.param(order_body(qty=1, notional=100), 422, 40010001, id="qty-and-notional"),
        pytest.param(order_body(qty=10_000), 403, 40310000, id="buying-power"),
    ],
)
async def test_submit_rejects_bad_orders_with_alpaca_errors(
    venue: LocalVenue, body: dict[str, Any], status: int, code: int
) -> None:
    async with rest(venue) as client:
        response = await client.post("/v2/orders", json=body)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert isinstance(response.json()["message"], str)


async def test_submit_with_a_body_that_is_not_json_is_400(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        response = await client.post(
            "/v2/orders", content=b"{not json", headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 400
    assert response.json()["code"] == 40010000


async def test_duplicate_client_order_id_is_422(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        first = await client.post("/v2/orders", json=order_body(client_order_id="dup"))
        second = await client.post("/v2/orders", json=order_body(client_order_id="dup"))

    assert first.status_code == 200
    assert second.status_code == 422
    assert second.json() == {"code": 40010001, "message": "client_order_id must be unique"}


async def test_notional_order_is_sized_from_the_quote(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        response = await client.post("/v2/orders", json=order_body(qty=None, notional="500"))

    order = response.json()
    assert response.status_code == 200
    assert order["notional"] == "500"
    assert order["qty"] is None
    assert 0 < float(order["filled_qty"]) * float(order["filled_avg_price"]) <= 500.0 + 1e-6


async def test_orders_are_found_by_id_and_client_order_id(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        order = (await client.post("/v2/orders", json=order_body(client_order_id="find-me"))).json()
        by_id = await client.get(f"/v2/orders/{order['id']}")
        by_cid = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "find-me"})
        missing_id = await client.get("/v2/orders/00000000-0000-4000-8000-000000000000")
        missing_cid = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "nope"})
        no_param = await client.get("/v2/orders:by_client_order_id")

    assert by_id.json()["id"] == by_cid.json()["id"] == order["id"]
    assert missing_id.status_code == 404
    assert missing_id.json() == {"code": 40410000, "message": "order not found"}
    assert missing_cid.status_code == 404
    assert no_param.status_code == 422


async def test_list_orders_filters_by_status_side_symbols_and_direction(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        limit = order_body(type="limit", time_in_force="gtc", limit_price=1)
        first = (await client.post("/v2/orders", json=limit)).json()
        second = (await client.post("/v2/orders", json={**limit, "symbol": "MSFT"})).json()
        filled = (await client.post("/v2/orders", json=order_body())).json()
        open_desc = (await client.get("/v2/orders")).json()
        open_asc = (await client.get("/v2/orders", params={"direction": "asc"})).json()
        closed = (await client.get("/v2/orders", params={"status": "closed"})).json()
        every = (await client.get("/v2/orders", params={"status": "all", "limit": 2})).json()
        msft = (await client.get("/v2/orders", params={"status": "all", "symbols": "MSFT,BTCUSD"})).json()
        sells = (await client.get("/v2/orders", params={"status": "all", "side": "sell"})).json()
        after = (
            await client.get("/v2/orders", params={"status": "all", "after": second["submitted_at"]})
        ).json()
        bad_status = await client.get("/v2/orders", params={"status": "pending"})
        bad_limit = await client.get("/v2/orders", params={"limit": 501})
        bad_after = await client.get("/v2/orders", params={"after": "yesterday"})

    assert [o["id"] for o in open_desc] == [second["id"], first["id"]]
    assert [o["id"] for o in open_asc] == [first["id"], second["id"]]
    assert [o["id"] for o in closed] == [filled["id"]]
    assert [o["id"] for o in every] == [filled["id"], second["id"]]
    assert [o["id"] for o in msft] == [second["id"]]
    assert sells == []
    assert [o["id"] for o in after] == [filled["id"]]
    assert bad_status.status_code == 422
    assert bad_limit.status_code == 422
    assert bad_after.status_code == 422


async def test_replace_returns_a_new_order_and_replaces_the_old(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        old = (
            await client.post("/v2/orders", json=order_body(type="limit", time_in_force="gtc", limit_price=1))
        ).json()
        new = await client.patch(f"/v2/orders/{old['id']}", json={"limit_price": "1.5", "qty": 2})
        old_after = (await client.get(f"/v2/orders/{old['id']}")).json()
        again = await client.patch(f"/v2/orders/{old['id']}", json={"limit_price": 2})
        nothing = await client.patch(f"/v2/orders/{new.json()['id']}", json={})

    assert new.status_code == 200
    assert new.json()["id"] != old["id"]
    assert new.json()["replaces"] == old["id"]
    assert new.json()["limit_price"] == "1.5"
    assert new.json()["qty"] == "2"
    assert old_after["status"] == "replaced"
    assert old_after["replaced_by"] == new.json()["id"]
    assert again.status_code == 422
    assert nothing.status_code in (400, 422)


async def test_cancel_is_204_then_422_and_unknown_is_404(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        order = (
            await client.post("/v2/orders", json=order_body(type="limit", time_in_force="day", limit_price=1))
        ).json()
        first = await client.delete(f"/v2/orders/{order['id']}")
        second = await client.delete(f"/v2/orders/{order['id']}")
        unknown = await client.delete("/v2/orders/00000000-0000-4000-8000-000000000000")
        after = (await client.get(f"/v2/orders/{order['id']}")).json()

    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 422
    assert second.json()["code"] == 42210000
    assert unknown.status_code == 404
    assert after["status"] == "canceled"


async def test_cancel_all_is_207_with_one_entry_per_open_order(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        limit = order_body(type="limit", time_in_force="gtc", limit_price=1)
        ids = {(await client.post("/v2/orders", json=limit)).json()["id"] for _ in range(3)}
        response = await client.delete("/v2/orders")
        still_open = (await client.get("/v2/orders")).json()

    assert response.status_code == 207
    assert {item["id"] for item in response.json()} == ids
    assert {item["status"] for item in response.json()} == {200}
    assert still_open == []


async def test_positions_by_unencoded_crypto_path_and_close_partially(nursery: trio.Nursery) -> None:
    # no ticks after the first: the displayed crypto size, and so the fill, depend on the seed alone
    venue = await start_venue(nursery, seed=1, tick_interval=3600.0)
    async with rest(venue) as client:
        buy = order_body(symbol="BTC/USD", qty="0.004", time_in_force="gtc")
        assert (await client.post("/v2/orders", json=buy)).json()["status"] == "filled"
        listed = (await client.get("/v2/positions")).json()
        by_path = await client.get("/v2/positions/BTC/USD")
        by_compact = await client.get("/v2/positions/BTCUSD")
        both = await client.delete("/v2/positions/BTC/USD", params={"qty": "0.001", "percentage": "50"})
        by_qty = await client.delete("/v2/positions/BTC/USD", params={"qty": "0.001"})
        by_pct = await client.delete("/v2/positions/BTC/USD", params={"percentage": "50"})
        left = (await client.get("/v2/positions/BTC/USD")).json()
        none = await client.get("/v2/positions/MSFT")

    assert [p["symbol"] for p in listed] == ["BTC/USD"]
    assert by_path.json()["exchange"] == "CRYPTO"
    assert by_path.json()["asset_class"] == "crypto"
    assert by_compact.json()["qty"] == "0.004"
    assert both.status_code == 422
    assert by_qty.status_code == 200
    assert by_qty.json()["side"] == "sell"
    assert by_qty.json()["time_in_force"] == "gtc"
    assert by_pct.json()["qty"] == "0.0015"
    assert left["qty"] == "0.0015"
    assert none.status_code == 404
    assert none.json() == {"code": 40410000, "message": "position does not exist"}


async def test_close_all_positions_with_python_spelled_cancel_orders_is_207(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        await client.post("/v2/orders", json=order_body(qty=2))
        await client.post("/v2/orders", json=order_body(symbol="MSFT", qty=1))
        resting = (
            await client.post("/v2/orders", json=order_body(type="limit", time_in_force="gtc", limit_price=1))
        ).json()
        response = await client.delete("/v2/positions", params={"cancel_orders": "True"})
        positions = (await client.get("/v2/positions")).json()
        resting_after = (await client.get(f"/v2/orders/{resting['id']}")).json()

    assert response.status_code == 207
    assert {item["symbol"] for item in response.json()} == {"AAPL", "MSFT"}
    assert {item["body"]["status"] for item in response.json()} == {"filled"}
    assert positions == []
    assert resting_after["status"] == "canceled"


async def test_unknown_route_is_404_and_wrong_method_is_405(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        unknown = await client.get("/v2/nothing-here")
        outside = await client.get("/")
        wrong = await client.put("/v2/account")

    assert unknown.status_code == 404
    assert outside.status_code == 404
    assert wrong.status_code == 405


async def test_keep_alive_serves_many_requests_on_one_connection(venue: LocalVenue) -> None:
    async with rest(venue) as client:
        for _ in range(20):
            assert (await client.get("/v2/clock")).status_code == 200

    assert venue.statistics().rest_requests == 20


async def test_enforced_keys_answer_401_without_the_right_pair(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, key="KEY1", secret="SECRET1")

    async with rest(venue) as client:
        missing = await client.get("/v2/account")
        wrong = await client.get(
            "/v2/account", headers={"APCA-API-KEY-ID": "KEY1", "APCA-API-SECRET-KEY": "x"}
        )
        right = await client.get(
            "/v2/account", headers={"APCA-API-KEY-ID": "KEY1", "APCA-API-SECRET-KEY": "SECRET1"}
        )

    assert missing.status_code == 401
    assert missing.json()["code"] == 40110000
    assert wrong.status_code == 401
    assert right.status_code == 200


async def test_secret_never_reaches_logs_or_repr(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-do-not-log"
    caplog.set_level(logging.DEBUG)
    venue = await start_venue(nursery, key="KEY1", secret=secret)

    async with rest(venue, **{"APCA-API-KEY-ID": "KEY1", "APCA-API-SECRET-KEY": secret}) as client:
        await client.post("/v2/orders", json=order_body())
    async with stream(venue, "/v2/iex") as ws:
        await receive(ws)
        await send(ws, {"action": "auth", "key": "KEY1", "secret": "wrong"})
        await receive(ws)

    assert secret not in caplog.text
    assert secret not in repr(venue)


async def test_rate_limit_answers_429_with_headers_and_retry_after(nursery: trio.Nursery) -> None:
    # a virtual epoch at the start of a minute: the one-minute window cannot roll over mid-test
    venue = await start_venue(nursery, rate_limit=3, clock=VirtualClock(1_700_000_040 * 1_000_000_000))

    async with rest(venue, **{"APCA-API-KEY-ID": "a"}) as client:
        allowed = [await client.get("/v2/clock") for _ in range(3)]
        limited = await client.get("/v2/clock")
    async with rest(venue, **{"APCA-API-KEY-ID": "b"}) as other:
        other_key = await other.get("/v2/clock")

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["X-RateLimit-Limit"] == "3"
    assert allowed[0].headers["X-RateLimit-Reset"] == "1700000100"
    assert limited.status_code == 429
    assert limited.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other_key.status_code == 200
    assert venue.statistics().rest_rate_limited == 1


# ---------------------------------------------------------------------------- REST faults


async def test_error_fault_answers_next_n_requests_with_5xx_then_recovers(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, faults=VenueFaults(rest_error_next=2, rest_error_status=503))

    async with rest(venue) as client:
        statuses = [(await client.get("/v2/clock")).status_code for _ in range(3)]
        venue.faults = VenueFaults(rest_error_next=1, rest_error_status=500, rest_error_html=True)
        html = await client.get("/v2/account")

    assert statuses == [503, 503, 200]
    assert html.status_code == 500
    assert html.headers["content-type"] == "text/html"
    assert b"<html>" in html.content
    assert dict(venue.statistics().faults_injected)["error_status"] == 3


async def test_429_burst_fault_then_normal_service(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, faults=VenueFaults(rest_429_next=2))

    async with rest(venue) as client:
        responses = [await client.get("/v2/clock") for _ in range(3)]

    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "1"


async def test_drop_after_accept_places_the_order_but_never_answers(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, faults=VenueFaults(rest_drop_next=1))

    async with rest(venue) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/v2/orders", json=order_body(client_order_id="ambiguous"))
        found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "ambiguous"})

    assert found.status_code == 200
    assert found.json()["status"] == "filled"


async def test_delay_fault_trips_client_timeout_after_the_order_is_placed(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, faults=VenueFaults(rest_delay_next=1, rest_delay_seconds=30.0))

    async with httpx.AsyncClient(base_url=venue.url, timeout=0.05) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v2/orders", json=order_body(client_order_id="slow"))
        found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "slow"})

    assert found.status_code == 200


async def test_probability_faults_are_reproduced_by_the_seed(nursery: trio.Nursery) -> None:
    faults = VenueFaults(rest_error_probability=0.5)
    runs = []
    for _ in range(2):
        venue = await start_venue(nursery, seed=42, faults=faults)
        async with rest(venue) as client:
            runs.append([(await client.get("/v2/clock")).status_code for _ in range(12)])

    assert runs[0] == runs[1]
    assert {200, 503} == set(runs[0])


# ---------------------------------------------------------------------------- market data


@pytest.mark.slow
async def test_stock_stream_json_delivers_trades_quotes_and_bars(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await connect_and_auth(ws)
            await send(ws, {"trades": ["AAPL"], "quotes": ["*"], "bars": ["*"], "action": "subscribe"})
            reply = await receive(ws)
            seen = await collect_until(ws, {"t", "q", "b"})

    assert reply == [
        {
            "T": "subscription",
            "trades": ["AAPL"],
            "quotes": ["*"],
            "bars": ["*"],
            "updatedBars": [],
            "dailyBars": [],
            "statuses": [],
            "lulds": [],
            "corrections": ["AAPL"],
            "cancelErrors": ["AAPL"],
            "imbalances": [],
        }
    ]
    trade, quote, bar = seen["t"][0], seen["q"][0], seen["b"][0]
    assert list(trade) == ["T", "S", "i", "x", "p", "s", "c", "t", "z"]
    assert trade["S"] == "AAPL"
    assert trade["x"] == "V"
    assert isinstance(trade["s"], int)
    assert trade["t"].endswith("Z")
    assert {q["S"] for q in seen["q"]} <= {"AAPL", "MSFT"}
    assert quote["ap"] >= quote["bp"]
    assert set(bar) == {"T", "S", "o", "h", "l", "c", "v", "t", "n", "vw"}
    assert bar["l"] <= bar["vw"] <= bar["h"]
    assert bar["n"] >= 1


@pytest.mark.slow
async def test_crypto_stream_msgpack_uses_binary_frames_and_timestamps(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v1beta3/crypto/us", use_msgpack=True) as ws:
            await connect_and_auth(ws, use_msgpack=True)
            subscribe = {"trades": ["BTC/USD"], "quotes": ["BTC/USD"], "bars": ["*"], "action": "subscribe"}
            await send(ws, subscribe, use_msgpack=True)
            reply = await receive(ws)
            raw = await ws.get_message()
            seen = await collect_until(ws, {"t", "q", "b"})

    assert isinstance(raw, bytes)
    assert reply[0]["T"] == "subscription"
    assert reply[0]["orderbooks"] == []
    trade, quote, bar = seen["t"][0], seen["q"][0], seen["b"][0]
    assert next(iter(trade)) == "T"
    assert isinstance(trade["t"], msgpack.Timestamp)
    assert isinstance(trade["s"], float)
    assert trade["tks"] in ("B", "S", "-")
    assert set(quote) == {"T", "S", "bp", "bs", "ap", "as", "t"}
    assert isinstance(bar["t"], msgpack.Timestamp)
    assert bar["t"].to_unix_nano() % 200_000_000 == 0  # stamped at the start of a 0.2 s bar
    assert isinstance(bar["v"], float)


async def test_orderbook_starts_with_a_snapshot_then_deltas(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v1beta3/crypto/us") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "orderbooks": ["BTC/USD"]})
            reply = await receive(ws)
            snapshot = (await receive(ws))[0]
            delta = (await collect_until(ws, {"o"}))["o"][0]

    assert reply[0]["orderbooks"] == ["BTC/USD"]
    assert snapshot["T"] == "o"
    assert snapshot["r"] is True
    assert len(snapshot["b"]) == len(snapshot["a"]) == 10
    assert snapshot["b"][0]["p"] < snapshot["a"][0]["p"]
    assert [level["p"] for level in snapshot["b"]] == sorted(
        (level["p"] for level in snapshot["b"]), reverse=True
    )
    assert "r" not in delta
    assert set(delta) == {"T", "S", "t", "b", "a"}


async def test_test_feed_streams_fakepaca(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/test") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "quotes": ["FAKEPACA"]})
            await receive(ws)
            quotes = (await collect_until(ws, {"q"}))["q"]

    assert quotes[0]["S"] == "FAKEPACA"


async def test_unsubscribe_answers_with_the_full_remaining_set(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/sip") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "trades": ["AAPL", "MSFT"], "bars": ["*"]})
            await receive(ws)
            await send(ws, {"action": "unsubscribe", "trades": ["MSFT"], "bars": ["*"]})
            while (reply := await receive(ws))[0]["T"] != "subscription":
                pass

    assert reply[0]["trades"] == ["AAPL"]
    assert reply[0]["bars"] == []
    assert reply[0]["corrections"] == ["AAPL"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        pytest.param("{not json", 400, id="not-json"),
        pytest.param('["a list"]', 400, id="not-an-object"),
        pytest.param('{"action": "dance"}', 400, id="unknown-action"),
        pytest.param('{"action": "subscribe", "trades": ["AAPL"]}', 401, id="subscribe-before-auth"),
    ],
)
async def test_stream_errors_before_auth_keep_the_connection(
    venue: LocalVenue, message: str, code: int
) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await receive(ws)
            await ws.send_message(message)
            error = await receive(ws)
            await send(ws, {"action": "auth", "key": "k", "secret": "s"})
            after = await receive(ws)

    assert error == [
        {"T": "error", "code": code, "msg": {400: "invalid syntax", 401: "not authenticated"}[code]}
    ]
    assert after == [{"T": "success", "msg": "authenticated"}]


async def test_stream_auth_failed_is_402_then_closed(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, key="KEY1", secret="SECRET1")

    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await receive(ws)
            await send(ws, {"action": "auth", "key": "KEY1", "secret": "nope"})
            error = await receive(ws)
            with pytest.raises(ConnectionClosed):
                await ws.get_message()

    assert error == [{"T": "error", "code": 402, "msg": "auth failed"}]


async def test_stream_second_auth_is_403(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "auth", "key": "k", "secret": "s"})
            error = await receive(ws)

    assert error == [{"T": "error", "code": 403, "msg": "already authenticated"}]


async def test_stream_auth_timeout_is_404_then_closed(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, auth_timeout=0.05)

    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await receive(ws)
            error = await receive(ws)
            with pytest.raises(ConnectionClosed):
                await ws.get_message()

    assert error == [{"T": "error", "code": 404, "msg": "auth timeout"}]


async def test_symbol_limit_is_405_and_leaves_subscriptions_unchanged(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, max_symbols=2)

    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "trades": ["AAPL"], "quotes": ["MSFT"]})
            await receive(ws)
            await send(ws, {"action": "subscribe", "bars": ["IBM"]})
            while (error := await receive(ws))[0]["T"] != "error":
                pass
            await send(ws, {"action": "subscribe", "bars": ["*"]})
            while (reply := await receive(ws))[0]["T"] != "subscription":
                pass

    assert error == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
    assert reply[0]["trades"] == ["AAPL"]
    assert reply[0]["quotes"] == ["MSFT"]
    assert reply[0]["bars"] == ["*"]


async def test_second_session_for_one_key_is_406(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as first:
            await connect_and_auth(first)
            async with stream(venue, "/v2/iex") as second:
                await receive(second)
                await send(second, {"action": "auth", "key": "k", "secret": "s"})
                error = await receive(second)
                with pytest.raises(ConnectionClosed):
                    await second.get_message()
            async with stream(venue, "/v2/sip") as other_endpoint:
                await connect_and_auth(other_endpoint)

    assert error == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]


async def test_channel_the_feed_does_not_carry_is_410(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as stocks:
            await connect_and_auth(stocks)
            await send(stocks, {"action": "subscribe", "orderbooks": ["AAPL"]})
            stock_error = await receive(stocks)
        async with stream(venue, "/v1beta3/crypto/us") as crypto:
            await connect_and_auth(crypto)
            await send(crypto, {"action": "subscribe", "lulds": ["BTC/USD"]})
            crypto_error = await receive(crypto)

    expected = [{"T": "error", "code": 410, "msg": "invalid subscribe action for this feed"}]
    assert stock_error == expected
    assert crypto_error == expected


@pytest.mark.slow
async def test_client_that_stops_reading_is_cut_off_as_slow(nursery: trio.Nursery) -> None:
    symbols = [f"SYM{i}" for i in range(20)]
    venue = await start_venue(
        nursery, symbols=symbols, tick_interval=0.002, output_limit=4096, socket_send_buffer=4096
    )
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    auth = orjson.dumps({"action": "auth", "key": "k", "secret": "s"})
    subscribe = orjson.dumps({"action": "subscribe", "quotes": ["*"]})

    with trio.fail_after(GUARD_SECONDS):
        async with await trio.open_tcp_stream("127.0.0.1", venue.port) as tcp:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await tcp.send_all(
                b"GET /v2/iex HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            for payload in (auth, subscribe):  # client frames are masked; a zero mask keeps them readable
                await tcp.send_all(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            while venue.statistics().slow_clients == 0:
                await trio.sleep(0.01)  # polling a counter while the server works, not ordering events
            received = bytearray()
            while chunk := await tcp.receive_some(65536):
                received += chunk
        await trio.testing.wait_all_tasks_blocked()

    assert venue.statistics().slow_clients == 1
    assert venue.statistics().data_sessions == 0
    assert b'"code":407' in received


# ---------------------------------------------------------------------------- market-data faults


async def _first_fault_frame(venue: LocalVenue, fault: WsFault, *, use_msgpack: bool = False) -> str | bytes:
    async with stream(venue, "/v2/iex", use_msgpack=use_msgpack) as ws:
        await connect_and_auth(ws, use_msgpack=use_msgpack)
        # queued before subscribing: the first data frame of this session takes the fault
        venue.faults = VenueFaults(data_ws_faults=(fault,), ws_oversized_bytes=100_000)
        await send(ws, {"action": "subscribe", "quotes": ["*"]}, use_msgpack=use_msgpack)
        await receive(ws)
        return await ws.get_message()


@pytest.mark.parametrize("use_msgpack", [False, True], ids=["json", "msgpack"])
async def test_truncated_payload_fault_sends_half_a_document(venue: LocalVenue, use_msgpack: bool) -> None:
    with trio.fail_after(GUARD_SECONDS):
        frame = await _first_fault_frame(venue, WsFault.TRUNCATED_PAYLOAD, use_msgpack=use_msgpack)

    decode = (lambda f: msgpack.unpackb(f, timestamp=0)) if isinstance(frame, bytes) else orjson.loads
    with pytest.raises(ValueError):  # orjson.JSONDecodeError and msgpack's errors are ValueErrors
        decode(frame)


async def test_unknown_message_fault_sends_an_unknown_type(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        frame = await _first_fault_frame(venue, WsFault.UNKNOWN_MESSAGE)

    assert orjson.loads(frame)[0]["T"] == "zz"


async def test_nan_price_fault_sends_a_nan_literal(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        frame = await _first_fault_frame(venue, WsFault.NAN_PRICE)

    assert isinstance(frame, str)
    message = json.loads(frame)[0]
    assert message["p"] != message["p"]  # NaN


async def test_oversized_fault_sends_a_frame_past_the_limit(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        frame = await _first_fault_frame(venue, WsFault.OVERSIZED_FRAME)

    assert len(frame) > 100_000
    assert all(m["T"] == "q" for m in orjson.loads(frame))


@pytest.mark.parametrize("fault", [WsFault.CLOSE_MID_FRAME, WsFault.MALFORMED_FRAME])
async def test_broken_frame_faults_end_the_connection(venue: LocalVenue, fault: WsFault) -> None:
    with trio.fail_after(GUARD_SECONDS), pytest.raises(ConnectionClosed):
        await _first_fault_frame(venue, fault)


async def test_go_silent_fault_stops_data_but_keeps_the_connection(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/v2/iex") as ws:
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "quotes": ["*"]})
            await receive(ws)
            venue.faults = VenueFaults(data_ws_faults=(WsFault.GO_SILENT,))
            with trio.move_on_after(0.1) as silent:
                while True:
                    await receive(ws)  # frames queued before the fault may still arrive
                    if venue.statistics().faults_injected:
                        break
                await receive(ws)
            assert ws.closed is None

    assert silent.cancelled_caught


# ---------------------------------------------------------------------------- trade_updates


async def _authorized(ws: WebSocketConnection, *, listen: bool = True) -> None:
    await ws.send_message(
        orjson.dumps({"action": "authenticate", "data": {"key_id": "k", "secret_key": "s"}}).decode()
    )
    assert orjson.loads(await ws.get_message()) == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "authorized"},
    }
    if listen:
        await ws.send_message(
            orjson.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}).decode()
        )
        assert orjson.loads(await ws.get_message()) == {
            "stream": "listening",
            "data": {"streams": ["trade_updates"]},
        }


async def test_trade_updates_for_a_market_fill_and_a_cancel(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/stream") as ws, rest(venue) as client:
            await _authorized(ws)
            filled = (await client.post("/v2/orders", json=order_body(qty=2))).json()
            resting = (
                await client.post(
                    "/v2/orders", json=order_body(type="limit", time_in_force="gtc", limit_price=1)
                )
            ).json()
            await client.delete(f"/v2/orders/{resting['id']}")
            updates = [orjson.loads(await ws.get_message()) for _ in range(4)]

    assert all(isinstance(u["data"]["timestamp"], str) for u in updates)
    assert {u["stream"] for u in updates} == {"trade_updates"}
    events = [(u["data"]["order"]["id"], u["data"]["event"]) for u in updates]
    assert events == [
        (filled["id"], "new"),
        (filled["id"], "fill"),
        (resting["id"], "new"),
        (resting["id"], "canceled"),
    ]
    fill = updates[1]["data"]
    assert fill["qty"] == "2"
    assert fill["position_qty"] == "2"
    assert fill["price"] == filled["filled_avg_price"]
    assert len(fill["execution_id"]) == 36
    assert fill["order"]["status"] == "filled"
    assert updates[3]["data"]["order"]["status"] == "canceled"
    assert updates[3]["data"]["order"]["canceled_at"] is not None


async def test_trade_updates_listen_before_auth_is_unauthorized(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/stream") as ws:
            await ws.send_message(
                orjson.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}).decode()
            )
            reply = orjson.loads(await ws.get_message())
            await _authorized(ws, listen=False)

    assert reply == {"stream": "authorization", "data": {"action": "listen", "status": "unauthorized"}}


async def test_trade_updates_accepts_the_data_stream_auth_form(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/stream") as ws:
            await ws.send_message(orjson.dumps({"action": "auth", "key": "k", "secret": "s"}).decode())
            reply = orjson.loads(await ws.get_message())
            await ws.send_message(orjson.dumps({"action": "listen", "data": {"streams": ["nope"]}}).decode())
            listening = orjson.loads(await ws.get_message())

    assert reply["data"]["status"] == "authorized"
    assert listening == {"stream": "listening", "data": {"streams": []}}


async def test_trade_updates_bad_keys_get_one_unauthorized_reply_then_close(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, key="KEY1", secret="SECRET1")

    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/stream") as ws:
            await ws.send_message(
                orjson.dumps(
                    {"action": "authenticate", "data": {"key_id": "KEY1", "secret_key": "x"}}
                ).decode()
            )
            reply = orjson.loads(await ws.get_message())
            with pytest.raises(ConnectionClosed):
                await ws.get_message()

    assert reply == {"stream": "authorization", "data": {"action": "authenticate", "status": "unauthorized"}}


async def test_trade_updates_fault_truncates_one_update(venue: LocalVenue) -> None:
    venue.faults = VenueFaults(trade_ws_faults=(WsFault.TRUNCATED_PAYLOAD,))

    with trio.fail_after(GUARD_SECONDS):
        async with stream(venue, "/stream") as ws, rest(venue) as client:
            await _authorized(ws)
            await client.post("/v2/orders", json=order_body())
            broken = await ws.get_message()
            fill = orjson.loads(await ws.get_message())

    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(broken)
    assert fill["data"]["event"] == "fill"


async def test_upgrade_to_an_unknown_path_is_404(venue: LocalVenue) -> None:
    # raw TCP: trio-websocket leaks its socket when a handshake is rejected
    with trio.fail_after(GUARD_SECONDS):
        async with await trio.open_tcp_stream("127.0.0.1", venue.port) as tcp:
            await tcp.send_all(
                b"GET /v2/nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            reply = bytearray()
            while chunk := await tcp.receive_some(65536):
                reply += chunk

    assert reply.startswith(b"HTTP/1.1 404 ")
    assert reply.endswith(b'{"code":40410000,"message":"no such route"}')


# ---------------------------------------------------------------------------- API, determinism, CLI


def test_public_names_are_exported() -> None:
    import pyrt.venues.local as local

    assert local.__all__ == sorted(local.__all__)
    assert set(local.__all__) == {
        "AccountStatus",
        "LocalVenue",
        "LocalVenueStatistics",
        "VenueFaults",
        "WsFault",
        "run_venue_cli",
        "serve_local_venue",
    }


async def test_same_seed_gives_same_ids_and_prices(nursery: trio.Nursery) -> None:
    orders = []
    for seed in (5, 5, 6):
        # one market step (at start) and no more: the fill depends on the seed alone
        venue = await start_venue(nursery, seed=seed, tick_interval=3600.0)
        async with rest(venue) as client:
            orders.append((await client.post("/v2/orders", json=order_body())).json())

    assert orders[0]["id"] == orders[1]["id"]
    assert orders[0]["filled_avg_price"] == orders[1]["filled_avg_price"]
    assert orders[0]["id"] != orders[2]["id"]
    assert orders[0]["filled_avg_price"] != orders[2]["filled_avg_price"]


async def test_statistics_count_requests_sessions_and_frames(venue: LocalVenue) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with rest(venue) as client, stream(venue, "/v2/iex") as ws:
            await client.get("/v2/clock")
            await connect_and_auth(ws)
            await send(ws, {"action": "subscribe", "quotes": ["*"]})
            await receive(ws)
            await receive(ws)
            during = venue.statistics()

    assert during.rest_requests == 1
    assert during.data_sessions == 1
    assert during.data_frames_sent >= 1
    assert during.ticks >= 1


@pytest.mark.parametrize(("args", "status"), [(["--help"], 0), (["--port", "x"], 2), (["--key", "K"], 2)])
def test_cli_reports_help_and_bad_flags_as_exit_status(
    args: list[str], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyrt.venues.local import run_venue_cli

    assert run_venue_cli(args) == status


# ---------------------------------------------------------------------------- ids across processes


async def _one_fill(venue: LocalVenue, client_order_id: str) -> tuple[str, str, str]:
    async with rest(venue) as client, stream(venue, "/stream") as updates:
        await send(updates, {"action": "auth", "key": "k", "secret": "s"})
        await updates.get_message()
        await send(updates, {"action": "listen", "data": {"streams": ["trade_updates"]}})
        await updates.get_message()
        order = (await client.post("/v2/orders", json=order_body(client_order_id=client_order_id))).json()
        account = (await client.get("/v2/account")).json()
        while True:
            event = orjson.loads(await updates.get_message())
            if event["data"]["event"] == "fill":
                return order["id"], event["data"]["execution_id"], account["id"]


async def test_served_venues_on_the_same_seed_never_reuse_order_execution_or_account_ids(
    nursery: trio.Nursery,
) -> None:
    # a `pyrt venue` restarted on the same seed reused its ids, and pyrt refused its real fills
    # as duplicates: a served venue mints ids unique across processes
    first = await start_venue(nursery, seed=5, unique_ids=True, tick_interval=0.01)
    second = await start_venue(nursery, seed=5, unique_ids=True, tick_interval=0.01)

    with trio.fail_after(GUARD_SECONDS):
        a = await _one_fill(first, "c-1")
        b = await _one_fill(second, "c-1")

    assert a[0] != b[0]  # order id
    assert a[1] != b[1]  # execution id
    assert a[2] != b[2]  # account id: a restarted venue is a new account, and says so


async def test_in_process_venue_on_a_seed_stays_deterministic(nursery: trio.Nursery) -> None:
    first = await start_venue(nursery, seed=5, tick_interval=0.01)
    second = await start_venue(nursery, seed=5, tick_interval=0.01)

    with trio.fail_after(GUARD_SECONDS):
        a = await _one_fill(first, "c-1")
        b = await _one_fill(second, "c-1")

    assert (a[0], a[2]) == (b[0], b[2])
