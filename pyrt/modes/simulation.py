"""Simulation mode: the whole tree on virtual time against a simulated venue, reproducible by seed.

:func:`simulate` / :func:`run_simulation` run the tree against the in-process :class:`SimVenue`
(same config and seed → the same journal, byte for byte). :func:`run_sim` is what ``pyrt sim``
and the swarm run: a :class:`SimRun` (seed, duration, symbols, strategy, fault profile or an
explicit :class:`~pyrt.faults.FaultSchedule`, scheduled operator commands) on a seeded
MockClock, watched by an :class:`~pyrt.modes.invariants.InvariantMonitor`, returning a
:class:`SimResult` with the figures and, on a violation, the invariant, its time, the events
before it and the one command that reproduces it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, final

import attrs
import orjson
import trio
import trio.testing

from ..config import ParamValue, PyrtConfig, config_to_dict, load_config
from ..errors import ConfigError, InvariantViolation, SupervisionError
from ..faults import PROFILES_DIR, FaultEvent, FaultKind, FaultProfile, FaultSchedule
from ..messages import ControlCommand
from ..runtime.clock import NS_PER_SECOND, VirtualClock, WallClock, make_rng, seed_trio_scheduler
from ..runtime.journal import JournalWriter
from ..strategy import Strategy
from ..venues.sim.venue import SimVenue
from .invariants import InvariantMonitor, LivenessBounds, ObservedBroker, SimBooks, VenueBooks, Violation
from .live import pyrt_version
from .tree import RunStatus, RunSummary, TradingTree

if TYPE_CHECKING:
    from ..venues import Broker, MarketDataFeed

__all__ = [
    "DEFAULT_START_NS",
    "FAULTS_UNTIL",
    "RUNNER_KINDS",
    "VENUES",
    "ScheduledCommand",
    "SimResult",
    "SimRun",
    "format_duration",
    "parse_duration",
    "run_sim",
    "run_simulation",
    "simulate",
    "simulate_run",
]

DEFAULT_START_NS: Final = 1_767_312_000 * NS_PER_SECOND  # 2026-01-02T00:00:00Z
VENUES: Final = ("sim", "local")
FAULTS_UNTIL: Final = 0.6
"""A drawn schedule keeps the events that start within this fraction of the run; the rest is
calm, so liveness is checked after the faults stop (as TigerBeetle does)."""
RUNNER_KINDS: Final = frozenset({FaultKind.STRATEGY_RAISE, FaultKind.ACTOR_RAISE, FaultKind.PROCESS_CRASH})
"""Kinds the ``pyrt sim`` runner would execute itself; it does not yet, so a schedule's events of
these kinds are kept (and shrunk, and written) but not injected, and never counted."""
_INSTANT_KINDS: Final = frozenset({FaultKind.MD_DISCONNECT, FaultKind.CONNECTION_RESET})
_LOCAL_NOT_WIRED: Final = (
    "--venue local: not wired yet; it comes with the simulated network of issue 10 (pyrt.venues.simnet)"
)


async def simulate(
    config: PyrtConfig,
    *,
    journal_path: Path,
    duration: float,
    start_ns: int = DEFAULT_START_NS,
    strategy_factory: Callable[[], Strategy] | None = None,
    tick_interval: float = 0.1,
) -> RunSummary:
    """Run the tree for ``duration`` virtual seconds; call inside a run on a ``MockClock``.

    Same config (seed included) and same start: the same journal, byte for byte.
    """
    clock = VirtualClock(start_ns)
    rng = make_rng(config.run.seed)
    venue = SimVenue(
        config.symbols,
        clock=clock,
        rng=rng,
        tick_interval=tick_interval,
        starting_cash=config.risk.starting_cash,
    )
    metadata: dict[str, object] = {
        "pyrt_version": pyrt_version(),
        "mode": "simulation",
        "venue": "sim",
        "seed": config.run.seed,
        "start_ns": start_ns,
        "duration": duration,
        "config": config_to_dict(config),
    }
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    with JournalWriter.create(journal_path, metadata=metadata) as journal:
        tree = TradingTree(
            config,
            feed=venue,
            broker=venue,
            clock=clock,
            rng=rng,
            journal=journal,
            strategy_factory=strategy_factory,
            virtual_time=True,
        )
        return await tree.run(duration=duration)


def run_simulation(
    config: PyrtConfig,
    *,
    journal_path: Path,
    duration: float,
    start_ns: int = DEFAULT_START_NS,
    strategy_factory: Callable[[], Strategy] | None = None,
) -> RunSummary:
    """Run :func:`simulate` in its own trio run, on an autojumping ``MockClock``, seeded.

    Raises:
        pyrt.errors.SupervisionError: an actor crashed past the restart intensity.
    """
    seed_trio_scheduler(config.run.seed)
    return trio.run(
        functools.partial(
            simulate,
            config,
            journal_path=journal_path,
            duration=duration,
            start_ns=start_ns,
            strategy_factory=strategy_factory,
        ),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


# ---------------------------------------------------------------------- pyrt sim


_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)?")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Parse ``"30s"``, ``"2m"``, ``"6h30m"``, ``"500ms"`` or plain seconds into seconds.

    Raises:
        ValueError: anything else, or zero.
    """
    compact = text.strip()
    parts = list(_DURATION_PART.finditer(compact))
    if (
        not parts
        or "".join(m.group(0) for m in parts) != compact
        or any(m.group(2) is None for m in parts[:-1])
        or (len(parts) > 1 and parts[-1].group(2) is None)
    ):
        raise ValueError(f"duration must look like 30s, 2m, 6h30m, 500ms or 10, was {text!r}")
    seconds = sum(float(m.group(1)) * _DURATION_UNITS[m.group(2)] for m in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be > 0, was {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Return ``seconds`` the way ``--duration`` takes it: ``90s``, ``2m``, ``6h30m``, ``1.5s``."""
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"duration must be a finite number > 0, was {seconds!r}")
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


@final
@attrs.frozen(kw_only=True)
class ScheduledCommand:
    """An operator command (``halt``, ``reduce``, ``resume``) sent ``at`` seconds into the run."""

    at: float
    command: Literal["halt", "reduce", "resume"]
    reason: str = "scenario"
    cancel_orders: bool = False

    def to_json(self) -> dict[str, object]:
        """Return the command as a scenario file's ``commands`` entry."""
        return attrs.asdict(self)


_PROFILE_ORDER: Final = {"none": 0, "default": 1, "harsh": 2}


def _profile(name_or_path: str) -> FaultProfile:
    # a word that names no shipped profile is a typo of one, not a file: say what --faults takes
    shipped = sorted(
        (path.stem for path in PROFILES_DIR.glob("*.json")),
        key=lambda name: (_PROFILE_ORDER.get(name, 3), name),
    )
    if not (name_or_path.endswith(".json") or "/" in name_or_path or name_or_path in shipped):
        raise ConfigError(
            [f"--faults must be {', '.join(shipped)} or a FILE.json, was {name_or_path!r}"],
            source="command line",
        )
    return FaultProfile.named(name_or_path)


@final
@attrs.frozen(kw_only=True)
class SimRun:
    """One simulated session: everything that decides what it does (so it can be rerun).

    ``faults`` names a profile (``none``, ``default``, ``harsh``) or a JSON file read by
    :meth:`pyrt.faults.FaultProfile.named`; the seed draws its own mix and schedule from it,
    unless ``schedule`` gives it outright (a scenario, a shrunk failure). ``venue`` is ``sim`` (the in-process exchange) or ``local`` (the Alpaca client
    against the embedded venue over a simulated network; not wired yet, see :func:`_open_venue`).
    """

    seed: int = 1
    duration: float = 300.0
    symbols: tuple[str, ...] | None = None
    """``None``: the config's."""
    strategy: str | None = None
    """``None``: the config's."""
    params: Mapping[str, ParamValue] = attrs.field(factory=dict)
    faults: str = "default"
    schedule: FaultSchedule | None = None
    commands: tuple[ScheduledCommand, ...] = ()
    venue: str = "sim"
    config_path: Path | None = None
    scenario: Path | None = None
    """The scenario file this run came from (its reproduction line names it)."""
    bounds: LivenessBounds = attrs.field(factory=LivenessBounds)
    tick_interval: float = 0.1

    def config(self) -> PyrtConfig:
        """Return the run's configuration: the file, then the run's own settings on top.

        Raises:
            ConfigError: a bad file, symbol, strategy or parameter.
        """
        overrides: dict[str, object] = {"run.seed": self.seed}
        if self.symbols is not None:
            overrides["symbols"] = list(self.symbols)
        if self.strategy is not None:
            overrides["strategy.name"] = self.strategy
        for key, value in self.params.items():
            overrides[f"strategy.params.{key}"] = value
        return load_config(self.config_path, env={}, overrides=overrides)

    def fault_schedule(self) -> FaultSchedule:
        """Return the schedule: the explicit one, or the seed's draw from the profile.

        The draw uses generators of its own, seeded from the seed (the mix from one, the
        schedule from a child of it), so the market and the venue of a seed are the same
        whatever the faults (shrinking changes only the faults), and a seed draws the same
        schedule whatever ran before it in the process. Events that start after
        :data:`FAULTS_UNTIL` of the run are left out: the end is calm.

        Raises:
            ConfigError: an unknown profile or a bad profile file.
        """
        if self.schedule is not None:
            return self.schedule
        rng = random.Random(f"faults:{self.seed}")
        mix = _profile(self.faults).draw(rng)
        drawn = mix.schedule(random.Random(rng.getrandbits(64)), self.duration)
        calm = self.duration * FAULTS_UNTIL
        return drawn.filter(lambda event: event.at < calm)

    def check(self) -> None:
        """Check the run before it starts: its config, fault schedule and venue.

        Raises:
            ConfigError: every problem found.
        """
        self.config()
        self.fault_schedule()
        if self.venue not in VENUES:
            raise ConfigError(
                [f"--venue must be one of {', '.join(VENUES)}, was {self.venue!r}"], source="pyrt sim"
            )
        if self.venue != "sim":
            raise ConfigError([_LOCAL_NOT_WIRED], source="pyrt sim")

    def command_line(self) -> str:
        """Return the one command that reproduces this run."""
        if self.scenario is not None:
            return f"pyrt sim --scenario {self.scenario}"
        parts = ["pyrt sim", f"--seed {self.seed}", f"--duration {format_duration(self.duration)}"]
        if self.symbols is not None:
            parts.append(f"--symbols {','.join(self.symbols)}")
        if self.strategy is not None:
            parts.append(f"--strategy {self.strategy}")
        parts += [f"--param {key}={value}" for key, value in sorted(self.params.items())]
        parts.append(f"--faults {self.faults}")
        if self.venue != "sim":
            parts.append(f"--venue {self.venue}")
        if self.config_path is not None:
            parts.append(f"--config {self.config_path}")
        return " ".join(parts)


@final
@attrs.frozen(kw_only=True)
class SimResult:
    """What one simulated session did, and whether every invariant held."""

    run: SimRun
    schedule: FaultSchedule
    """The fault schedule that ran (drawn or given)."""
    violation: Violation | None
    """The first invariant broken, or ``None``."""
    virtual_seconds: float
    wall_seconds: float
    events: int
    """Journal records written (every message of the run)."""
    orders: int
    fills: int
    pnl: float
    """Realized plus unrealized, net of fees."""
    faults_by_kind: Mapping[str, int]
    """Faults the venue injected, by :class:`~pyrt.faults.FaultKind` name (its statistics'
    ``faults_by_kind``); the runner's own kinds (:data:`RUNNER_KINDS`) are not executed yet."""
    checks: int
    """Invariant evaluations made."""
    journal_path: Path
    symbols: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return self.violation is None

    @property
    def compression(self) -> float:
        """Virtual seconds per wall second."""
        return self.virtual_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf

    @property
    def command_line(self) -> str:
        """The one command that reproduces this run."""
        return self.run.command_line()


@final
@attrs.frozen(kw_only=True)
class _VenueParts:
    feed: MarketDataFeed
    broker: Broker
    books: VenueBooks
    faults_by_kind: Callable[[], Mapping[str, int]]


@contextlib.asynccontextmanager
async def _open_venue(
    run: SimRun, config: PyrtConfig, schedule: FaultSchedule, *, clock: VirtualClock, rng: random.Random
) -> AsyncIterator[_VenueParts]:
    # The seam for --venue local (issue 10): the simulated network of pyrt/venues/simnet gives a
    # feed, a broker (the Alpaca client over in-memory streams) and its server's engine as the
    # books; it plugs in here as a second branch
    if run.venue != "sim":
        raise ConfigError(
            [
                f"--venue {run.venue}: only sim is wired so far; local (the simulated network) comes with issue 10"
            ],
            source="pyrt sim",
        )
    venue = SimVenue(
        config.symbols,
        clock=clock,
        rng=rng,
        tick_interval=run.tick_interval,
        starting_cash=config.risk.starting_cash,
        schedule=schedule.filter(lambda event: event.kind not in RUNNER_KINDS),
    )
    await trio.lowlevel.checkpoint()
    yield _VenueParts(
        feed=venue,
        broker=venue,
        books=SimBooks(venue.engine),
        faults_by_kind=lambda: venue.statistics().faults_by_kind,
    )


async def _play_commands(
    commands: Sequence[ScheduledCommand], tree: TradingTree, clock: VirtualClock
) -> None:
    start = clock.monotonic()
    for command in sorted(commands, key=lambda c: c.at):
        await clock.sleep(max(0.0, start + command.at - clock.monotonic()))
        now_ns = clock.now_ns()
        await tree.bus.publish(
            ControlCommand(
                command=command.command,
                reason=command.reason,
                source="operator",
                cancel_orders=command.cancel_orders,
                ts_event=now_ns,
                ts_init=now_ns,
            )
        )


async def _finish(duration: float, monitor: InvariantMonitor, stop: trio.Event, clock: VirtualClock) -> None:
    # the last check runs while the tree still runs, once everything is quiet: stopping it
    # cancels hand-overs half-way, which the books would show as differences
    await clock.sleep(duration)
    await trio.testing.wait_all_tasks_blocked()
    monitor.check(final=True)
    stop.set()


def _fault_end(event: FaultEvent, duration: float) -> float:
    if event.seconds is not None:
        return event.at + event.seconds
    if event.kind is FaultKind.VENUE_RESTART:
        return event.at + event.number("downtime")
    if event.count is not None or event.kind in _INSTANT_KINDS:
        return event.at  # a counted one hits the next opportunities, an instant one happens then
    return duration  # open-ended: the whole run


def _faults_end(schedule: FaultSchedule, duration: float) -> float:
    # when the last fault stops: liveness is measured from here
    ends = (_fault_end(event, duration) for event in schedule.events if event.kind not in RUNNER_KINDS)
    return min(duration, max(ends, default=0.0))


async def simulate_run(
    run: SimRun,
    *,
    journal_path: Path,
    on_progress: Callable[[float], None] | None = None,
    start_ns: int = DEFAULT_START_NS,
) -> SimResult:
    """Run ``run`` watched by the invariants; call inside a trio run on a ``MockClock``.

    A violation stops the run at once; the result carries it (nothing is raised for it).

    Args:
        run: the session.
        journal_path: where the journal goes (replaced if it exists).
        on_progress: called with the virtual seconds elapsed, once a virtual second.
        start_ns: the virtual clock's start.

    Raises:
        ConfigError: a bad config, strategy, fault profile or schedule.
    """
    config = run.config()
    schedule = run.fault_schedule()
    clock = VirtualClock(start_ns)
    rng = make_rng(run.seed)
    metadata: dict[str, object] = {
        "pyrt_version": pyrt_version(),
        "mode": "simulation",
        "venue": run.venue,
        "seed": run.seed,
        "start_ns": start_ns,
        "duration": run.duration,
        "faults": run.faults,
        "fault_schedule": orjson.loads(schedule.to_json()),
        "commands": [c.to_json() for c in run.commands],
        "config": config_to_dict(config),
    }
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    violation: Violation | None = None
    async with _open_venue(run, config, schedule, clock=clock, rng=rng) as parts:
        books = parts.books
        broker = ObservedBroker(parts.broker, books=books, clock=clock)
        with JournalWriter.create(journal_path, metadata=metadata, overwrite=True) as journal:
            tree = TradingTree(
                config,
                feed=parts.feed,
                broker=broker,
                clock=clock,
                rng=rng,
                journal=journal,
                virtual_time=True,
            )
            limits = tree.risk_engine.limits
            monitor = InvariantMonitor(
                tree,
                books,
                clock=clock,
                faults_end=_faults_end(schedule, run.duration),
                bounds=run.bounds,
                allow_short=limits.allow_short,
                max_position_size=limits.max_position_size,
                max_order_size=limits.max_order_size,
                allowed_symbols=config.symbols,
            )
            broker.monitor = monitor

            def on_status(status: RunStatus) -> None:
                if on_progress is not None:
                    on_progress(status.elapsed)

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_play_commands, run.commands, tree, clock)
                    await nursery.start(monitor.run)
                    stop = trio.Event()
                    nursery.start_soon(_finish, run.duration, monitor, stop, clock)
                    await tree.run(stop=stop, on_status=on_status)
                    nursery.cancel_scope.cancel()
            except* InvariantViolation:
                violation = monitor.violation
            except* SupervisionError as group:
                error = group.exceptions[0]
                cause = f" (last error: {error.__cause__!r})" if error.__cause__ is not None else ""
                monitor.note(f"supervision: {error}{cause}")
                with contextlib.suppress(InvariantViolation):
                    monitor.flag("L4", f"the supervision tree stopped: {error}{cause}")
                    monitor.check(final=True)
                violation = monitor.violation
            finally:
                monitor.close()
            summary = tree.summary()
        if violation is None:
            try:
                monitor.journal_check(journal_path, summary.journal_records)
            except InvariantViolation:
                violation = monitor.violation
        status = summary.status
        return SimResult(
            run=run,
            schedule=schedule,
            violation=violation,
            virtual_seconds=round(status.elapsed, 9),
            wall_seconds=0.0,
            events=summary.journal_records,
            orders=status.count("order.submitted"),
            fills=status.count("order.filled"),
            pnl=status.realized_pnl + status.unrealized_pnl,
            faults_by_kind=dict(parts.faults_by_kind()),
            checks=monitor.checks,
            journal_path=journal_path,
            symbols=tuple(config.symbols),
        )


def run_sim(
    run: SimRun,
    *,
    journal_path: Path,
    on_progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Run :func:`simulate_run` in its own trio run on a seeded, autojumping ``MockClock``.

    Same run (seed, schedule, config, code) → the same journal, byte for byte.

    Raises:
        ConfigError: a bad config, strategy, fault profile or schedule.
    """
    wall = WallClock()
    started = wall.now_ns()
    seed_trio_scheduler(run.seed)
    result = trio.run(
        functools.partial(simulate_run, run, journal_path=journal_path, on_progress=on_progress),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    return attrs.evolve(result, wall_seconds=(wall.now_ns() - started) / NS_PER_SECOND)
