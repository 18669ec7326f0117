"""The ``pyrt`` command: flags → config → a mode. The only module that prints or sets up logging."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

import attrs
import orjson
import trio

from .config import StrategyConfig, load_config, parse_override
from .control.server import ControlError, ControlRequest, send_command
from .errors import ConfigError, DecodeError, JournalError, SupervisionError
from .modes.tree import RunStatus, RunSummary

__all__ = ["format_control_reply", "main", "parse_duration"]

logger = logging.getLogger("pyrt.cli")

_DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def parse_duration(text: str) -> float:
    """Parse ``"30s"``, ``"2m"``, ``"1h"``, ``"500ms"`` or plain seconds into seconds.

    Raises:
        ValueError: anything else, or zero.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"duration must look like 30s, 2m, 1h, 500ms or 10, was {text!r}")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be > 0, was {text!r}")
    return seconds


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrt", description="pyrt: algorithmic trading on trio")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the trading tree live (market data → signal → risk → execution)")
    run.add_argument("--config", type=Path, help="JSON config file (see examples/config.json)")
    run.add_argument(
        "--venue",
        help="local (default: embedded Alpaca-compatible server) | alpaca (paper; keys from env) | sim | URL",
    )
    run.add_argument(
        "--duration", type=_duration_arg, help="stop after this long, e.g. 30s, 5m (default: until Ctrl-C)"
    )
    run.add_argument(
        "--journal", type=Path, help="journal file to write (default: a dated file under data_dir/journals)"
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace the --journal file (and its store) if it exists"
    )
    run.add_argument("--symbols", help="comma-separated symbols, e.g. AAPL,MSFT")
    run.add_argument("--seed", type=int, help="the run's random seed")
    run.add_argument("--strategy", help="built-in name (sma_crossover) or import path package.module:Class")
    run.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter (repeatable)"
    )
    run.add_argument("--quiet", action="store_true", help="no live status lines, only the summary")
    # -v after the command too (pyrt run -v); SUPPRESS keeps a -v given before the command
    run.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging (-vv for debug)"
    )
    run.add_argument(
        "--live", action="store_true", help="with --venue alpaca: Alpaca's live (real money) endpoints"
    )
    run.add_argument("--confirm-live", action="store_true", help="required with --live")

    journal = sub.add_parser("journal", help="inspect a journal")
    jsub = journal.add_subparsers(dest="journal_command", required=True)
    show = jsub.add_parser("show", help="print a journal as JSON lines (metadata first)")
    show.add_argument("file", type=Path)
    show.add_argument("--topic", default="", help="only messages whose topic starts with this")

    sub.add_parser(
        "venue",
        help="serve the embedded Alpaca-compatible venue (pyrt venue --help for its flags)",
        add_help=False,
    )

    for name, text in (
        ("halt", "kill switch: the running pyrt run approves nothing new"),
        ("reduce", "the running pyrt run approves only orders that reduce exposure"),
        ("resume", "back to normal trading (or to reduce-only while the daily loss is breached)"),
        ("status", "print the running pyrt run's trading state, limits and P&L per symbol"),
    ):
        op = sub.add_parser(name, help=text)
        op.add_argument("--config", type=Path, help="the run's config file (to find its data_dir)")
        op.add_argument("--socket", type=Path, help="the control socket (default <data_dir>/pyrt.sock)")
        op.add_argument("--json", action="store_true", help="print the reply as JSON (for scripts)")
        if name != "status":
            op.add_argument("--reason", help="why (journaled)")
        if name == "halt":
            op.add_argument(
                "--cancel-orders", action="store_true", help="also cancel open orders at the venue"
            )

    sub.add_parser("version", help="print the version")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if args.venue is not None:
        out["run.venue"] = args.venue
    if args.seed is not None:
        out["run.seed"] = args.seed
    if args.symbols is not None:
        out["symbols"] = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if args.strategy is not None:
        out["strategy.name"] = args.strategy
    for item in args.param:
        key, value = parse_override(item)
        out[f"strategy.params.{key}"] = value
    return out


def _check_strategy(strategy: StrategyConfig) -> list[str]:
    """Build the configured strategy once, so bad params are listed with the config's other problems."""
    from .strategy import load_strategy

    # the tree gives every strategy the bar timeframe; any valid one will do for the check
    try:
        load_strategy(strategy.name, {"timeframe": "1m", **dict(strategy.params)})
    except ConfigError as exc:
        where = "$.strategy.params" if "parameters" in exc.source else "$.strategy.name"
        return [f"{where}: {error}" for error in exc.errors]
    return []


def _format_status(status: RunStatus) -> str:
    rates = " ".join(
        f"{topic.removeprefix('market.')}={rate:,.0f}/s"
        for topic, rate in sorted(status.rates.items())
        if topic.startswith("market.") and rate > 0
    )
    positions = " ".join(f"{p.symbol}{p.quantity:+g}" for p in status.positions if p.quantity) or "flat"
    pnl = status.realized_pnl + status.unrealized_pnl
    return (
        (
            f"[{status.elapsed:7.1f}s] {rates or 'no market data yet'} | signals {status.count('signal.generated')}"
            f" approved {status.count('risk.approved')} rejected {status.count('risk.rejected')}"
            f" | orders {status.count('order.submitted')} fills {status.count('order.filled')}"
            f" | {positions} | P&L {pnl:+,.2f}"
            + (f" | restarts {status.restarts}" if status.restarts else "")
        )
        + (  # a halt (an alarm: contradictory fill, changed account) stays in sight with its reason
            f" | {status.trading_state.upper()}: {status.trading_state_reason}"
            if status.trading_state != "active"
            else ""
        )
        + _format_stalls(status)
    )


def _format_stalls(status: RunStatus) -> str:
    # the liveness watchdog: a channel whose publisher is stuck now, and how many stalls so far
    if status.stalled:
        stuck = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in sorted(status.stalled.items()))
        return f" | STALLED {stuck} (stalls {status.stalls})"
    return f" | stalls {status.stalls}" if status.stalls else ""


def _print_summary(summary: RunSummary, out: TextIO) -> None:
    st = summary.status
    print(f"\npyrt run stopped after {st.elapsed:.1f} s", file=out)
    print("messages published:", file=out)
    for topic, n in sorted(st.published_by_topic.items()):
        print(f"  {topic:<20} {n:>10,}", file=out)
    print(
        f"signals {st.count('signal.generated')}, approved {st.count('risk.approved')}, "
        f"rejected {st.count('risk.rejected')}, orders {st.count('order.submitted')}, "
        f"fills {st.count('order.filled')}, order rejections {st.count('order.rejected')}, "
        f"actor restarts {st.restarts}, trading state {st.trading_state}",
        file=out,
    )
    if st.positions:
        print(
            f"  {'symbol':<10} {'qty':>10} {'avg price':>12} {'last':>12} {'realized':>12} {'unrealized':>12}",
            file=out,
        )
        for p in st.positions:
            last = f"{p.last_price:,.4f}" if p.last_price is not None else "-"
            print(
                f"  {p.symbol:<10} {p.quantity:>10g} {p.avg_price:>12,.4f} {last:>12} "
                f"{p.realized_pnl:>+12,.2f} {p.unrealized_pnl:>+12,.2f}",
                file=out,
            )
    print(
        f"P&L: realized {st.realized_pnl:+,.2f}, unrealized {st.unrealized_pnl:+,.2f}, "
        f"total {st.realized_pnl + st.unrealized_pnl:+,.2f}; equity {st.equity:,.2f}",
        file=out,
    )
    print(f"journal: {summary.journal_path} ({summary.journal_records:,} records)", file=out)
    print(f"  show it with: pyrt journal show {summary.journal_path}", file=out)


async def _run_until_signal(args: argparse.Namespace) -> int:
    from .modes.live import run_live

    config = load_config(args.config, overrides=_overrides(args), check_strategy=_check_strategy)
    if args.live and not args.confirm_live:
        raise ConfigError(
            ["--live sends real orders with real money to Alpaca: add --confirm-live to mean it"],
            source="command line",
        )
    if args.journal is not None and args.journal.exists() and not args.overwrite:
        # before any venue or store is touched; a CLI user gets a flag, not a Python keyword
        raise JournalError(
            f"{args.journal} already exists; add --overwrite to replace it, or choose another --journal"
        )
    out = sys.stdout
    summary: RunSummary | None = None

    def started(path: Path, venue: str) -> None:
        print(
            f"pyrt run: venue {venue}, symbols {','.join(config.symbols)}, journal {path}",
            file=out,
        )
        limits = attrs.asdict(config.risk)
        shown = ", ".join(
            f"{k} {v:g}" for k, v in limits.items() if isinstance(v, int | float) and not isinstance(v, bool)
        )
        print(f"risk limits: {shown}", file=out)
        if args.duration is None:
            print("press Ctrl-C to stop (pyrt status / pyrt halt from another shell)", file=out)
        out.flush()

    def on_status(status: RunStatus) -> None:
        print(_format_status(status), file=out, flush=True)

    stop = trio.Event()
    send_command, commands = trio.open_memory_channel[ControlRequest](16)
    async with trio.open_nursery() as nursery:

        async def on_signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) as signals:
                async for signum in signals:
                    if signum == signal.SIGUSR1:
                        print("SIGUSR1: halting new orders (kill switch)", file=out, flush=True)
                        await send_command.send(ControlRequest(command="halt", reason="SIGUSR1 kill switch"))
                        continue
                    print(f"\n{signal.Signals(signum).name}: stopping", file=out, flush=True)
                    stop.set()
                    return

        nursery.start_soon(on_signals)
        summary = await run_live(
            config,
            journal_path=args.journal,
            duration=args.duration,
            on_status=None if args.quiet else on_status,
            on_started=started,
            stop=stop,
            live=args.live,
            commands=commands,
            overwrite=args.overwrite,
        )
        nursery.cancel_scope.cancel()
    if summary is None:  # pragma: no cover - cancelled before the tree returned
        return EXIT_OK
    _print_summary(summary, out)
    return EXIT_OK


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        return trio.run(_run_until_signal, args)
    except (ConfigError, SupervisionError, JournalError, ControlError, ExceptionGroup) as exc:
        leaves = _leaves(exc)
        if not all(
            isinstance(e, ConfigError | SupervisionError | JournalError | ControlError) for e in leaves
        ):
            raise
    code = EXIT_FAILED
    for leaf in leaves:
        if isinstance(leaf, ConfigError):
            print(f"pyrt: {leaf}", file=sys.stderr)
            code = EXIT_USAGE
        elif isinstance(leaf, ControlError):
            print(f"pyrt: {leaf}", file=sys.stderr)
        elif isinstance(leaf, SupervisionError):
            cause = f" (last error: {leaf.__cause__!r})" if leaf.__cause__ is not None else ""
            print(f"pyrt: the supervision tree stopped: {leaf}{cause}", file=sys.stderr)
        else:
            print(f"pyrt: journal: {leaf}", file=sys.stderr)
    return code


def _cmd_journal_show(args: argparse.Namespace) -> int:
    from .runtime.journal import iter_json_lines

    out = sys.stdout.buffer
    prefix = args.topic.encode()
    tail: bytes | None = None
    try:
        for line in iter_json_lines(args.file):
            if line.startswith(b'{"journal":"torn_tail"'):
                tail = line.strip()
            if prefix and b'"topic":"' + prefix not in line:
                continue
            out.write(line if line.endswith(b"\n") else line + b"\n")
        out.flush()
    except (JournalError, DecodeError) as exc:
        print(f"pyrt: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    if tail is not None:
        print(f"pyrt: torn tail ignored: {tail.decode()}", file=sys.stderr)
    return EXIT_OK


def _cmd_control(args: argparse.Namespace) -> int:
    from .modes.live import control_socket_path

    try:
        path = args.socket or control_socket_path(load_config(args.config))
        reply = send_command(
            path,
            args.command,
            reason=getattr(args, "reason", None),
            cancel_orders=getattr(args, "cancel_orders", False),
        )
    except (ControlError, ConfigError) as exc:
        print(f"pyrt {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    reply.pop("ok", None)
    if args.json:
        print(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_control_reply(reply), end="")
    return EXIT_OK


def _money(value: object) -> str:
    return f"{value:+,.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _price(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def format_control_reply(reply: dict[str, object]) -> str:
    """Render a control reply (``pyrt status`` and the others) as a table for people.

    Prices and P&L have 2 decimals, quantities as few digits as they need; ``--json`` gives
    the reply itself.
    """
    lines = [f"trading state: {reply.get('state', '?')}"]
    reason = reply.get("state_reason")
    if reason:
        lines[0] += f" ({reason})"
    if reply.get("applied") is False:
        lines.append("warning: the command was not applied yet (is the risk actor restarting?)")
    positions = reply.get("positions")
    if isinstance(positions, dict) and positions:
        lines.append(
            f"  {'symbol':<10} {'qty':>10} {'avg price':>12} {'last':>12} {'realized':>12} {'unrealized':>12}"
        )
        for symbol, pos in sorted(positions.items()):
            if not isinstance(pos, dict):
                continue
            qty = pos.get("quantity")
            lines.append(
                f"  {symbol:<10} {_plain(qty):>10} {_price(pos.get('avg_price')):>12} "
                f"{_price(pos.get('last_price')):>12} {_money(pos.get('realized_pnl')):>12} "
                f"{_money(pos.get('unrealized_pnl')):>12}"
            )
    else:
        lines.append("positions: none")
    lines.append(
        f"P&L: realized {_money(reply.get('realized_pnl'))}, unrealized {_money(reply.get('unrealized_pnl'))}; "
        f"equity {_price(reply.get('equity'))}"
    )
    limits = reply.get("limits")
    if isinstance(limits, dict):
        lines.append("limits: " + ", ".join(f"{key} {_plain(value)}" for key, value in limits.items()))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pyrt`` command line; return the exit code."""
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "venue":
        args.venue_args = extra  # the venue parses its own flags
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "run":
        try:
            return _cmd_run(args)
        except ConfigError as exc:
            print(f"pyrt: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "journal":
        return _cmd_journal_show(args)
    if args.command == "venue":
        from .venues.local import run_venue_cli

        logging.getLogger("pyrt.venues.local").setLevel(min(level, logging.INFO))  # show its URLs
        return run_venue_cli(args.venue_args)
    if args.command in ("halt", "reduce", "resume", "status"):
        return _cmd_control(args)
    if args.command == "version":
        from .modes.live import pyrt_version

        print(pyrt_version())
        return EXIT_OK
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse requires one
    return EXIT_USAGE  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
