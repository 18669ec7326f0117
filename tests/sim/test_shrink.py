"""A failing seed shrunk to a minimal scenario that still fails the same way, and replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrt.cli import main
from pyrt.errors import RateLimited, TransportError
from pyrt.execution.engine import ExecutionEngine
from pyrt.modes.simulation import SimRun, run_sim
from pyrt.swarm import load_scenario, shrink, write_scenario

PROFILE = (
    '{"name": "lost-replies", "faults": {'
    '"ambiguous_timeout": {"rate_per_hour": 600.0, "count": 1}, '
    '"update_delay": {"rate_per_hour": 240.0, "seconds": 20.0, "delay": 3.0}, '
    '"md_gap": {"rate_per_hour": 60.0, "seconds": 2.0}}}'
)


def resubmit_without_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The injected bug: a lost reply taken for a refusal, so the order is sent again unlooked-up."""
    original = ExecutionEngine.on_submit_result

    def on_submit_result(self, client_order_id, result, now_ns):
        if isinstance(result, TransportError):
            result = RateLimited(str(result), retry_after=1.0)
        return original(self, client_order_id, result, now_ns)

    monkeypatch.setattr(ExecutionEngine, "on_submit_result", on_submit_result)


@pytest.mark.slow
def test_shrunk_failure_has_fewer_faults_a_shorter_run_and_replays_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    resubmit_without_lookup(monkeypatch)
    profile = tmp_path / "lost-replies.json"
    profile.write_text(PROFILE)
    failure = next(
        result
        for seed in range(1, 30)
        if not (
            result := run_sim(
                SimRun(seed=seed, duration=120.0, faults=str(profile)), journal_path=tmp_path / "j.pyrtj"
            )
        ).ok
    )
    assert failure.violation is not None
    assert failure.violation.invariant == "S1"

    shrunk = shrink(failure, max_tries=40)
    path = write_scenario(tmp_path / "shrunk.json", shrunk.run, name="shrunk", expect="S1")

    assert shrunk.result.violation is not None
    assert shrunk.result.violation.invariant == "S1"
    before, after = failure.schedule, shrunk.run.fault_schedule()
    assert (len(after), len(after.counts())) <= (len(before), len(before.counts()))
    assert shrunk.run.duration < failure.run.duration
    assert len(shrunk.result.symbols) <= len(failure.symbols)
    scenario = load_scenario(path)
    assert scenario.expect == "S1"
    replay = run_sim(scenario.run, journal_path=tmp_path / "r.pyrtj")
    assert replay.violation is not None
    assert replay.violation.invariant == "S1"
    assert replay.violation.at_seconds == shrunk.result.violation.at_seconds
    assert main(["sim", "--scenario", str(path), "--journal", str(tmp_path / "c.pyrtj")]) == 1
    assert f"reproduce with: pyrt sim --scenario {path}" in capsys.readouterr().out


def test_shrink_refuses_a_run_that_passed(tmp_path: Path) -> None:
    result = run_sim(SimRun(seed=1, duration=2.0, faults="none"), journal_path=tmp_path / "j.pyrtj")

    with pytest.raises(ValueError, match=r"^seed 1 broke no invariant: nothing to shrink$"):
        shrink(result)
