"""Shrink a failing seed to a minimal scenario: fewer faults, a shorter run, fewer symbols.

What it reduces is the run's :class:`~pyrt.faults.FaultSchedule`: it cuts the run (and the
schedule, :meth:`~pyrt.faults.FaultSchedule.until`) just past the violation, drops a whole kind,
half the events, then single events, then a symbol. The same seed keeps the same market and venue
(the schedule draws from generators of its own),
so each reduction changes only what it removes. A candidate is kept when it still breaks the same
invariant; the result is written as a scenario file that ``pyrt sim --scenario FILE`` replays.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import final

import attrs

from ..errors import ConfigError
from ..faults import FaultKind, FaultSchedule
from ..modes.simulation import SimResult, SimRun, run_sim

__all__ = ["ShrinkResult", "shrink"]


@final
@attrs.frozen(kw_only=True)
class ShrinkResult:
    """The smallest failing run found, and how many runs it took."""

    run: SimRun
    """The minimal run, its schedule explicit."""
    result: SimResult
    """What it did: the same invariant broken."""
    tries: int
    """Candidate runs made."""


def _without_kind(schedule: FaultSchedule, kind: FaultKind) -> FaultSchedule:
    return schedule.filter(lambda event: event.kind is not kind)


def _candidates(run: SimRun, symbols: tuple[str, ...], at: float) -> Iterator[SimRun]:
    schedule = run.fault_schedule()
    # a shorter run: just past the violation (the run before it is the same)
    short = float(math.ceil(at)) + 1.0
    if short < run.duration:
        yield attrs.evolve(run, duration=short, schedule=schedule.until(short))
    kinds = [FaultKind(name) for name in schedule.counts()]
    if len(kinds) > 1:  # fewer faults: drop a whole kind
        for kind in kinds:
            yield attrs.evolve(run, schedule=_without_kind(schedule, kind))
    events = schedule.events
    if len(events) > 3:  # half the events, each half in turn
        half = len(events) // 2
        yield attrs.evolve(run, schedule=attrs.evolve(schedule, events=events[half:]))
        yield attrs.evolve(run, schedule=attrs.evolve(schedule, events=events[:half]))
    for i in range(len(events)):  # one event fewer
        yield attrs.evolve(run, schedule=schedule.without(i))
    if len(symbols) > 1:  # fewer symbols
        for symbol in symbols:
            yield attrs.evolve(run, symbols=tuple(s for s in symbols if s != symbol))


def shrink(
    failure: SimResult,
    *,
    max_tries: int = 60,
    journal_dir: Path | None = None,
    on_try: Callable[[SimRun, bool], None] | None = None,
) -> ShrinkResult:
    """Reduce a failing run while it still breaks the same invariant (greedy, first success wins).

    Args:
        failure: a result with a violation.
        max_tries: candidate runs at most.
        journal_dir: where candidates' journals go (a temporary folder by default).
        on_try: told of each candidate and whether it still failed.

    Raises:
        ValueError: ``failure`` broke nothing.
    """
    violation = failure.violation
    if violation is None:
        raise ValueError(f"seed {failure.run.seed} broke no invariant: nothing to shrink")
    target = violation.invariant
    best = attrs.evolve(failure.run, schedule=failure.schedule, symbols=failure.symbols, scenario=None)
    best_result = failure
    tries = 0
    with tempfile.TemporaryDirectory(prefix="pyrt-shrink-") as tmp:
        where = journal_dir if journal_dir is not None else Path(tmp)
        improved = True
        while improved and tries < max_tries:
            improved = False
            assert best_result.violation is not None
            for candidate in _candidates(best, best_result.symbols, best_result.violation.at_seconds):
                if tries >= max_tries:
                    break
                tries += 1
                try:
                    result = run_sim(candidate, journal_path=where / "shrink.pyrtj")
                except ConfigError:
                    continue  # e.g. a strategy that needs the symbol removed
                still = result.violation is not None and result.violation.invariant == target
                if on_try is not None:
                    on_try(candidate, still)
                if still:
                    best, best_result, improved = candidate, result, True
                    break
        final = run_sim(best, journal_path=where / "shrink.pyrtj") if journal_dir is None else best_result
    return ShrinkResult(run=best, result=attrs.evolve(final, journal_path=failure.journal_path), tries=tries)
