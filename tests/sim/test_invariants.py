"""The invariants of a simulated run: they hold on the real code, and they catch a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrt.cli import main
from pyrt.faults import FaultEvent, FaultSchedule
from pyrt.messages import ExecutionLedger, ExecutionVerdict
from pyrt.modes.simulation import SimRun, run_sim


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_run_sim_on_the_real_code_holds_every_invariant(tmp_path: Path, seed: int) -> None:
    result = run_sim(SimRun(seed=seed, duration=60.0, faults="harsh"), journal_path=tmp_path / "j.pyrtj")

    assert result.violation is None
    assert result.checks > 300
    assert result.fills > 0
    assert result.virtual_seconds == 60.0


@pytest.mark.slow
def test_same_run_twice_gives_the_same_journal_and_another_seed_does_not(tmp_path: Path) -> None:
    runs = [SimRun(seed=4, duration=30.0, faults="harsh"), SimRun(seed=4, duration=30.0, faults="harsh")]
    runs.append(SimRun(seed=5, duration=30.0, faults="harsh"))

    paths = [run_sim(run, journal_path=tmp_path / f"{i}.pyrtj").journal_path for i, run in enumerate(runs)]

    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


def _ledger_keyed_by_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # the injected bug: a second fill of an order is taken for a redelivery of the first
    original = ExecutionLedger.check

    def check(self: ExecutionLedger, fill):
        seen = self._seen  # the test reaches into the real code to break it
        if fill.execution_id not in seen and any(key[0] == fill.client_order_id for key in seen.values()):
            return ExecutionVerdict.DUPLICATE
        return original(self, fill)

    monkeypatch.setattr(ExecutionLedger, "check", check)


@pytest.mark.slow
def test_a_dropped_fill_stops_the_run_with_s2_its_time_and_the_events_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger_keyed_by_order(monkeypatch)
    run = SimRun(seed=1, duration=60.0, faults="none", params={"quantity": 400})

    result = run_sim(run, journal_path=tmp_path / "j.pyrtj")

    violation = result.violation
    assert violation is not None
    assert violation.invariant == "S2"
    assert "the venue filled 400" in violation.message
    assert 0 < violation.at_seconds < 60.0
    assert result.virtual_seconds == pytest.approx(violation.at_seconds)
    assert any("OrderFilled" in event for event in violation.recent)
    assert result.command_line == "pyrt sim --seed 1 --duration 1m --param quantity=400 --faults none"


def test_fault_schedule_round_trips_through_json() -> None:
    schedule = FaultSchedule(
        events=(
            FaultEvent(
                at=1.0, kind="ambiguous_timeout", seconds=4.5, probability=0.2, params={"scope": "submit"}
            ),
            FaultEvent(at=1.0, kind="update_delay", seconds=4.5, params={"delay": 3.0}),
            FaultEvent(at=2.0, kind="md_gap", seconds=1.0),
        )
    )

    assert FaultSchedule.from_json(schedule.to_json()) == schedule
    assert max(event.end for event in schedule.events) == 5.5
    assert tuple(schedule.counts()) == ("md_gap", "ambiguous_timeout", "update_delay")


@pytest.mark.slow
def test_a_seed_gives_the_same_journal_whatever_the_process_ran_before(tmp_path: Path) -> None:
    # a swarm worker runs many seeds; trio breaks ties between timers by id(), which depends on
    # what the process allocated before, unless scheduling is deterministic (seed_trio_scheduler)
    fresh = run_sim(SimRun(seed=2, duration=20.0, faults="harsh"), journal_path=tmp_path / "fresh.pyrtj")
    run_sim(SimRun(seed=1, duration=30.0, faults="harsh"), journal_path=tmp_path / "other.pyrtj")
    junk = [object() for _ in range(10_000)]  # move the allocator on

    after = run_sim(SimRun(seed=2, duration=20.0, faults="harsh"), journal_path=tmp_path / "after.pyrtj")

    assert junk
    assert after.journal_path.read_bytes() == fresh.journal_path.read_bytes()


def test_the_summary_counts_what_the_venue_injected_and_names_what_the_runner_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "raise.json"
    schedule = FaultSchedule(
        events=(
            FaultEvent(at=1.0, kind="md_stall", seconds=3.0),
            FaultEvent(at=2.0, kind="actor_raise", params={"target": "risk"}),
        )
    )
    scenario.write_text(f'{{"seed": 1, "duration": "10s", "faults": {schedule.to_json()}, "expect": "pass"}}')

    code = main(["sim", "--scenario", str(scenario), "--journal", str(tmp_path / "j.pyrtj")])

    out = capsys.readouterr().out
    assert code == 0
    assert "faults injected: md_stall 1\n" in out
    assert "faults drawn, not executed by the runner yet: actor_raise 1\n" in out
