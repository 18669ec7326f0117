"""Every shipped strategy trades in a real ``pyrt run`` against the embedded venue.

The runs are real subprocesses on real sockets, started together (they mostly wait on the
venue's clock), each in its own folder since a run owns its data folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyrt.messages import SignalGenerated
from pyrt.runtime.journal import JournalReader

PYRT = [sys.executable, "-m", "pyrt"]

# Each strategy's own defaults, except the SMA crossover: its class defaults are the reference
# spec's 10/30-bar periods, which need 15 s of 0.5 s bars before the first decision.
PARAMS: dict[str, dict[str, object]] = {
    "sma_crossover": {"fast": 1, "slow": 2, "quantity": 10},
    "mean_reversion": {},
    "rsi_momentum": {},
    "book_imbalance": {},
    "pairs": {},
}


@pytest.mark.slow
def test_each_shipped_strategy_runs_6s_on_the_embedded_venue_and_signals(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    runs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for name, params in PARAMS.items():
        folder = tmp_path / name
        folder.mkdir()
        # the file fixes the params: the default config's are the SMA crossover's
        (folder / "config.json").write_text(json.dumps({"strategy": {"name": name, "params": params}}))
        journal = folder / "session.pyrtj"
        command = ["run", "--config", "config.json", "--strategy", name, "--duration", "6s"]
        proc = subprocess.Popen(
            [*PYRT, *command, "--journal", str(journal), "--quiet"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        runs[name] = (proc, journal)

    outcomes = {name: (proc.communicate(timeout=60), proc.returncode) for name, (proc, _) in runs.items()}

    for name, ((out, err), code) in outcomes.items():
        assert code == 0, f"{name}: exit {code}\n{err}"
        signals = [m for m in JournalReader(runs[name][1]) if isinstance(m, SignalGenerated)]
        assert signals, f"{name} produced no signal in 6 s\n{out}"
        assert {s.strategy for s in signals} == {name}
    pairs = [m for m in JournalReader(runs["pairs"][1]) if isinstance(m, SignalGenerated)]
    assert {s.symbol for s in pairs} == {"AAPL", "MSFT"}  # both legs
