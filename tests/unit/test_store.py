from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import pyrt
from pyrt.execution.orders import OrderState, OrderTracker
from pyrt.messages import (
    Heartbeat,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
    encode,
)
from pyrt.persistence.store import SCHEMA_VERSION, Store, StoredPosition, StoreError, StoreOwner

REPO = Path(__file__).resolve().parents[2]


def approved(
    coid: str,
    *,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    quantity: float = 10.0,
    limit_price: float | None = None,
    ts: int = 1,
) -> RiskApproved:
    signal = SignalGenerated(
        signal_id=f"sig-{coid}",
        strategy="test",
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=limit_price,
        ts_event=ts,
        ts_init=ts,
    )
    return RiskApproved(signal=signal, client_order_id=coid, ts_event=ts, ts_init=ts)


def submitted(
    coid: str,
    *,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    quantity: float = 10.0,
    limit_price: float | None = None,
    ts: int = 2,
) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=coid,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=limit_price,
        ts_event=ts,
        ts_init=ts,
    )


def accepted(coid: str, *, venue_id: str | None = None, symbol: str = "AAPL", ts: int = 3) -> OrderAccepted:
    return OrderAccepted(
        client_order_id=coid, venue_order_id=venue_id or f"v-{coid}", symbol=symbol, ts_event=ts, ts_init=ts
    )


def filled(
    coid: str,
    execution_id: str,
    *,
    quantity: float,
    price: float,
    cumulative: float,
    leaves: float,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    fee: float = 0.0,
    ts: int = 4,
) -> OrderFilled:
    return OrderFilled(
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        execution_id=execution_id,
        symbol=symbol,
        side=side,
        fill_price=price,
        fill_quantity=quantity,
        cumulative_quantity=cumulative,
        leaves_quantity=leaves,
        fee=fee,
        ts_event=ts,
        ts_init=ts + 1,
    )


def canceled(
    coid: str, *, reason: str = "canceled by user", symbol: str = "AAPL", ts: int = 5
) -> OrderCanceled:
    return OrderCanceled(
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        symbol=symbol,
        reason=reason,
        ts_event=ts,
        ts_init=ts,
    )


def rejected(coid: str, *, symbol: str = "AAPL", ts: int = 5) -> OrderRejected:
    return OrderRejected(
        client_order_id=coid,
        symbol=symbol,
        reason="insufficient buying power",
        status_code=403,
        ts_event=ts,
        ts_init=ts,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "data" / "pyrt.sqlite3") as opened:
        yield opened


# --- opening -----------------------------------------------------------------------------------


def test_open_new_file_creates_folder_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pyrt.sqlite3"

    with Store.open(path) as store:
        stats = store.statistics()

    assert path.exists()
    assert stats.journal_mode == "wal"
    assert stats.synchronous == "normal"
    assert stats.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file


def test_open_with_synchronous_full_sets_the_pragma(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3", synchronous="full") as store:
        assert store.statistics().synchronous == "full"
        assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_open_with_unknown_synchronous_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^synchronous must be 'normal' or 'full', was 'off'$"):
        Store.open(tmp_path / "s.sqlite3", synchronous="off")  # type: ignore[arg-type]  # the wrong value on purpose


def test_open_file_from_newer_schema_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))

    with pytest.raises(
        StoreError, match=r"written by a newer pyrt: schema version 3, this pyrt reads up to 2$"
    ):
        Store.open(path)


def test_open_sqlite_file_that_is_not_a_store_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE things (x)")

    with pytest.raises(StoreError, match=r"is an SQLite database but not a pyrt store"):
        Store.open(path)


def test_open_file_that_is_not_sqlite_raises(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database at all, just text " * 100)

    with pytest.raises(StoreError, match=r"is not a readable pyrt store"):
        Store.open(path)


def test_store_error_is_a_pyrt_error() -> None:
    assert issubclass(StoreError, pyrt.PyrtError)


def test_use_after_close_raises(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    store.close()
    store.close()  # idempotent

    with pytest.raises(StoreError, match=r"is closed$"):
        store.orders()
    with pytest.raises(StoreError, match=r"is closed$"):
        store.record(approved("a"))


# --- recording orders ----------------------------------------------------------------------------


def test_order_lifecycle_round_trips_every_field(store: Store) -> None:
    msgs: list[Message] = [
        approved("a", quantity=10.0, limit_price=100.5, ts=10),
        submitted("a", quantity=10.0, limit_price=100.5, ts=11),
        accepted("a", ts=12),
        filled("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0, fee=0.5, ts=13),
    ]

    assert store.record_many(msgs) == 4
    [order] = store.orders()

    assert order.client_order_id == "a"
    assert order.venue_order_id == "v-a"
    assert (order.symbol, order.side, order.quantity) == ("AAPL", Side.BUY, 10.0)
    assert (order.order_type, order.time_in_force) == (OrderType.LIMIT, TimeInForce.DAY)
    assert (order.limit_price, order.stop_price) == (100.5, None)
    assert order.signal_id == "sig-a"
    assert order.state is OrderState.PARTIALLY_FILLED
    assert (order.filled_quantity, order.avg_fill_price, order.fees) == (4.0, 100.0, 0.5)
    assert (order.ts_created, order.ts_submitted, order.ts_accepted, order.ts_last) == (10, 11, 12, 13)
    assert order.is_open
    assert order.leaves_quantity == 6.0
    assert store.fills() == [msgs[3]]
    assert store.messages() == msgs


def test_final_fill_moves_order_to_filled_with_weighted_average(store: Store) -> None:
    store.record_many(
        [
            approved("a", quantity=10.0),
            submitted("a"),
            accepted("a"),
            filled("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0),
            filled("a", "x2", quantity=6.0, price=101.0, cumulative=10.0, leaves=0.0),
        ]
    )

    order = store.order("a")

    assert order is not None
    assert order.state is OrderState.FILLED
    assert order.avg_fill_price == pytest.approx(100.6)
    assert not order.is_open
    assert store.orders(open_only=True) == []


@pytest.mark.parametrize(
    ("end", "state", "reason"),
    [
        (canceled("a", reason="canceled by user"), OrderState.CANCELED, "canceled by user"),
        (canceled("a", reason="order expired"), OrderState.EXPIRED, "order expired"),
        (rejected("a"), OrderState.REJECTED, "insufficient buying power"),
    ],
)
def test_end_message_records_final_state_and_reason(store: Store, end, state, reason) -> None:
    store.record_many([approved("a"), submitted("a")])

    assert store.record(end)

    order = store.order("a")
    assert order is not None
    assert (order.state, order.reason, order.ts_last) == (state, reason, 5)
    assert store.orders(open_only=True) == []


def test_fill_before_accept_teaches_venue_id_and_late_accept_keeps_state(store: Store) -> None:
    store.record_many([approved("a"), submitted("a")])
    store.record(filled("a", "x1", quantity=3.0, price=10.0, cumulative=3.0, leaves=7.0))

    assert store.record(accepted("a"))

    order = store.order("a")
    assert order is not None
    assert (order.state, order.venue_order_id) == (OrderState.PARTIALLY_FILLED, "v-a")


def test_submitted_without_approval_starts_an_order(store: Store) -> None:
    assert store.record(submitted("a", quantity=5.0, ts=7))

    order = store.order("a")
    assert order is not None
    assert (order.state, order.signal_id, order.ts_created, order.quantity) == (
        OrderState.SUBMITTED,
        None,
        7,
        5.0,
    )


def test_submitted_quantity_replaces_the_approved_one(store: Store) -> None:
    store.record(approved("a", quantity=10.4))

    store.record(submitted("a", quantity=10.0))

    order = store.order("a")
    assert order is not None
    assert order.quantity == 10.0


def test_duplicate_fill_is_a_reported_no_op(store: Store) -> None:
    fill = filled("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0)
    store.record_many([approved("a"), submitted("a"), fill])

    assert store.record(fill) is False
    assert store.record_many([fill, fill]) == 0

    order = store.order("a")
    assert order is not None
    assert order.filled_quantity == 4.0
    assert store.fills() == [fill]
    assert store.statistics().duplicate_fills == 3


def test_fill_for_unknown_order_is_kept_for_positions(store: Store) -> None:
    fill = filled("ghost", "x1", quantity=2.0, price=50.0, cumulative=2.0, leaves=0.0)

    assert store.record(fill)

    assert store.fills() == [fill]
    assert store.orders() == []
    assert store.positions() == {"AAPL": StoredPosition(2.0, 50.0, 0.0)}


@pytest.mark.parametrize(
    ("setup", "msg"),
    [
        pytest.param([], accepted("a"), id="accept-unknown"),
        pytest.param([], canceled("a"), id="cancel-unknown"),
        pytest.param([approved("a")], approved("a"), id="duplicate-approval"),
        pytest.param([approved("a"), canceled("a")], canceled("a"), id="cancel-after-cancel"),
        pytest.param([approved("a"), canceled("a")], rejected("a"), id="reject-after-cancel"),
        pytest.param(
            [approved("a"), accepted("a", venue_id="v1")], accepted("a", venue_id="v2"), id="venue-id"
        ),
        pytest.param([approved("a")], submitted("a", side=Side.SELL), id="side-mismatch"),
        pytest.param([approved("a")], canceled("a", symbol="MSFT"), id="symbol-mismatch"),
    ],
)
def test_contradicting_message_is_refused_and_changes_nothing(store: Store, setup, msg) -> None:
    store.record_many(setup)
    before = store.orders()

    assert store.record(msg) is False

    assert store.orders() == before
    assert store.statistics().refused == 1
    assert store.messages() == setup


def test_market_data_and_system_messages_are_ignored(store: Store) -> None:
    quote = QuoteReceived(
        symbol="AAPL", bid_price=1.0, ask_price=1.1, bid_size=1.0, ask_size=1.0, ts_event=1, ts_init=1
    )
    heartbeat = Heartbeat(actor="risk", sequence=0, ts_event=1, ts_init=1)

    assert store.record_many([quote, approved("a"), heartbeat]) == 1

    stats = store.statistics()
    assert (stats.ignored, stats.recorded, stats.orders) == (2, 1, 1)
    assert stats.transactions == 1


def test_batch_of_only_ignored_messages_opens_no_transaction(store: Store) -> None:
    heartbeat = Heartbeat(actor="risk", sequence=0, ts_event=1, ts_init=1)

    assert store.record_many([heartbeat]) == 0

    assert store.statistics().transactions == 0


def test_record_many_failing_midway_records_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.record(approved("keep"))
    calls = 0

    def failing_encode(msg: Message) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return encode(msg)

    monkeypatch.setattr("pyrt.persistence.store.encode", failing_encode)

    with pytest.raises(RuntimeError, match=r"^boom$"):
        store.record_many([approved("a"), submitted("a"), accepted("a")])

    assert [order.client_order_id for order in store.orders()] == ["keep"]
    assert store.statistics().recorded == 1  # the rolled back batch is not counted


def test_messages_rebuild_an_order_tracker_equal_to_the_store(store: Store) -> None:
    store.record_many(
        [
            approved("a"),
            submitted("a"),
            accepted("a"),
            filled("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0),
            approved("b", side=Side.SELL),
            submitted("b", side=Side.SELL),
            canceled("b", reason="expired at close"),
            approved("c"),
        ]
    )
    tracker = OrderTracker()

    for msg in store.messages():
        assert tracker.on_message(msg) is None  # type: ignore[arg-type]  # the store keeps tracker inputs only

    for order in store.orders():
        view = tracker.get(order.client_order_id)
        assert view is not None
        assert (view.state, view.filled_quantity, view.venue_order_id) == (
            order.state,
            order.filled_quantity,
            order.venue_order_id,
        )


# --- positions, trading state, runs --------------------------------------------------------------


def test_positions_from_fills_long_short_and_flat(store: Store) -> None:
    store.record_many(
        [
            filled("a", "x1", quantity=10.0, price=100.0, cumulative=10.0, leaves=0.0),
            filled("b", "x2", quantity=4.0, price=110.0, cumulative=4.0, leaves=0.0, side=Side.SELL),
            filled(
                "c", "x3", quantity=5.0, price=20.0, cumulative=5.0, leaves=0.0, symbol="MSFT", side=Side.SELL
            ),
            filled("d", "x4", quantity=1.0, price=30.0, cumulative=1.0, leaves=0.0, symbol="SPY"),
            filled(
                "e", "x5", quantity=1.0, price=31.0, cumulative=1.0, leaves=0.0, symbol="SPY", side=Side.SELL
            ),
        ]
    )

    positions = store.positions()

    assert positions == {
        "AAPL": StoredPosition(6.0, 100.0, 40.0),
        "MSFT": StoredPosition(-5.0, 20.0, 0.0),
        "SPY": StoredPosition(0.0, 0.0, 1.0),
    }
    assert positions["MSFT"].quantity == -5.0


def test_trading_state_is_the_latest_recorded(store: Store) -> None:
    assert store.trading_state() is None

    store.record_trading_state("reducing", "MAX_DAILY_LOSS: lost 1000", 10)
    store.record_trading_state("halted", "operator", 20)

    assert store.trading_state() == ("halted", "operator")
    assert [(s.state, s.ts_ns) for s in store.trading_states()] == [("reducing", 10), ("halted", 20)]


def test_trading_state_enum_is_stored_as_its_value(store: Store) -> None:
    from pyrt.risk.state import TradingState

    store.record_trading_state(TradingState.HALTED, "operator", 1)

    assert store.trading_state() == ("halted", "operator")


def test_runs_mark_clean_and_unclean_ends(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        first = store.begin_run(ts_ns=100, label="live")
        store.record(approved("a"))
        store.end_run(ts_ns=200)
        second = store.begin_run(ts_ns=300)  # then the process "crashes": no end_run

    with Store.open(path) as store:
        runs = store.runs()

    assert [(r.run_id, r.started_ns, r.ended_ns, r.label) for r in runs] == [
        (first, 100, 200, "live"),
        (second, 300, None, ""),
    ]
    assert [r.ended_cleanly for r in runs] == [True, False]


# --- surviving a crash -----------------------------------------------------------------------------


def _lifecycle() -> list[Message]:
    return [
        approved("a"),
        submitted("a"),
        accepted("a"),
        filled("a", "x1", quantity=10.0, price=100.0, cumulative=10.0, leaves=0.0),
        approved("b", side=Side.SELL, quantity=3.0),
        submitted("b", side=Side.SELL, quantity=3.0),
    ]


def test_reopen_after_close_reads_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        store.record_many(_lifecycle())
        store.record_trading_state("halted", "operator", 9)
        orders, fills = store.orders(), store.fills()

    with Store.open(path) as reopened:
        assert reopened.orders() == orders
        assert reopened.fills() == fills
        assert reopened.trading_state() == ("halted", "operator")
        assert [o.client_order_id for o in reopened.orders(open_only=True)] == ["b"]


def test_crash_image_with_unclosed_connection_keeps_commits(tmp_path: Path) -> None:
    live = Store.open(tmp_path / "live" / "s.sqlite3")
    live.record_many(_lifecycle())
    copy = tmp_path / "copy"
    copy.mkdir()
    # what a crash leaves: the main file and the WAL, copied while the connection is open
    for name in ("s.sqlite3", "s.sqlite3-wal"):
        shutil.copy(tmp_path / "live" / name, copy / name)

    try:
        with Store.open(copy / "s.sqlite3") as recovered:
            assert recovered.orders() == live.orders()
            assert recovered.fills() == live.fills()
    finally:
        live.close()


_WRITER = textwrap.dedent(
    """
    import os, sys
    from pyrt.messages import OrderFilled, Side
    from pyrt.persistence.store import Store

    store = Store.open(sys.argv[1])
    store.begin_run(ts_ns=1)
    batch = 0
    while True:
        fills = [
            OrderFilled(
                client_order_id=f"o{batch}", venue_order_id=f"v{batch}", execution_id=f"x{batch}-{i}",
                symbol="AAPL", side=Side.BUY, fill_price=100.0, fill_quantity=1.0,
                cumulative_quantity=float(i + 1), leaves_quantity=0.0, ts_event=batch, ts_init=batch,
            )
            for i in range(10)
        ]
        store.record_many(fills)
        os.write(1, f"{batch}\\n".encode())
        batch += 1
        if sys.argv[2] == "exit" and batch == 5:
            os._exit(0)  # no close, no atexit: like a crash
    """
)


def _run_writer(path: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), mode], stdout=subprocess.PIPE, env=env, cwd=REPO
    )


@pytest.mark.slow
def test_process_exit_without_close_keeps_every_commit(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    proc = _run_writer(path, "exit")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.split() == [b"0", b"1", b"2", b"3", b"4"]

    with Store.open(path) as store:
        assert len(store.fills()) == 50
        assert store.positions()["AAPL"].quantity == 50.0
        assert [run.ended_cleanly for run in store.runs()] == [False]


@pytest.mark.slow
def test_sigkill_mid_session_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    proc = _run_writer(path, "loop")
    assert proc.stdout is not None
    acknowledged = -1
    try:
        while acknowledged < 20:
            line = proc.stdout.readline()
            assert line, "writer ended early"
            acknowledged = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    with Store.open(path) as store:
        fills = store.fills()

    assert len(fills) % 10 == 0  # whole batches only: a transaction is all or nothing
    assert len(fills) >= (acknowledged + 1) * 10
    assert len({fill.execution_id for fill in fills}) == len(fills)


# ---------------------------------------------------------------------------- whose store it is

NOW = dt.datetime(2026, 12, 7, 17, 30, 5, tzinfo=dt.UTC)


def test_a_store_remembers_the_account_it_belongs_to(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    owner = StoreOwner(venue="http://127.0.0.1:8765", account_id="acct-1")

    store, moved = Store.open_for(path, owner, now=NOW)
    with store:
        store.record(approved("c1"))
    again, moved_again = Store.open_for(path, owner, now=NOW)
    with again:
        assert again.owner() == owner
        assert [o.client_order_id for o in again.orders()] == ["c1"]

    assert moved is None
    assert moved_again is None


def test_a_store_of_another_account_is_moved_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    # the embedded venue is a fresh account every run: recovering the old session's positions
    # against it found them missing and started the run HALTED
    path = tmp_path / "s.sqlite3"
    store, _ = Store.open_for(path, StoreOwner(venue="local", account_id="acct-1"), now=NOW)
    with store:
        store.record(approved("c1"))
        store.record_trading_state("halted", "old", 1)

    fresh, moved = Store.open_for(path, StoreOwner(venue="local", account_id="acct-2"), now=NOW)
    with fresh:
        assert fresh.owner() == StoreOwner(venue="local", account_id="acct-2")
        assert fresh.orders() == []
        assert fresh.trading_state() is None

    assert moved == tmp_path / "s.20261207T173005Z.sqlite3"
    with Store.open(moved) as old:
        assert old.owner() == StoreOwner(venue="local", account_id="acct-1")
        assert [o.client_order_id for o in old.orders()] == ["c1"]
    assert not list(tmp_path.glob("s.sqlite3-*"))  # no WAL left behind for the new file's name


def test_a_store_from_before_owners_were_recorded_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as legacy:
        legacy.record(approved("c1"))
        legacy._conn().execute("DELETE FROM owner")

    store, moved = Store.open_for(path, StoreOwner(venue="alpaca-paper", account_id="a"), now=NOW)
    with store:
        assert [o.client_order_id for o in store.orders()] == ["c1"]
        assert store.owner() == StoreOwner(venue="alpaca-paper", account_id="a")
    assert moved is None


def test_a_version_1_store_gains_the_owner_table(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE owner")
        raw.execute("UPDATE schema_version SET version = 1")

    with Store.open(path) as store:
        assert store.owner() is None
        assert store.statistics().schema_version == SCHEMA_VERSION == 2
