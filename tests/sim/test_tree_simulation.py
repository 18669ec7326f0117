"""The whole tree on virtual time against the in-process venue."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrt.config import load_config
from pyrt.errors import SupervisionError
from pyrt.messages import BarReceived, OrderFilled, SignalGenerated, SupervisorEvent, SupervisorEventKind
from pyrt.modes.simulation import run_simulation
from pyrt.runtime.journal import JournalReader
from pyrt.strategy import SmaCrossover


def config(seed: int = 7):
    return load_config(env={}, overrides={"run.seed": seed, "symbols": ["AAPL", "MSFT"]})


@pytest.mark.slow
def test_simulated_minute_trades_and_journals_every_message(tmp_path: Path) -> None:
    summary = run_simulation(config(), journal_path=tmp_path / "j.pyrtj", duration=60.0)

    st = summary.status
    assert st.count("order.filled") > 0
    assert st.count("signal.generated") == st.count("risk.approved") + st.count("risk.rejected")
    messages = list(JournalReader(summary.journal_path))
    topics = [m.TOPIC for m in messages]
    for topic, n in st.published_by_topic.items():
        if topic != "system.supervisor":  # the recorder's own "stopped" is published after it stopped
            assert topics.count(topic) == n, topic
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    # the journal's fills reproduce the portfolio's positions
    for pos in st.positions:
        qty = sum(f.side.sign * f.fill_quantity for f in fills if f.symbol == pos.symbol)
        assert qty == pytest.approx(pos.quantity)


@pytest.mark.slow
def test_same_seed_gives_byte_identical_journal_and_another_seed_does_not(tmp_path: Path) -> None:
    run_simulation(config(7), journal_path=tmp_path / "a.pyrtj", duration=20.0)
    run_simulation(config(7), journal_path=tmp_path / "b.pyrtj", duration=20.0)
    run_simulation(config(8), journal_path=tmp_path / "c.pyrtj", duration=20.0)

    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.pyrtj", "b.pyrtj", "c.pyrtj"))
    assert a == b
    assert a != c


class CrashOnce(SmaCrossover):
    crashes = 0

    def on_bar(self, bar: BarReceived) -> None:
        if CrashOnce.crashes == 0:
            CrashOnce.crashes += 1
            self.buy(bar.symbol, 1.0)  # a partial signal that must not escape
            raise RuntimeError("strategy bug")
        super().on_bar(bar)


@pytest.mark.slow
def test_crashing_strategy_is_restarted_and_the_tree_keeps_trading(tmp_path: Path) -> None:
    CrashOnce.crashes = 0

    summary = run_simulation(
        config(),
        journal_path=tmp_path / "j.pyrtj",
        duration=60.0,
        strategy_factory=lambda: CrashOnce(fast=2, slow=5, quantity=10),
    )

    messages = list(JournalReader(summary.journal_path))
    events = [m for m in messages if isinstance(m, SupervisorEvent) and m.child == "signal"]
    assert [e.kind for e in events][:3] == [
        SupervisorEventKind.STARTED,
        SupervisorEventKind.CRASHED,
        SupervisorEventKind.RESTARTED,
    ]
    assert "strategy bug" in (events[1].error or "")
    signals = [m for m in messages if isinstance(m, SignalGenerated)]
    assert all(s.quantity == 10 for s in signals)  # the partial signal of the crash never escaped
    assert summary.status.count("order.filled") > 0
    assert summary.status.restarts == 1


class AlwaysCrash(SmaCrossover):
    def on_bar(self, bar: BarReceived) -> None:
        raise RuntimeError("broken on every bar")


@pytest.mark.slow
def test_strategy_crashing_past_the_intensity_stops_the_tree(tmp_path: Path) -> None:
    with pytest.raises(SupervisionError, match="signal") as info:
        run_simulation(
            config(), journal_path=tmp_path / "j.pyrtj", duration=60.0, strategy_factory=AlwaysCrash
        )

    assert isinstance(info.value.__cause__, RuntimeError)
    kinds = [m.kind for m in JournalReader(tmp_path / "j.pyrtj") if isinstance(m, SupervisorEvent)]
    assert kinds.count(SupervisorEventKind.CRASHED) == 4  # 3 restarts allowed, the 4th crash escalates
    assert SupervisorEventKind.ESCALATED in kinds
