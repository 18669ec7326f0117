"""Orders, fills, positions and the trading state in SQLite, so a restart can recover them.

The risk manager's state must survive a crash: the actors hand every order and risk message
to a :class:`Store` (one transaction per bus batch, :meth:`Store.record_many`), and the next
start reads orders, fills and the last trading state back, then reconciles them with the venue
(:mod:`pyrt.persistence.reconcile`).

Durability. The file is in WAL mode with ``synchronous=NORMAL`` by default: a transaction is
in the WAL file once its commit returns, so a *process* crash (SIGKILL, ``os._exit``, an
uncaught error) loses nothing that was committed; the next open replays the WAL. A power loss
or kernel crash may lose the last few commits (never the file: SQLite stays consistent), since
NORMAL fsyncs the WAL at checkpoints rather than at every commit. Open with
``synchronous="full"`` to fsync every commit too, at several times the cost per commit.

What is stored:

- ``orders``: one row per ``client_order_id``: what an :class:`pyrt.execution.orders.OrderTracker`
  decided, persisted. The store feeds each order message to its own tracker (rebuilt from
  ``messages`` on the first write) and writes the order as the tracker then sees it; it never
  decides a transition itself (issue 9). A message the tracker refuses changes nothing.
- ``fills``: every execution once, as told apart by a :class:`pyrt.messages.ExecutionLedger`
  (``execution_id`` is UNIQUE too), so a redelivered fill is a no-op (counted in
  :meth:`Store.statistics` and logged). A fill for an order the store does not know is kept all
  the same, since it moved a position at the venue (it is not counted into an order recorded
  after it). A fill that contradicts its order (symbol, side, venue id) or overfills it is kept
  as the venue reported it, and logged; the order row stays as the tracker left it.
- ``messages``: every recorded message that changed something, encoded with
  :func:`pyrt.messages.encode`, in order, so an :class:`~pyrt.execution.orders.OrderTracker` or a risk
  engine can be rebuilt by feeding them back (:meth:`Store.messages`).
- ``trading_states``: each trading state change (state, reason, time).
- ``runs``: one row per run, with its start and (after a clean end) its end time; a run
  without an end crashed.
- ``owner``: the venue and account the store belongs to (:class:`StoreOwner`). A store is
  never recovered against another account: :meth:`Store.open_for` moves a store of another
  account aside (renamed ``<name>.<UTC time>.sqlite3``, never deleted) and starts a fresh one.
  The embedded venue is a fresh account every run, so its store is never carried over.
- ``schema_version``: the layout version; a file from a newer pyrt is refused, an older one is
  migrated on open (1 → 2 adds ``owner``).

Timestamps are integer nanoseconds; quantities and prices are REAL (IEEE doubles, so a float
reads back bit-for-bit).

Threads: a :class:`Store` has one owner and is not thread-safe, by design. Its calls must not
overlap; the owner may make them from a worker thread (``trio.to_thread.run_sync``), one at a
time, since every call is a short blocking SQLite call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, NamedTuple, final

import attrs

from ..errors import StoreError
from ..execution.orders import AnomalyKind, OrderState, OrderTracker, OrderView
from ..messages import (
    ExecutionLedger,
    ExecutionVerdict,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RiskApproved,
    Side,
    TimeInForce,
    decode,
    encode,
)
from ..risk.portfolio import Portfolio

__all__ = [
    "RECORDED_TYPES",
    "SCHEMA_VERSION",
    "RunMarker",
    "Store",
    "StoreError",
    "StoreOwner",
    "StoreStatistics",
    "StoredOrder",
    "StoredPosition",
    "StoredTradingState",
]

logger = logging.getLogger(__name__)

#: The layout this module writes and the newest it reads.
SCHEMA_VERSION: Final = 2

_OPEN_STATES: Final = tuple(str(state) for state in OrderState if not state.is_terminal)

_RecordInput = RiskApproved | OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected
#: The messages :meth:`Store.record_many` keeps (``_RecordInput`` is the same list, for the type checker).
RECORDED_TYPES: Final = (
    RiskApproved,
    OrderSubmitted,
    OrderAccepted,
    OrderFilled,
    OrderCanceled,
    OrderRejected,
)

_SCHEMA: Final = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ns INTEGER NOT NULL,
    ended_ns INTEGER,
    label TEXT NOT NULL
);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE,
    venue_order_id TEXT,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    order_type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    limit_price REAL,
    stop_price REAL,
    signal_id TEXT,
    state TEXT NOT NULL,
    filled_quantity REAL NOT NULL,
    fill_notional REAL NOT NULL,
    fees REAL NOT NULL,
    reason TEXT NOT NULL,
    ts_created INTEGER NOT NULL,
    ts_submitted INTEGER,
    ts_accepted INTEGER,
    ts_last INTEGER NOT NULL,
    run_id INTEGER
);
CREATE INDEX orders_by_state ON orders (state);
CREATE TABLE fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL,
    venue_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    fill_price REAL NOT NULL,
    fill_quantity REAL NOT NULL,
    cumulative_quantity REAL NOT NULL,
    leaves_quantity REAL NOT NULL,
    fee REAL NOT NULL,
    ts_event INTEGER NOT NULL,
    ts_init INTEGER NOT NULL,
    run_id INTEGER
);
CREATE INDEX fills_by_order ON fills (client_order_id);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    body BLOB NOT NULL,
    run_id INTEGER
);
CREATE TABLE owner (
    venue TEXT NOT NULL,
    account_id TEXT NOT NULL
);
CREATE TABLE trading_states (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    run_id INTEGER
);
"""

_ORDER_COLUMNS: Final = (
    "client_order_id, venue_order_id, symbol, side, quantity, order_type, time_in_force, "
    "limit_price, stop_price, signal_id, state, filled_quantity, fill_notional, fees, reason, "
    "ts_created, ts_submitted, ts_accepted, ts_last"
)
_FILL_COLUMNS: Final = (
    "client_order_id, venue_order_id, execution_id, symbol, side, fill_price, fill_quantity, "
    "cumulative_quantity, leaves_quantity, fee, ts_event, ts_init"
)


@final
@attrs.frozen(kw_only=True)
class StoredOrder:
    """One order as the store last recorded it."""

    client_order_id: str
    """pyrt's id for the order."""
    venue_order_id: str | None
    """The venue's id, once an accept, fill or cancel carried it."""
    symbol: str
    """The instrument."""
    side: Side
    """Buy or sell."""
    quantity: float
    """The ordered quantity."""
    filled_quantity: float
    """Sum of the recorded fills of this order."""
    avg_fill_price: float | None
    """Quantity-weighted average fill price; None before the first fill."""
    fees: float
    """Sum of the recorded fills' fees."""
    state: OrderState
    """Where the order is in its life."""
    reason: str
    """The text of a cancel, expiry or rejection; empty otherwise."""
    order_type: OrderType
    """Market, limit, stop or stop-limit."""
    time_in_force: TimeInForce
    """How long it works."""
    limit_price: float | None
    """The limit, for limit and stop-limit orders."""
    stop_price: float | None
    """The trigger, for stop and stop-limit orders."""
    signal_id: str | None
    """The signal the order came from; None for an order first recorded as submitted."""
    ts_created: int
    """``ts_event`` of the approval (or of the submit, if no approval was recorded)."""
    ts_submitted: int | None
    """``ts_event`` of the submit; None if none was recorded."""
    ts_accepted: int | None
    """``ts_event`` of the venue's accept; None if none was recorded."""
    ts_last: int
    """``ts_event`` of the last message that changed the order."""

    @property
    def is_open(self) -> bool:
        """Whether the order has not ended (its state is not terminal)."""
        return not self.state.is_terminal

    @property
    def leaves_quantity(self) -> float:
        """Quantity still working: 0 once the order has ended."""
        return 0.0 if self.state.is_terminal else max(self.quantity - self.filled_quantity, 0.0)


class StoredPosition(NamedTuple):
    """A symbol's position recomputed from the recorded fills, as :class:`pyrt.risk.portfolio.Portfolio` computes it."""

    quantity: float
    """Signed quantity: positive long, negative short, 0 flat."""
    avg_price: float
    """Average cost of the open quantity; 0 when flat."""
    realized_pnl: float
    """P&L locked in by closing fills, net of fees."""


@final
@attrs.frozen(kw_only=True)
class StoredTradingState:
    """One recorded trading state change."""

    state: str
    """The state from then on (a :class:`pyrt.risk.engine.TradingState` value: ``active`` …)."""
    reason: str
    """Why it changed."""
    ts_ns: int
    """When, in nanoseconds."""
    run_id: int | None
    """The run that recorded it; None outside a run."""


@final
@attrs.frozen(kw_only=True)
class StoreOwner:
    """The venue account a store belongs to."""

    venue: str
    """Which venue: ``local``, ``sim``, ``alpaca-paper``, ``alpaca-live`` or the server's URL."""
    account_id: str
    """The venue's id of the account."""


@final
@attrs.frozen(kw_only=True)
class RunMarker:
    """One run (session) of pyrt against this store."""

    run_id: int
    """Counts up from 1 per store file."""
    started_ns: int
    """When the run began."""
    ended_ns: int | None
    """When it ended cleanly; None while it runs, or if it crashed."""
    label: str
    """Free text from the caller (mode, venue, version)."""

    @property
    def ended_cleanly(self) -> bool:
        """Whether :meth:`Store.end_run` was recorded for this run."""
        return self.ended_ns is not None


@final
@attrs.frozen(kw_only=True)
class StoreStatistics:
    """A snapshot of a :class:`Store`: its file's contents and this connection's counters."""

    path: str
    """The database file."""
    schema_version: int
    """The file's layout version."""
    journal_mode: str
    """SQLite's journal mode (``wal`` for a file)."""
    synchronous: str
    """``normal`` or ``full``: what a power loss can take (see the module docstring)."""
    orders: int
    """Orders in the file, open or ended."""
    open_orders: int
    """Orders in the file not in a terminal state."""
    fills: int
    """Fills in the file."""
    trading_state_changes: int
    """Trading state changes in the file."""
    runs: int
    """Runs in the file."""
    recorded: int
    """Messages recorded through this connection that changed the store."""
    ignored: int
    """Messages handed in that the store does not keep (market data, signals, heartbeats …)."""
    duplicate_fills: int
    """Fills not recorded because their ``execution_id`` was recorded before."""
    refused: int
    """Order messages not applied: an unknown order, a duplicate approval, a mismatch (symbol,
    side, venue id) or an end for an order that had already ended."""
    transactions: int
    """Transactions committed through this connection."""


_Synchronous = Literal["normal", "full"]


def _float(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise StoreError(f"expected a number in the store, found {value!r}")


def _opt_float(value: object) -> float | None:
    return None if value is None else _float(value)


def _int(value: object) -> int:
    if isinstance(value, int):
        return value
    raise StoreError(f"expected an integer in the store, found {value!r}")


def _opt_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _row_to_order(row: tuple[object, ...]) -> StoredOrder:
    (
        client_order_id,
        venue_order_id,
        symbol,
        side,
        quantity,
        order_type,
        time_in_force,
        limit_price,
        stop_price,
        signal_id,
        state,
        filled_quantity,
        fill_notional,
        fees,
        reason,
        ts_created,
        ts_submitted,
        ts_accepted,
        ts_last,
    ) = row
    filled = _float(filled_quantity)
    return StoredOrder(
        client_order_id=str(client_order_id),
        venue_order_id=_opt_str(venue_order_id),
        symbol=str(symbol),
        side=Side(str(side)),
        quantity=_float(quantity),
        filled_quantity=filled,
        avg_fill_price=_float(fill_notional) / filled if filled else None,
        fees=_float(fees),
        state=OrderState(str(state)),
        reason=str(reason),
        order_type=OrderType(str(order_type)),
        time_in_force=TimeInForce(str(time_in_force)),
        limit_price=_opt_float(limit_price),
        stop_price=_opt_float(stop_price),
        signal_id=_opt_str(signal_id),
        ts_created=_int(ts_created),
        ts_submitted=_opt_int(ts_submitted),
        ts_accepted=_opt_int(ts_accepted),
        ts_last=_int(ts_last),
    )


def _row_to_fill(row: tuple[object, ...]) -> OrderFilled:
    (
        client_order_id,
        venue_order_id,
        execution_id,
        symbol,
        side,
        fill_price,
        fill_quantity,
        cumulative_quantity,
        leaves_quantity,
        fee,
        ts_event,
        ts_init,
    ) = row
    return OrderFilled(
        client_order_id=str(client_order_id),
        venue_order_id=str(venue_order_id),
        execution_id=str(execution_id),
        symbol=str(symbol),
        side=Side(str(side)),
        fill_price=_float(fill_price),
        fill_quantity=_float(fill_quantity),
        cumulative_quantity=_float(cumulative_quantity),
        leaves_quantity=_float(leaves_quantity),
        fee=_float(fee),
        ts_event=_int(ts_event),
        ts_init=_int(ts_init),
    )


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after a disk-full error); the caller's error says why


class _Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE_FILL = "duplicate_fill"
    REFUSED = "refused"


@attrs.define
class _Counters:
    recorded: int = 0
    ignored: int = 0
    duplicate_fills: int = 0
    refused: int = 0
    transactions: int = 0


@final
class Store:
    """The SQLite file behind crash recovery: record order messages, read state back.

    Build one with :meth:`open`; use it as a context manager or call :meth:`close`. One owner,
    not thread-safe (see the module docstring).
    """

    __slots__ = ("_counters", "_db", "_executions", "_path", "_run_id", "_synchronous", "_tracker")

    def __init__(self, db: sqlite3.Connection, *, path: str, synchronous: _Synchronous) -> None:
        # Use Store.open: it creates or checks the schema before handing the connection here
        self._db: sqlite3.Connection | None = db
        self._path = path
        self._synchronous = synchronous
        self._run_id: int | None = None
        self._counters = _Counters()
        # what the recorded messages made of the orders and the fills, rebuilt on the first write
        self._tracker: OrderTracker | None = None
        self._executions: ExecutionLedger | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | Path, *, synchronous: _Synchronous = "normal") -> Store:
        """Open (creating it if needed) the store file at ``path``.

        Creates the parent folder and the schema of a new file, switches it to WAL mode and
        checks the schema version of an existing one.

        Args:
            path: the database file, e.g. ``data/pyrt.sqlite3``; ``":memory:"`` gives a
                throwaway in-memory store (no WAL, for tests).
            synchronous: ``"normal"`` (a process crash loses no commit, a power loss may lose
                the last ones) or ``"full"`` (fsync on every commit).

        Returns:
            The open store.

        Raises:
            StoreError: the file is not an SQLite database or not a pyrt store, was written
                by a newer pyrt (a higher schema version), or cannot be opened.
        """
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', was {synchronous!r}")
        name = str(path)
        if name != ":memory:":
            try:
                Path(name).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for store {name}: {exc}") from exc
        try:
            # Autocommit (isolation_level=None): this module issues BEGIN/COMMIT itself, so a
            # batch is exactly one transaction. check_same_thread=False lets the one owner
            # call from a worker thread; calls never overlap (see the module docstring)
            db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {name}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout = 2000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if name != ":memory:" and str(mode).lower() != "wal":
                raise StoreError(f"store {name}: journal_mode must be wal, SQLite gave {mode!r}")
            db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            _check_or_create_schema(db, name)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(f"{name} is not a readable pyrt store: {exc}") from exc
        except BaseException:
            db.close()
            raise
        logger.info("store %s open (schema %d, synchronous %s)", name, SCHEMA_VERSION, synchronous)
        return cls(db, path=name, synchronous=synchronous)

    @classmethod
    def open_for(
        cls,
        path: str | Path,
        owner: StoreOwner,
        *,
        now: dt.datetime,
        synchronous: _Synchronous = "normal",
    ) -> tuple[Store, Path | None]:
        """Open the store at ``path`` for ``owner``'s account; never one of another account.

        A store that records another owner is closed, renamed aside to
        ``<stem>.<now as YYYYmmddTHHMMSSZ><suffix>`` (its WAL files with it) and a fresh store is
        created at ``path``; the move is logged as a warning. A store that records no owner (a
        new file, or one from before owners were recorded) is claimed for ``owner``.

        Returns:
            The open store, and where the other account's store went (None if nothing moved).

        Raises:
            StoreError: as :meth:`open`, or the old store could not be moved aside.
        """
        store = cls.open(path, synchronous=synchronous)
        recorded = store.owner()
        moved: Path | None = None
        if recorded is not None and recorded != owner:
            store.close()
            source = Path(path)
            stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            moved = source.with_name(f"{source.stem}.{stamp}{source.suffix}")
            try:
                for extra in ("", "-wal", "-shm"):
                    old = Path(f"{source}{extra}")
                    if old.exists():
                        old.rename(f"{moved}{extra}")
            except OSError as exc:
                raise StoreError(f"cannot move store {source} aside to {moved}: {exc}") from exc
            logger.warning(
                "store %s belongs to account %s at %s, not to this run's account %s at %s: moved it "
                "aside to %s and started a fresh store (nothing is recovered from another account)",
                source,
                recorded.account_id,
                recorded.venue,
                owner.account_id,
                owner.venue,
                moved,
            )
            store = cls.open(path, synchronous=synchronous)
            recorded = None
        if recorded is None:
            try:
                store.claim(owner)
            except BaseException:
                store.close()
                raise
        return store, moved

    def owner(self) -> StoreOwner | None:
        """Return the account the store belongs to, or None if none was recorded."""
        row = self._conn().execute("SELECT venue, account_id FROM owner LIMIT 1").fetchone()
        return None if row is None else StoreOwner(venue=str(row[0]), account_id=str(row[1]))

    def claim(self, owner: StoreOwner) -> None:
        """Record that the store belongs to ``owner``'s account (replacing any owner recorded).

        Raises:
            StoreError: the write failed.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM owner")
            db.execute("INSERT INTO owner (venue, account_id) VALUES (?, ?)", (owner.venue, owner.account_id))

    def close(self) -> None:
        """Close the file; idempotent. A run begun with :meth:`begin_run` stays open (unended)."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
            logger.info("store %s closed", self._path)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def run_id(self) -> int | None:
        """The run begun with :meth:`begin_run` on this connection, or None."""
        return self._run_id

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"store {self._path} is closed")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self._path}: cannot begin a transaction: {exc}") from exc
        try:
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(db)
            raise StoreError(f"store {self._path}: write failed, rolled back: {exc}") from exc
        except BaseException:
            _rollback(db)
            raise
        self._counters.transactions += 1

    # ------------------------------------------------------------------ runs

    def begin_run(self, *, ts_ns: int, label: str = "") -> int:
        """Record the start of a run; later records carry its id.

        Args:
            ts_ns: the run's start time.
            label: free text (mode, venue, version).

        Returns:
            The new run's id.

        Raises:
            StoreError: the write failed.
        """
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO runs (started_ns, label) VALUES (?, ?)", (ts_ns, label))
            run_id = cursor.lastrowid
        assert run_id is not None  # an INSERT into a rowid table always sets it
        self._run_id = run_id
        logger.info("store %s: run %d began", self._path, run_id)
        return run_id

    def end_run(self, *, ts_ns: int) -> None:
        """Mark the run begun with :meth:`begin_run` as ended cleanly; no-op without one.

        Raises:
            StoreError: the write failed.
        """
        if self._run_id is None:
            return
        with self._transaction() as db:
            db.execute("UPDATE runs SET ended_ns = ? WHERE run_id = ?", (ts_ns, self._run_id))
        logger.info("store %s: run %d ended", self._path, self._run_id)
        self._run_id = None

    def runs(self) -> list[RunMarker]:
        """Return every run, oldest first; one with ``ended_ns`` None that is not the current run crashed."""
        rows = self._conn().execute("SELECT run_id, started_ns, ended_ns, label FROM runs ORDER BY run_id")
        return [
            RunMarker(run_id=run_id, started_ns=started, ended_ns=ended, label=label)
            for run_id, started, ended, label in rows
        ]

    # ------------------------------------------------------------------ writing

    def record(self, msg: Message) -> bool:
        """Record one message in its own transaction.

        Order and risk-approval messages are kept (``risk.approved``, ``order.submitted``,
        ``order.accepted``, ``order.filled``, ``order.canceled``, ``order.rejected``); anything
        else is ignored and counted.

        Args:
            msg: any pyrt message.

        Returns:
            True if it changed the store; False if it was ignored, a duplicate fill (same
            ``execution_id``) or refused (an update for an unknown order, a duplicate
            approval, a contradiction, an end after the end). Duplicates and refusals are
            logged and counted in :meth:`statistics`.

        Raises:
            StoreError: the write failed (nothing was recorded).
        """
        return self.record_many((msg,)) == 1

    def record_many(self, msgs: Iterable[Message]) -> int:
        """Record a batch of messages in one transaction (all of it, or none on an error).

        Args:
            msgs: any pyrt messages, in the order they happened; see :meth:`record`.

        Returns:
            How many changed the store.

        Raises:
            StoreError: the write failed; the transaction was rolled back, nothing of the
                batch is recorded.
        """
        batch = list(msgs)
        wanted = [msg for msg in batch if isinstance(msg, RECORDED_TYPES)]
        # Counters move only after the commit, so a rolled back batch is not counted
        counts = _Counters()
        if wanted:
            try:
                self._apply_all(wanted, counts)
            except BaseException:
                # the tracker and ledger took messages the file never got: rebuild them from it
                self._tracker = self._executions = None
                raise
        else:
            self._conn()  # a closed store refuses an all-market-data batch too
        counters = self._counters
        counters.recorded += counts.recorded
        counters.duplicate_fills += counts.duplicate_fills
        counters.refused += counts.refused
        counters.ignored += len(batch) - len(wanted)
        return counts.recorded

    def _apply_all(self, wanted: list[_RecordInput], counts: _Counters) -> None:
        if self._tracker is None or self._executions is None:
            self._tracker, self._executions = self._rebuild()
        with self._transaction() as db:
            for msg in wanted:
                outcome = self._apply(db, msg)
                if outcome is _Outcome.APPLIED:
                    counts.recorded += 1
                    db.execute(
                        "INSERT INTO messages (topic, client_order_id, body, run_id) VALUES (?, ?, ?, ?)",
                        (msg.TOPIC, msg.client_order_id, encode(msg), self._run_id),
                    )
                elif outcome is _Outcome.DUPLICATE_FILL:
                    counts.duplicate_fills += 1
                else:
                    counts.refused += 1

    def _rebuild(self) -> tuple[OrderTracker, ExecutionLedger]:
        tracker = OrderTracker()
        for msg in self.messages():
            if isinstance(msg, RECORDED_TYPES):
                tracker.on_message(msg)  # refusals repeat as they happened: the state is the same
        executions = ExecutionLedger()
        for fill in self.fills():
            executions.remember(fill)
        return tracker, executions

    def record_trading_state(self, state: str, reason: str, ts_ns: int) -> None:
        """Record a trading state change in its own transaction.

        Args:
            state: the new state, e.g. a :class:`pyrt.risk.engine.TradingState` (stored as its value).
            reason: why it changed.
            ts_ns: when it changed.

        Raises:
            StoreError: the write failed.
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trading_states (state, reason, ts_ns, run_id) VALUES (?, ?, ?, ?)",
                (str(state), reason, ts_ns, self._run_id),
            )

    def _refuse(self, msg: _RecordInput, detail: str) -> _Outcome:
        logger.warning(
            "store: %s for %s not recorded: %s (%d refused so far)",
            msg.TOPIC,
            msg.client_order_id,
            detail,
            self._counters.refused + 1,
        )
        return _Outcome.REFUSED

    def _apply(self, db: sqlite3.Connection, msg: _RecordInput) -> _Outcome:
        assert self._tracker is not None  # _apply_all built it
        if isinstance(msg, OrderFilled):
            return self._apply_fill(db, msg, self._tracker)
        anomaly = self._tracker.on_message(msg)
        if anomaly is not None:
            return self._refuse(msg, anomaly.detail)
        view = self._tracker.get(msg.client_order_id)
        assert view is not None  # the tracker just applied a message for it
        self._write_order(db, view, msg)
        return _Outcome.APPLIED

    def _write_order(self, db: sqlite3.Connection, view: OrderView, msg: _RecordInput) -> None:
        # The row is the tracker's view; only the first-seen times are the store's own
        ts_submitted = msg.ts_event if isinstance(msg, OrderSubmitted) else None
        ts_accepted = msg.ts_event if isinstance(msg, OrderAccepted) else None
        db.execute(
            f"INSERT INTO orders ({_ORDER_COLUMNS}, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (client_order_id) DO UPDATE SET venue_order_id = excluded.venue_order_id, "
            "quantity = excluded.quantity, order_type = excluded.order_type, "
            "time_in_force = excluded.time_in_force, limit_price = excluded.limit_price, "
            "stop_price = excluded.stop_price, state = excluded.state, "
            "filled_quantity = excluded.filled_quantity, fill_notional = excluded.fill_notional, "
            "fees = excluded.fees, reason = excluded.reason, "
            "ts_submitted = COALESCE(orders.ts_submitted, excluded.ts_submitted), "
            "ts_accepted = COALESCE(orders.ts_accepted, excluded.ts_accepted), ts_last = excluded.ts_last",
            (
                view.client_order_id,
                view.venue_order_id,
                view.symbol,
                str(view.side),
                view.quantity,
                str(view.order_type),
                str(view.time_in_force),
                view.limit_price,
                view.stop_price,
                view.signal_id,
                str(view.state),
                view.filled_quantity,
                view.fill_notional,
                view.fees,
                view.reason,
                msg.ts_event,
                ts_submitted,
                ts_accepted,
                view.ts_last,
                self._run_id,
            ),
        )

    def _apply_fill(self, db: sqlite3.Connection, fill: OrderFilled, tracker: OrderTracker) -> _Outcome:
        assert self._executions is not None  # _apply_all built it
        verdict = self._executions.check(fill)
        if verdict is not ExecutionVerdict.NEW:
            if verdict is ExecutionVerdict.CONTRADICTORY:
                logger.error("store: fill not recorded: %s", self._executions.contradiction(fill))
            logger.warning(
                "store: duplicate fill %s for %s not recorded again (%d so far)",
                fill.execution_id,
                fill.client_order_id,
                self._counters.duplicate_fills + 1,
            )
            return _Outcome.DUPLICATE_FILL
        self._executions.remember(fill)
        db.execute(
            f"INSERT INTO fills ({_FILL_COLUMNS}, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fill.client_order_id,
                fill.venue_order_id,
                fill.execution_id,
                fill.symbol,
                str(fill.side),
                fill.fill_price,
                fill.fill_quantity,
                fill.cumulative_quantity,
                fill.leaves_quantity,
                fill.fee,
                fill.ts_event,
                fill.ts_init,
                self._run_id,
            ),
        )
        # The fill is a fact at the venue (it moved the position), so it stays recorded even when
        # the tracker refuses it for its order; only the order row is left alone then
        anomaly = tracker.on_filled(fill)
        if anomaly is None:
            view = tracker.get(fill.client_order_id)
            assert view is not None  # the tracker just counted a fill into it
            self._write_order(db, view, fill)
        elif anomaly.kind is AnomalyKind.UNKNOWN_ORDER:
            logger.warning(
                "store: fill %s for unrecorded order %s kept; no order row to update",
                fill.execution_id,
                fill.client_order_id,
            )
        else:
            logger.warning(
                "store: fill %s kept as reported, but order %s is left as it was: %s",
                fill.execution_id,
                fill.client_order_id,
                anomaly.detail,
            )
        return _Outcome.APPLIED

    # ------------------------------------------------------------------ reading

    def orders(self, *, open_only: bool = False) -> list[StoredOrder]:
        """Return the recorded orders, oldest first.

        Args:
            open_only: only those not in a terminal state.
        """
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders"
        params: tuple[str, ...] = ()
        if open_only:
            sql += f" WHERE state IN ({', '.join('?' * len(_OPEN_STATES))})"
            params = _OPEN_STATES
        return [_row_to_order(row) for row in self._conn().execute(sql + " ORDER BY seq", params)]

    def order(self, client_order_id: str) -> StoredOrder | None:
        """Return one recorded order, or None if it was never recorded."""
        row = (
            self._conn()
            .execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,))
            .fetchone()
        )
        return None if row is None else _row_to_order(row)

    def fills(self) -> list[OrderFilled]:
        """Return every recorded fill, in the order they were recorded."""
        rows = self._conn().execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq")
        return [_row_to_fill(row) for row in rows]

    def messages(self) -> list[Message]:
        """Return every recorded message that changed the store, in recording order.

        Feeding them to a fresh :class:`pyrt.execution.orders.OrderTracker` (or the risk engine)
        rebuilds its order state as it was at the last commit.

        Raises:
            StoreError: a stored message no longer decodes (a codec change).
        """
        out: list[Message] = []
        for seq, body in self._conn().execute("SELECT seq, body FROM messages ORDER BY seq"):
            try:
                out.append(decode(body, source=f"store {self._path} message {seq}"))
            except ValueError as exc:
                raise StoreError(str(exc)) from exc
        return out

    def positions(self) -> dict[str, StoredPosition]:
        """Return every symbol's position recomputed from the recorded fills.

        Symbols that traded and are flat again are included (quantity 0). The arithmetic is
        :class:`pyrt.risk.portfolio.Portfolio`'s, fill by fill in recording order.
        """
        portfolio = Portfolio(0.0)
        for fill in self.fills():
            portfolio.apply_fill(fill)
        return {
            view.symbol: StoredPosition(view.quantity, view.avg_price, view.realized_pnl)
            for view in portfolio.positions()
        }

    def trading_state(self) -> tuple[str, str] | None:
        """Return the last recorded trading state and its reason, or None if none was recorded."""
        row = (
            self._conn()
            .execute("SELECT state, reason FROM trading_states ORDER BY seq DESC LIMIT 1")
            .fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]))

    def trading_states(self) -> list[StoredTradingState]:
        """Return every recorded trading state change, oldest first."""
        rows = self._conn().execute("SELECT state, reason, ts_ns, run_id FROM trading_states ORDER BY seq")
        return [
            StoredTradingState(state=state, reason=reason, ts_ns=ts_ns, run_id=run_id)
            for state, reason, ts_ns, run_id in rows
        ]

    def statistics(self) -> StoreStatistics:
        """Return a snapshot of the file's contents and this connection's counters."""
        db = self._conn()

        def count(sql: str, params: tuple[str, ...] = ()) -> int:
            value: int = db.execute(sql, params).fetchone()[0]
            return value

        open_filter = ", ".join("?" * len(_OPEN_STATES))
        counters = self._counters
        return StoreStatistics(
            path=self._path,
            schema_version=count("SELECT version FROM schema_version"),
            journal_mode=str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower(),
            synchronous=self._synchronous,
            orders=count("SELECT COUNT(*) FROM orders"),
            open_orders=count(f"SELECT COUNT(*) FROM orders WHERE state IN ({open_filter})", _OPEN_STATES),
            fills=count("SELECT COUNT(*) FROM fills"),
            trading_state_changes=count("SELECT COUNT(*) FROM trading_states"),
            runs=count("SELECT COUNT(*) FROM runs"),
            recorded=counters.recorded,
            ignored=counters.ignored,
            duplicate_fills=counters.duplicate_fills,
            refused=counters.refused,
            transactions=counters.transactions,
        )


def _check_or_create_schema(db: sqlite3.Connection, name: str) -> None:
    # executescript() would commit first, so the statements run one by one in one transaction;
    # IMMEDIATE, so two processes opening a new file at once do not both create it
    db.execute("BEGIN IMMEDIATE")
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise StoreError(
                    f"{name} is an SQLite database but not a pyrt store "
                    f"(tables {sorted(tables)}, no schema_version)"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            logger.info("store %s created (schema %d)", name, SCHEMA_VERSION)
        else:
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0] if row is not None else None
            if not isinstance(version, int):
                raise StoreError(f"{name}: schema_version holds no version, found {version!r}")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{name} was written by a newer pyrt: schema version {version}, "
                    f"this pyrt reads up to {SCHEMA_VERSION}"
                )
            if version < 2:  # 1 -> 2: the account the store belongs to
                db.execute("CREATE TABLE owner (venue TEXT NOT NULL, account_id TEXT NOT NULL)")
                db.execute("UPDATE schema_version SET version = 2")
                logger.info("store %s migrated from schema %d to 2", name, version)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
