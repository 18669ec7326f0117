"""Run many seeds: a local process pool, or a Dask cluster beyond one machine.

Each seed is a whole :class:`~pyrt.modes.simulation.SimRun` in a process of its own (its own trio
run, MockClock and seeded scheduler), drawing its own fault mix from the profile (swarm testing).
The results come back as :class:`~pyrt.modes.simulation.SimResult` values, summed up in a
:class:`SwarmReport`; the journal of a passing seed is deleted, a failing one's kept.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

import attrs

from ..errors import ConfigError
from ..modes.simulation import SimResult, SimRun, run_sim

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DASK_MISSING", "SwarmReport", "run_one", "run_swarm", "run_swarm_dask", "swarm_runs"]

DASK_MISSING: Final = "--dask-scheduler needs dask.distributed: pip install 'pyrt[dask]'"


@final
@attrs.frozen(kw_only=True)
class SwarmReport:
    """What a swarm did, summed over its seeds."""

    results: tuple[SimResult, ...]
    """One per seed, in seed order."""
    wall_seconds: float = 0.0

    @property
    def seeds(self) -> int:
        return len(self.results)

    @property
    def events(self) -> int:
        return sum(r.events for r in self.results)

    @property
    def virtual_hours(self) -> float:
        return sum(r.virtual_seconds for r in self.results) / 3600.0

    @property
    def checks(self) -> int:
        return sum(r.checks for r in self.results)

    @property
    def faults_by_kind(self) -> Mapping[str, int]:
        total: collections.Counter[str] = collections.Counter()
        for result in self.results:
            total.update(result.faults_by_kind)
        return dict(sorted(total.items()))

    @property
    def failures(self) -> tuple[SimResult, ...]:
        """The seeds that broke an invariant, in seed order."""
        return tuple(r for r in self.results if r.violation is not None)


def swarm_runs(base: SimRun, count: int, *, first_seed: int = 1) -> list[SimRun]:
    """Return ``count`` runs like ``base`` with seeds ``first_seed`` … (each draws its own faults).

    Raises:
        ValueError: ``count`` below 1.
    """
    if count < 1:
        raise ValueError(f"a swarm needs at least 1 seed, was {count}")
    return [attrs.evolve(base, seed=seed) for seed in range(first_seed, first_seed + count)]


def run_one(run: SimRun, journal_dir: Path, log_level: int = logging.CRITICAL) -> SimResult:
    """Run one seed of a swarm (in a worker process); keep its journal only if it failed.

    ``log_level`` is the ``pyrt`` logger's level in the worker (a swarm's thousands of retries
    and warnings would drown what matters: the results).
    """
    logging.getLogger("pyrt").setLevel(log_level)
    path = journal_dir / f"sim-seed{run.seed}.pyrtj"
    result = run_sim(run, journal_path=path)
    if result.violation is None:
        path.unlink(missing_ok=True)
    return result


def _in_order(results: Iterable[SimResult]) -> tuple[SimResult, ...]:
    return tuple(sorted(results, key=lambda r: r.run.seed))


def run_swarm(
    runs: Sequence[SimRun],
    *,
    journal_dir: Path,
    jobs: int = 2,
    on_result: Callable[[SimResult], None] | None = None,
    initializer: Callable[[], object] | None = None,
) -> SwarmReport:
    """Run ``runs`` on a local pool of ``jobs`` processes (forkserver: no state leaks in).

    Args:
        runs: the seeds to run (see :func:`swarm_runs`).
        journal_dir: where failing seeds' journals stay.
        jobs: worker processes.
        on_result: called in this process as each seed finishes (for a progress bar).
        initializer: called once in each worker before its first seed (an importable function:
            set up a plugin, or, in pyrt's own tests, break the code on purpose).

    Raises:
        ConfigError: a run's config, strategy or faults are bad (checked before any worker starts).
    """
    if jobs < 1:
        raise ConfigError([f"--jobs must be >= 1, was {jobs}"], source="command line")
    for run in runs[:1]:
        run.config()
        run.fault_schedule()
    journal_dir.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("forkserver")
    results: list[SimResult] = []
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=initializer
    ) as pool:
        futures = [pool.submit(run_one, run, journal_dir) for run in runs]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            if on_result is not None:
                on_result(result)
    return SwarmReport(results=_in_order(results))


def run_swarm_dask(
    runs: Sequence[SimRun],
    *,
    scheduler: str,
    journal_dir: Path,
    on_result: Callable[[SimResult], None] | None = None,
) -> SwarmReport:
    """Run ``runs`` on the Dask cluster whose scheduler is at ``scheduler`` (``tcp://host:port``).

    Every worker must be able to import pyrt and write to ``journal_dir`` (a shared folder, or
    each machine's own: failing journals stay where their seed ran).

    Raises:
        ConfigError: dask.distributed is not installed (``pip install 'pyrt[dask]'``), or a bad run.
    """
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise ConfigError([DASK_MISSING], source="command line") from exc
    for run in runs[:1]:
        run.config()
        run.fault_schedule()
    journal_dir.mkdir(parents=True, exist_ok=True)
    results: list[SimResult] = []
    with Client(scheduler) as client:  # type: ignore[no-untyped-call]  # dask ships no annotations here
        # pure=False: two equal runs are still two runs (and the keys stay readable)
        futures = [
            client.submit(run_one, run, journal_dir, key=f"pyrt-sim-seed{run.seed}", pure=False)
            for run in runs
        ]
        for future in as_completed(futures):  # type: ignore[no-untyped-call]  # as above
            result = future.result()
            if not isinstance(result, SimResult):  # pragma: no cover - a worker of another pyrt
                raise TypeError(f"a Dask worker returned {type(result).__name__}, expected SimResult")
            results.append(result)
            if on_result is not None:
                on_result(result)
    return SwarmReport(results=_in_order(results))
