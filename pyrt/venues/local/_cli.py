"""Entry helpers: serve a local venue from code or from ``pyrt venue`` flags."""

from __future__ import annotations

import argparse
import functools
import logging
import signal
from collections.abc import Sequence

import trio

from ._server import LocalVenue

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_SYMBOLS = "AAPL,MSFT,BTC/USD"
MAX_PORT = 65535


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 to {MAX_PORT} (0 picks a free one), was {text!r}"
        )
    return port


async def serve_local_venue(
    *,
    symbols: Sequence[str],
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    key: str | None = None,
    secret: str | None = None,
    tick_interval: float = 0.05,
    rate_limit: int | None = 200,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Build a :class:`LocalVenue` and serve it until cancelled, logging its URLs.

    Args:
        symbols: tradable symbols (``BTC/USD`` style for crypto).
        seed: the venue's seed.
        host: address to bind.
        port: port to bind (0 picks one).
        key: the only API key accepted, if set.
        secret: its secret; never logged.
        tick_interval: seconds between market steps.
        rate_limit: REST requests per minute per key, ``None`` for no limit.
        task_status: receives the bound port.

    Raises:
        OSError: the address could not be bound.
    """
    venue = LocalVenue(
        symbols=symbols,
        seed=seed,
        host=host,
        port=port,
        key=key,
        secret=secret,
        tick_interval=tick_interval,
        rate_limit=rate_limit,
        unique_ids=True,  # a restarted venue must never reuse an order or execution id
    )
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(venue.serve)
        ws = f"ws://{host}:{bound}"
        logger.info(
            "local venue ready: REST %s (url_override; paths under /v2), trade_updates %s/stream, "
            "stocks %s/v2/iex, crypto %s/v1beta3/crypto/us, test %s/v2/test; keys: %s",
            venue.url,
            ws,
            ws,
            ws,
            ws,
            "one pair enforced" if key else "any pair accepted",
        )
        task_status.started(bound)


def _leaves(group: BaseExceptionGroup[OSError]) -> list[OSError]:
    """The OSErrors in ``group``, however deep the nurseries nested them."""
    found: list[OSError] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(exc))
        else:
            found.append(exc)
    return found


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for ``pyrt venue`` flags."""
    parser = argparse.ArgumentParser(
        prog="pyrt venue", description="Serve the Alpaca-compatible local venue."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--symbols", default=DEFAULT_SYMBOLS, help=f"comma-separated (default {DEFAULT_SYMBOLS})"
    )
    parser.add_argument("--key", default=None, help="the only API key id accepted (default: any)")
    parser.add_argument("--secret", default=None, help="the secret for --key")
    parser.add_argument("--tick-interval", type=float, default=0.05, help="seconds between market steps")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=200,
        help="REST requests per minute per key; 0 disables (default 200)",
    )
    return parser


def run_venue_cli(args: Sequence[str]) -> int:
    """Parse ``pyrt venue`` flags and serve until Ctrl-C.

    Args:
        args: the flags, without the program name.

    Returns:
        The process exit status: 0 after Ctrl-C, 1 when the address cannot be bound, 2 for bad
        flags (a port outside 0 to 65535 included).
    """
    parser = build_parser()
    try:
        options = parser.parse_args(list(args))
    except SystemExit as exc:  # argparse exits on --help and on bad flags; report a status instead
        return int(exc.code or 0)
    symbols = [s.strip().upper() for s in options.symbols.split(",") if s.strip()]
    if not symbols:
        logger.error("--symbols must name at least one symbol")
        return 2
    if (options.key is None) != (options.secret is None):
        logger.error("--key and --secret must be given together")
        return 2
    failed: list[OSError] = []

    async def serve_until_signal() -> None:
        # SIGINT/SIGTERM arrive as messages and cancel the serving nursery, so every task runs its
        # cleanup, rather than KeyboardInterrupt landing at an arbitrary line. A second signal
        # during shutdown gets Python's default handling again (KeyboardInterrupt: exit now).
        async with trio.open_nursery() as nursery:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                await nursery.start(
                    functools.partial(
                        serve_local_venue,
                        symbols=symbols,
                        seed=options.seed,
                        host=options.host,
                        port=options.port,
                        key=options.key,
                        secret=options.secret,
                        tick_interval=options.tick_interval,
                        rate_limit=options.rate_limit or None,
                    )
                )
                async for signum in signals:
                    logger.info("%s: stopping the local venue", signal.Signals(signum).name)
                    break
            nursery.cancel_scope.cancel()
        logger.info("local venue stopped")

    try:
        trio.run(serve_until_signal)
    except* KeyboardInterrupt:  # a second Ctrl-C while shutting down: stop at once
        logger.warning("local venue stopped at once (interrupted during shutdown)")
    except* OSError as group:  # the address is taken or cannot be bound: say so in one line
        failed.extend(_leaves(group))
    if failed:
        logger.error("cannot serve on %s:%s: %s", options.host, options.port, failed[0])
        return 1
    return 0
