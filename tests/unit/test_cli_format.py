"""What `pyrt status` shows people: a table with 2-decimal money, not raw JSON."""

from __future__ import annotations

from pyrt.cli import format_control_reply


def test_status_table_rounds_prices_and_pnl_to_two_decimals() -> None:
    reply: dict[str, object] = {
        "state": "halted",
        "state_reason": "reconcile: the venue's account changed under the run",
        "limits": {"max_order_size": 500.0, "allowed_symbols": ["AAPL", "MSFT"], "max_gross_exposure": None},
        "positions": {
            "AAPL": {
                "quantity": 10.0,
                "avg_price": 187.12345678901,
                "last_price": 188.30000000000001,
                "realized_pnl": -0.30000000000000004,
                "unrealized_pnl": 11.77654321099,
            }
        },
        "realized_pnl": -0.30000000000000004,
        "unrealized_pnl": 11.77654321099,
        "equity": 100011.47654321099,
    }

    text = format_control_reply(reply)

    lines = text.splitlines()
    assert lines[0] == "trading state: halted (reconcile: the venue's account changed under the run)"
    assert lines[2].split() == ["AAPL", "10", "187.12", "188.30", "-0.30", "+11.78"]
    assert lines[3] == "P&L: realized -0.30, unrealized +11.78; equity 100,011.48"
    assert lines[4] == "limits: max_order_size 500, allowed_symbols AAPL,MSFT, max_gross_exposure -"
    assert "0000" not in text


def test_status_table_without_positions_says_so() -> None:
    text = format_control_reply({"state": "active", "positions": {}, "realized_pnl": 0.0, "equity": 1e5})

    assert "positions: none" in text
    assert "equity 100,000.00" in text


def test_the_status_line_shows_a_halt_and_its_reason() -> None:
    from pyrt.cli import _format_status
    from pyrt.modes.tree import RunStatus

    def status(state: str, reason: str) -> RunStatus:
        return RunStatus(
            elapsed=12.0,
            published_by_topic={},
            rates={},
            positions=(),
            realized_pnl=0.0,
            unrealized_pnl=0.0,
            equity=1e5,
            restarts=0,
            trading_state=state,
            trading_state_reason=reason,
        )

    halted = _format_status(status("halted", "execution: contradictory_execution E1"))
    active = _format_status(status("active", "resumed"))

    assert halted.endswith(" | HALTED: execution: contradictory_execution E1")
    assert "resumed" not in active
    assert "ACTIVE" not in active
