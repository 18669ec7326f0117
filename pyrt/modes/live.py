"""Live mode: the tree on the wall clock against a venue.

Venues (``config.run.venue``):

- ``local`` (default): the embedded Alpaca-compatible server (:mod:`pyrt.venues.local`) on a free
  loopback port, reached through the Alpaca client over real sockets — the live code path with
  no account;
- ``alpaca``: Alpaca's paper endpoints (``live=True``: real money), keys from the environment;
- an ``http(s)://`` URL: any Alpaca-compatible server, keys from the environment;
- ``sim``: the in-process simulated exchange (no sockets).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

import trio

from ..config import ENV_KEY_ID, ENV_SECRET_KEY, PyrtConfig, config_to_dict
from ..control.server import ControlRequest, check_socket_free
from ..errors import ConfigError
from ..persistence.recovery import recover
from ..persistence.store import Store, StoreOwner
from ..runtime.clock import WallClock, make_rng
from ..runtime.journal import JournalWriter
from ..venues import AccountSnapshot, Broker, MarketDataFeed
from .tree import RunStatus, RunSummary, TradingTree

__all__ = [
    "control_socket_path",
    "default_journal_path",
    "open_live_venue",
    "pyrt_version",
    "run_live",
    "store_owner",
    "store_path",
    "warn_reserved_keys",
]

logger = logging.getLogger(__name__)


_ZMQ_KEYS: Final = (
    ("market_data", "zmq_publish_address"),
    ("signal", "zmq_subscribe_address"),
    ("signal", "zmq_publish_address"),
    ("risk", "zmq_subscribe_address"),
    ("risk", "zmq_publish_address"),
    ("execution", "zmq_subscribe_address"),
)


def warn_reserved_keys(config: PyrtConfig) -> None:
    """Warn once if any ``zmq_*`` key differs from its default: they are read by nothing yet.

    They are reserved for the ZeroMQ scale-out (issue 15), where actors run as processes; one
    process today passes messages on its in-memory bus.
    """
    default = PyrtConfig()
    changed = [
        f"{section}.{key}"
        for section, key in _ZMQ_KEYS
        if getattr(getattr(config, section), key) != getattr(getattr(default, section), key)
    ]
    if changed:
        logger.warning(
            "%s set, but the zmq_* keys are reserved for the ZeroMQ scale-out (issue 15) and read by "
            "nothing yet: this run passes messages in process",
            ", ".join(changed),
        )


def pyrt_version() -> str:
    """Return the installed pyrt version."""
    try:
        return version("pyrt")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def control_socket_path(config: PyrtConfig) -> Path:
    """Return where a run with this config serves its control socket."""
    return config.run.data_dir / "pyrt.sock"


def store_path(config: PyrtConfig, *, live: bool = False, journal_path: Path | None = None) -> Path:
    """Return the SQLite store (orders, fills, trading state) for this config's venue account.

    One store per account, so a restart recovers against the account it traded on:
    ``<data_dir>/store-alpaca-paper.sqlite3``, ``store-alpaca-live``, ``store-<host>-<port>`` for a
    URL. The embedded venue's account lives only as long as the run, so its store is the
    session's own file beside the journal (nothing to recover next time).
    """
    venue = config.run.venue
    if venue in ("local", "sim"):
        if journal_path is None:
            raise ValueError("the embedded venue's store sits beside the session journal: pass journal_path")
        return journal_path.with_suffix(".sqlite3")
    if venue == "alpaca":
        slug = "alpaca-live" if live else "alpaca-paper"
    else:
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", venue.split("://", 1)[-1]).strip("-")
    return config.run.data_dir / f"store-{slug}.sqlite3"


def store_owner(config: PyrtConfig, account: AccountSnapshot, *, live: bool = False) -> StoreOwner:
    """Return the account a run trades on, as its store records it.

    The venue is ``local``, ``sim``, ``alpaca-paper``, ``alpaca-live`` or the server's URL; the
    account is the venue's account id. The in-process sim venue reports none and is a fresh
    account every run, so it gets a fresh id: its store is never recovered by a later run.
    """
    venue = config.run.venue
    if venue == "alpaca":
        venue = "alpaca-live" if live else "alpaca-paper"
    account_id = account.account_id
    if account_id is None:
        account_id = f"sim-{secrets.token_hex(8)}" if venue == "sim" else "unknown"
    return StoreOwner(venue=venue, account_id=account_id)


def default_journal_path(config: PyrtConfig, now: dt.datetime) -> Path:
    """Return ``<data_dir>/journals/<UTC date and time>.pyrtj`` for a session started at ``now``."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return config.run.data_dir / "journals" / f"{stamp}.pyrtj"


@contextlib.asynccontextmanager
async def open_live_venue(
    config: PyrtConfig, *, clock: WallClock, live: bool = False
) -> AsyncIterator[tuple[MarketDataFeed, Broker, str]]:
    """Open the configured venue; yield ``(feed, broker, description)``; close it on exit.

    Raises:
        ConfigError: Alpaca (or a URL) without keys in the environment; ``live`` without Alpaca.
    """
    from ..venues.alpaca import open_alpaca_venue

    venue = config.run.venue
    rng = make_rng(config.run.seed)
    if live and venue != "alpaca":
        raise ConfigError([f"--live trades real money on Alpaca; it needs --venue alpaca, was {venue!r}"])
    if venue == "sim":
        from ..venues.sim.venue import SimVenue

        sim = SimVenue(
            config.symbols, clock=clock, rng=rng, tick_interval=0.05, starting_cash=config.risk.starting_cash
        )
        yield sim, sim, "sim (in-process)"
        return
    opener = functools.partial(
        open_alpaca_venue,
        clock=clock,
        rng=rng,
        rate_limit_per_minute=config.execution.rate_limit_per_minute,
        max_retries=config.execution.max_retries,
        reconnect_delay_secs=config.market_data.reconnect_delay_secs,
    )
    if venue == "local":
        from ..venues.local import LocalVenue

        # a fresh key pair per run: the embedded venue accepts only this one
        key_id, secret_key = f"PKLOCAL{secrets.token_hex(6).upper()}", secrets.token_urlsafe(24)
        server = LocalVenue(
            symbols=config.symbols,
            seed=config.run.seed,
            key=key_id,
            secret=secret_key,
            starting_cash=config.risk.starting_cash,
            clock=clock,
            rate_limit=config.execution.rate_limit_per_minute,
            unique_ids=True,  # a fresh account every run, with ids no earlier run has seen
        )
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve)
            url = f"http://127.0.0.1:{port}"
            async with opener(key_id=key_id, secret_key=secret_key, base_url=url) as alpaca:
                yield alpaca.feed, alpaca.broker, f"local (embedded Alpaca-compatible server at {url})"
            nursery.cancel_scope.cancel()
        return
    creds = config.credentials
    if creds is None:
        raise ConfigError(
            [
                f"venue {venue!r} needs API keys: set the environment variables {ENV_KEY_ID} and {ENV_SECRET_KEY}"
            ],
            source="environment",
        )
    base_url = None if venue == "alpaca" else venue
    async with opener(
        key_id=creds.key_id, secret_key=creds.secret_key, base_url=base_url, live=live
    ) as alpaca:
        where = ("Alpaca LIVE (real money)" if live else "Alpaca paper") if base_url is None else base_url
        yield alpaca.feed, alpaca.broker, where


async def run_live(
    config: PyrtConfig,
    *,
    journal_path: Path | None = None,
    duration: float | None = None,
    on_status: Callable[[RunStatus], None] | None = None,
    on_started: Callable[[Path, str], None] | None = None,
    stop: trio.Event | None = None,
    live: bool = False,
    commands: trio.MemoryReceiveChannel[ControlRequest] | None = None,
    overwrite: bool = False,
) -> RunSummary:
    """Run the trading tree on the wall clock until ``duration`` passes or ``stop`` is set.

    The control socket ``<data_dir>/pyrt.sock`` serves ``pyrt halt``/``resume``/``status``;
    ``commands`` carries operator commands from the caller (SIGUSR1 → halt). ``overwrite``
    replaces an existing journal at ``journal_path`` instead of refusing.

    The store is opened for the venue's account (:meth:`pyrt.persistence.store.Store.open_for`): a store
    of another account (the embedded venue is a fresh one every run) is moved aside and a
    fresh one started, so a run never recovers positions from an account it is not trading.

    Raises:
        pyrt.errors.ConfigError: the venue cannot be used as configured (missing keys …).
        pyrt.control.server.ControlError: another run serves this data_dir's control socket.
        pyrt.errors.JournalError: the journal cannot be created.
        pyrt.errors.SupervisionError: an actor crashed past the restart intensity.
    """
    check_socket_free(control_socket_path(config))  # a second run in this data_dir: refuse first
    warn_reserved_keys(config)
    clock = WallClock()
    rng = make_rng(config.run.seed)
    started = dt.datetime.fromtimestamp(clock.now_ns() / 1e9, dt.UTC)
    path = journal_path if journal_path is not None else default_journal_path(config, started)
    async with open_live_venue(config, clock=clock, live=live) as (feed, broker, description):
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata: dict[str, object] = {
            "pyrt_version": pyrt_version(),
            "mode": "live",
            "venue": config.run.venue,
            "live": live,
            "seed": config.run.seed,
            "started_at": started.isoformat(),
            "config": config_to_dict(config),
        }
        account = await broker.get_account()
        account_halt = account.halt_reason()  # blocked or not ACTIVE: halt
        owned, _moved = Store.open_for(
            store_path(config, live=live, journal_path=path),
            store_owner(config, account, live=live),
            now=started,
        )
        with owned as store, JournalWriter.create(path, metadata=metadata, overwrite=overwrite) as journal:
            run_id = store.begin_run(ts_ns=clock.now_ns(), label=str(path))
            if account_halt is not None:
                logger.error("%s; trading starts HALTED", account_halt)
            recovery = await recover(store, broker, now_ns=clock.now_ns())
            tree = TradingTree(
                config,
                feed=feed,
                broker=broker,
                clock=clock,
                rng=rng,
                journal=journal,
                control_socket=control_socket_path(config),
                store=store,
            )
            halts = [reason for reason in (account_halt, recovery.halt_reason) if reason is not None]
            tree.restore(store, halt_reason="; ".join(halts) if halts else None)
            if on_started is not None:
                on_started(path, description)
            summary = await tree.run(duration=duration, on_status=on_status, stop=stop, commands=commands)
            store.end_run(ts_ns=clock.now_ns())
            logger.info("run %d ended cleanly", run_id)
            return summary
    raise AssertionError("unreachable")  # pragma: no cover - the venue context always yields
