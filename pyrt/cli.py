"""The ``pyrt`` command: flags → config → a mode. The only module that prints or sets up logging."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, TextIO

import attrs
import orjson
import trio
from rich.console import Console

from .config import ParamValue, StrategyConfig, load_config, parse_override
from .control.server import ControlError, ControlRequest, send_command
from .errors import ConfigError, DecodeError, JournalError, SupervisionError
from .modes.tree import RunStatus, RunSummary

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .modes.simulation import SimResult, SimRun

__all__ = ["format_control_reply", "main", "parse_duration"]

logger = logging.getLogger("pyrt.cli")

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def parse_duration(text: str) -> float:
    """Parse ``"30s"``, ``"2m"``, ``"6h30m"``, ``"500ms"`` or plain seconds into seconds.

    Raises:
        ValueError: anything else, or zero.
    """
    from .modes.simulation import parse_duration as parse

    return parse(text)


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _int_arg(flag: str, *, minimum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number, was {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be >= {minimum}, was {value}")
        return value

    return parse


class _OneLineParser(argparse.ArgumentParser):
    # pyrt sim's bad flags get one line, not the usage block: the flag, what it takes, what it got
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


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

    sim = sub.add_parser(
        "sim",
        help="the whole tree on virtual time against a simulated venue, seeded faults, invariants checked",
    )
    sim.__class__ = _OneLineParser
    sim.add_argument(
        "--seed", type=_int_arg("--seed"), help="the run's seed (default 1; the first seed of a swarm)"
    )
    sim.add_argument(
        "--duration", type=_duration_arg, help="virtual time to simulate, e.g. 90s, 6h30m (default 5m)"
    )
    sim.add_argument("--symbols", help="comma-separated symbols, e.g. AAPL,MSFT")
    sim.add_argument("--strategy", help="built-in name (sma_crossover) or import path package.module:Class")
    sim.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter (repeatable)"
    )
    sim.add_argument(
        "--faults",
        default="default",
        help="fault profile: none, default, harsh or FILE.json like specs/faults/*.json (default: default)",
    )
    sim.add_argument("--venue", default="sim", choices=("sim", "local"), help="sim (default) or local")
    sim.add_argument(
        "--journal", type=Path, help="journal file (default data_dir/journals/sim-seed<N>.pyrtj)"
    )
    sim.add_argument("--config", type=Path, help="JSON config file (see examples/config.json)")
    sim.add_argument(
        "--scenario", type=Path, help="replay a scenario file (specs/scenarios/*.json, or a shrunk one)"
    )
    sim.add_argument("--swarm", type=_int_arg("--swarm", minimum=1), metavar="N", help="run N seeds")
    sim.add_argument(
        "--jobs", type=_int_arg("--jobs", minimum=1), help="worker processes of a swarm (default: the CPUs)"
    )
    sim.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT", help="run the swarm on this Dask cluster")
    sim.add_argument(
        "--shrink",
        type=Path,
        metavar="DIR",
        help="shrink each failing seed and write its minimal scenario into DIR",
    )
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging (-vv for debug)"
    )

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


# ---------------------------------------------------------------------- pyrt sim


def _sim_run(args: argparse.Namespace) -> SimRun:
    from .modes.simulation import SimRun
    from .swarm import load_scenario

    if args.scenario is not None:
        given = [
            flag for flag in ("seed", "duration", "symbols", "strategy") if getattr(args, flag) is not None
        ]
        if given or args.param:
            raise ConfigError(
                [f"--scenario sets the run: drop --{', --'.join(given or ['param'])}"], source="command line"
            )
        run = load_scenario(args.scenario).run
        run.check()
        return run
    params: dict[str, ParamValue] = {}
    for item in args.param:
        key, value = parse_override(item)
        if not isinstance(value, str | bool | int | float):
            raise ConfigError([f"--param {item}: must be a string, number or boolean"], source="command line")
        params[key] = value
    symbols = None
    if args.symbols is not None:
        symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    run = SimRun(
        seed=args.seed if args.seed is not None else 1,
        duration=args.duration if args.duration is not None else 300.0,
        symbols=symbols,
        strategy=args.strategy,
        params=params,
        faults=args.faults,
        venue=args.venue,
        config_path=args.config,
    )
    problems = _check_strategy(run.config().strategy)
    if problems:
        raise ConfigError(problems, source="command line")
    run.check()  # a bad profile or venue fails before anything runs
    return run


def _fmt_faults(faults: Mapping[str, int]) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in faults.items()) or "none"


def _print_violation(result: SimResult, out: TextIO) -> None:
    from .modes.simulation import format_duration

    violation = result.violation
    assert violation is not None
    when = format_duration(violation.at_seconds) if violation.at_seconds > 0 else "0s"
    print(
        f"INVARIANT VIOLATED: {violation.invariant} at {violation.at_seconds:.3f} s virtual ({when})",
        file=out,
    )
    print(f"  {violation.message}", file=out)
    if violation.recent:
        print("last events before it:", file=out)
        for event in violation.recent:
            print(f"  {event}", file=out)
    print(f"reproduce with: {result.command_line}", file=out)


def _print_sim_summary(result: SimResult, out: TextIO) -> None:
    from .modes.simulation import RUNNER_KINDS, format_duration

    virtual = result.virtual_seconds
    shown = format_duration(virtual) if virtual > 0 else "0s"
    print(
        f"virtual time {shown} ({virtual:,.1f} s) in {result.wall_seconds:.2f} s wall: "
        f"{result.compression:,.0f}x real time",
        file=out,
    )
    print(
        f"events {result.events:,} | orders {result.orders:,} | fills {result.fills:,} | P&L {result.pnl:+,.2f}",
        file=out,
    )
    print(f"faults injected: {_fmt_faults(result.faults_by_kind)}", file=out)
    skipped = result.schedule.filter(lambda event: event.kind in RUNNER_KINDS).counts()
    if skipped:  # the runner does not execute its own kinds yet: say so rather than count them
        print(f"faults drawn, not executed by the runner yet: {_fmt_faults(skipped)}", file=out)
    held = "all held" if result.violation is None else f"{result.violation.invariant} broken"
    print(f"invariant checks: {result.checks:,}, {held}", file=out)
    print(f"journal: {result.journal_path}", file=out)


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        run = _sim_run(args)
        if args.swarm is not None:
            return _cmd_swarm(args, run)
        if args.jobs is not None or args.dask_scheduler is not None:
            raise ConfigError(["--jobs and --dask-scheduler go with --swarm N"], source="command line")
        return _cmd_sim_one(args, run)
    except ConfigError as exc:
        if len(exc.errors) == 1:
            print(f"pyrt sim: {exc.errors[0]}", file=sys.stderr)
        else:
            print(f"pyrt sim: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _cmd_sim_one(args: argparse.Namespace, run: SimRun) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .modes.simulation import format_duration, run_sim
    from .runtime.clock import WallClock

    out = sys.stdout
    config = run.config()
    path = args.journal or config.run.data_dir / "journals" / f"sim-seed{run.seed}.pyrtj"
    symbols = ",".join(config.symbols)
    source = f"scenario {args.scenario}" if args.scenario is not None else f"faults {run.faults}"
    print(
        f"pyrt sim: seed {run.seed}, symbols {symbols}, {format_duration(run.duration)} virtual, "
        f"{source}, venue {run.venue}",
        file=out,
        flush=True,
    )
    wall = WallClock()
    started = wall.now_ns()
    progress: Progress | None = None
    task = None
    last_refresh = 0

    def on_progress(elapsed: float) -> None:
        # a bar only on runs longer than a second of wall time, redrawn at most 10 times a second
        nonlocal progress, task, last_refresh
        now = wall.now_ns()
        if args.quiet or now - started < 1_000_000_000:
            return
        if progress is None:
            progress = Progress(
                TextColumn("[bold]simulating"),
                BarColumn(),
                TextColumn("{task.completed:,.0f} / {task.total:,.0f} virtual s"),
                TimeElapsedColumn(),
                auto_refresh=False,
                transient=True,
                console=Console(file=sys.stderr),
            )
            progress.start()
            task = progress.add_task("sim", total=run.duration)
        if task is not None and now - last_refresh >= 100_000_000:
            last_refresh = now
            progress.update(task, completed=elapsed)
            progress.refresh()

    try:
        result = run_sim(run, journal_path=path, on_progress=on_progress)
    finally:
        if progress is not None:
            progress.stop()
    _print_sim_summary(result, out)
    if result.violation is not None:
        _print_violation(result, out)
        if args.shrink is not None:
            _shrink_and_write(result, args.shrink, out)
        return EXIT_FAILED
    return EXIT_OK


def _shrink_and_write(result: SimResult, directory: Path, out: TextIO) -> None:
    from .swarm import shrink, write_scenario

    assert result.violation is not None
    print(f"shrinking seed {result.run.seed} ({result.violation.invariant}) ...", file=out, flush=True)
    shrunk = shrink(result)
    path = directory / f"shrunk-seed{result.run.seed}-{result.violation.invariant}.json"
    write_scenario(
        path,
        shrunk.run,
        name=f"shrunk-seed{result.run.seed}",
        description=f"seed {result.run.seed} shrunk: {result.violation.message}",
        expect=result.violation.invariant,
    )
    schedule = shrunk.run.fault_schedule()
    print(
        f"  minimal: {len(schedule)} fault event(s) {', '.join(schedule.counts()) or '(none)'}, "
        f"{shrunk.run.duration:g} s, symbols {','.join(shrunk.result.symbols)} ({shrunk.tries} tries)",
        file=out,
    )
    print(f"  scenario: {path}", file=out)
    print(f"  replay with: pyrt sim --scenario {path}", file=out)


def _cmd_swarm(args: argparse.Namespace, base: SimRun) -> int:
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .modes.simulation import format_duration
    from .runtime.clock import WallClock
    from .swarm import run_swarm, run_swarm_dask, swarm_runs

    out = sys.stdout
    if args.jobs is not None and args.dask_scheduler is not None:
        raise ConfigError(["--jobs and --dask-scheduler exclude each other"], source="command line")
    if args.journal is not None:
        raise ConfigError(
            ["a swarm keeps failing seeds' journals under data_dir/swarm: drop --journal"],
            source="command line",
        )
    runs = swarm_runs(base, args.swarm, first_seed=base.seed)
    journal_dir = base.config().run.data_dir / "swarm"
    jobs = args.jobs or os.cpu_count() or 1
    where = f"Dask at {args.dask_scheduler}" if args.dask_scheduler else f"{jobs} process(es)"
    print(
        f"pyrt sim --swarm: seeds {runs[0].seed}..{runs[-1].seed}, {format_duration(base.duration)} each, "
        f"faults {base.faults}, venue {base.venue}, on {where}",
        file=out,
        flush=True,
    )
    wall = WallClock()
    started = wall.now_ns()
    progress = Progress(
        TextColumn("[bold]seeds"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        transient=True,
        disable=args.quiet,
        console=Console(file=sys.stderr),
    )
    with progress:
        task = progress.add_task("swarm", total=len(runs), failed=0)
        failed = 0

        def on_result(result: SimResult) -> None:
            nonlocal failed
            failed += result.violation is not None
            progress.update(task, advance=1, failed=failed)

        if args.dask_scheduler is not None:
            report = run_swarm_dask(
                runs, scheduler=args.dask_scheduler, journal_dir=journal_dir, on_result=on_result
            )
        else:
            report = run_swarm(runs, journal_dir=journal_dir, jobs=jobs, on_result=on_result)
    seconds = (wall.now_ns() - started) / 1e9
    print(
        f"seeds run {report.seeds:,} | events {report.events:,} | virtual hours {report.virtual_hours:,.2f} "
        f"| invariant checks {report.checks:,} | wall {seconds:.1f} s",
        file=out,
    )
    print(f"faults by kind: {_fmt_faults(report.faults_by_kind)}", file=out)
    failures = report.failures
    print(f"violations: {len(failures)}", file=out)
    for result in failures:
        violation = result.violation
        assert violation is not None
        print(
            f"  seed {result.run.seed}: {violation.invariant} at {violation.at_seconds:.3f} s: {violation.message}",
            file=out,
        )
        print(f"    reproduce: {result.command_line}", file=out)
        print(f"    journal: {result.journal_path}", file=out)
    if args.shrink is not None:
        for result in failures:
            _shrink_and_write(result, args.shrink, out)
    return EXIT_FAILED if failures else EXIT_OK


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
    if args.command == "sim":
        # a simulation's faults make retries and warnings by design: the summary says what matters
        pyrt_logger = logging.getLogger("pyrt")
        before = pyrt_logger.level
        pyrt_logger.setLevel(
            (logging.CRITICAL, logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 3)]
        )
        try:
            return _cmd_sim(args)
        finally:
            pyrt_logger.setLevel(before)  # main() called in-process (tests) leaves logging as it was
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
