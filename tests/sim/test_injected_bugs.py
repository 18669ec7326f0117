"""Issue 10's deliberately injected bugs: a small swarm finds each, and its seed reproduces it.

The swarm runs on worker processes, each broken by ``tests.sim.bugs`` as its initializer; the
reproduction runs here, broken the same way through ``monkeypatch``, from the seed alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pyrt.modes.simulation import SimRun, run_sim
from pyrt.swarm import run_swarm, swarm_runs

from . import bugs

LOST_REPLIES = (
    '{"name": "lost-replies", "faults": {'
    '"ambiguous_timeout": {"rate_per_hour": 600.0, "count": 1}, '
    '"update_delay": {"rate_per_hour": 240.0, "seconds": 20.0, "delay": 3.0}, '
    '"md_gap": {"rate_per_hour": 60.0, "seconds": 2.0}}}'
)


def _profile(tmp_path: Path) -> str:
    path = tmp_path / "lost-replies.json"
    path.write_text(LOST_REPLIES)
    return str(path)


CASES: dict[str, tuple[Callable[[Path], SimRun], Callable[[], None], int, str]] = {
    # name: (the swarm's base run, the worker initializer, seeds, the invariant that must break)
    "resubmit-after-ambiguous-timeout-without-lookup": (
        lambda tmp: SimRun(duration=120.0, faults=_profile(tmp)),
        bugs.inject_resubmit,
        16,
        "S1",
    ),
    "drop-a-fill-whose-execution-id-was-seen": (
        lambda tmp: SimRun(duration=60.0, faults="none", params={"quantity": 400}),
        bugs.inject_dropfill,
        6,
        "S2",
    ),
    "blocking-cycle-between-two-actors": (
        lambda tmp: SimRun(duration=120.0, faults="none"),
        bugs.inject_cycle,
        4,
        "L3",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_small_swarm_catches_injected_bug_and_its_seed_reproduces_it(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, inject, seeds, invariant = CASES[name]
    report = run_swarm(
        swarm_runs(base(tmp_path), seeds), journal_dir=tmp_path / "swarm", jobs=2, initializer=inject
    )

    caught = [r for r in report.failures if r.violation is not None and r.violation.invariant == invariant]
    assert caught, f"{name}: no seed of {seeds} broke {invariant}: {[r.violation for r in report.failures]}"
    first = caught[0]
    assert first.journal_path.exists()  # a failing seed keeps its journal
    for owner, attribute, replacement in bugs.PATCHES[_key(name)]:
        monkeypatch.setattr(owner, attribute, replacement)

    again = run_sim(first.run, journal_path=tmp_path / "again.pyrtj")

    assert again.violation is not None
    assert first.violation is not None
    assert (again.violation.invariant, again.violation.at_seconds, again.violation.message) == (
        first.violation.invariant,
        first.violation.at_seconds,
        first.violation.message,
    )
    assert again.journal_path.read_bytes() == first.journal_path.read_bytes()


def _key(name: str) -> str:
    return {"resubmit": "resubmit", "drop": "dropfill", "blocking": "cycle"}[name.split("-")[0]]


@pytest.mark.slow
def test_the_same_swarm_on_the_real_code_finds_nothing(tmp_path: Path) -> None:
    runs = swarm_runs(SimRun(duration=120.0, faults=_profile(tmp_path)), 16)

    report = run_swarm(runs, journal_dir=tmp_path / "swarm", jobs=2)

    assert report.failures == ()
