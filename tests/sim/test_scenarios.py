"""Every scenario of specs/scenarios/ runs as a test: it passes, or breaks exactly what it expects."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pyrt.messages import OrderFilled, RiskApproved, TradingStateChanged
from pyrt.modes.simulation import run_sim
from pyrt.runtime.journal import JournalReader
from pyrt.swarm import load_scenario
from pyrt.swarm.scenarios import SUPPORTED_FEATURES

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "specs" / "scenarios").glob("*.json"))


def test_the_named_situations_are_all_there() -> None:
    assert {p.stem for p in SCENARIOS} >= {
        "flash-crash",
        "trading-halt-and-resume",
        "gap-at-the-open",
        "venue-outage-open-orders",
        "rest-fault-storm",
        "venue-restart-mid-session",
    }


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_gives_what_it_expects(path: Path, tmp_path: Path) -> None:
    missing = set(orjson.loads(path.read_bytes()).get("requires", [])) - SUPPORTED_FEATURES
    if missing:
        pytest.skip(f"needs {', '.join(sorted(missing))} in the simulated venue (issue 10's venue work)")
    scenario = load_scenario(path)

    result = run_sim(scenario.run, journal_path=tmp_path / "j.pyrtj")

    got = None if result.violation is None else result.violation.invariant
    assert got == scenario.expect, result.violation
    assert result.fills > 0


@pytest.mark.slow
def test_halt_and_resume_approves_nothing_while_halted_and_trades_after(tmp_path: Path) -> None:
    scenario = load_scenario(next(p for p in SCENARIOS if p.stem == "trading-halt-and-resume"))

    result = run_sim(scenario.run, journal_path=tmp_path / "j.pyrtj")

    messages = list(JournalReader(result.journal_path))
    states = [m.state for m in messages if isinstance(m, TradingStateChanged)]
    assert states[:2] == ["halted", "active"]
    resumed = next(m.ts_event for m in messages if isinstance(m, TradingStateChanged) and m.state == "active")
    assert any(isinstance(m, RiskApproved) and m.ts_event > resumed for m in messages)
    assert any(isinstance(m, OrderFilled) and m.ts_event > resumed for m in messages)
