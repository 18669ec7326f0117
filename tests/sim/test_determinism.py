"""Same seed → byte-identical journal, in separate processes (issue 10).

Each run is its own interpreter with its own ``PYTHONHASHSEED``, so an order that comes from
hashing (a set of strings, a set of objects) or anything else a process draws for itself
(addresses, the wall clock, a global RNG) would show up as a difference.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SYMBOLS = ["AAPL", "MSFT", "NVDA", "BTC/USD"]
RUN = """
import sys
from pathlib import Path
from pyrt.config import load_config
from pyrt.modes.simulation import run_simulation

seed, journal, symbols = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
config = load_config(env={}, overrides={"run.seed": seed, "symbols": symbols})
summary = run_simulation(config, journal_path=journal, duration=30.0)
assert summary.status.count("order.filled") > 0, "the run must trade, or it proves little"
"""


def run_in_processes(runs: list[tuple[int, Path, str]]) -> None:
    # concurrently: each is an interpreter of its own, with its own hash seed
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(seed), str(path), ",".join(SYMBOLS)],
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed, path, hash_seed in runs
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()


@pytest.mark.slow
def test_same_seed_in_two_processes_gives_byte_identical_journal_and_another_seed_does_not(
    tmp_path: Path,
) -> None:
    a, b, c = tmp_path / "a.pyrtj", tmp_path / "b.pyrtj", tmp_path / "c.pyrtj"

    run_in_processes([(11, a, "1"), (11, b, "2"), (12, c, "1")])

    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
