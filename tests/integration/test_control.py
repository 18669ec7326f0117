"""The kill switch from outside a running `pyrt run`: `pyrt halt|resume|status` and SIGUSR1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PYRT = [sys.executable, "-m", "pyrt"]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}


def start_run(tmp_path: Path, journal: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*PYRT, "run", "--venue", "sim", "--duration", "60s", "--journal", str(journal)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("pyrt run:")
    assert proc.stdout.readline().startswith("risk limits:")
    assert "signals" in proc.stdout.readline()  # a status line: the tree (and its control socket) is up
    return proc


def pyrt(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYRT, *args], cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=30, check=False
    )


def journal_lines(tmp_path: Path, journal: Path) -> list[dict[str, object]]:
    shown = pyrt(tmp_path, "journal", "show", str(journal))
    return [json.loads(line) for line in shown.stdout.splitlines()[1:]]


@pytest.mark.slow
def test_pyrt_halt_stops_approvals_and_is_journaled_and_resume_restores(tmp_path: Path) -> None:
    journal = tmp_path / "j.pyrtj"
    proc = start_run(tmp_path, journal)
    try:
        before = json.loads(pyrt(tmp_path, "status", "--json").stdout)
        table = pyrt(tmp_path, "status").stdout
        halted = pyrt(tmp_path, "halt", "--reason", "operator test", "--cancel-orders")
        during = json.loads(pyrt(tmp_path, "status", "--json").stdout)
        resumed = json.loads(pyrt(tmp_path, "resume", "--reason", "all clear", "--json").stdout)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)

    assert proc.returncode == 0
    assert before["state"] == "active"
    assert table.startswith("trading state: active")
    assert "P&L: realized" in table
    assert not re.search(r"\d\.\d{3,}", table)  # no float noise for people
    assert "max_order_size" in before["limits"]
    assert halted.returncode == 0, halted.stderr
    assert during["state"] == "halted"
    assert during["state_reason"] == "operator test"
    assert resumed["state"] == "active"
    states = [m for m in journal_lines(tmp_path, journal) if m.get("topic") == "risk.state"]
    assert [(s["state"], s["reason"], s["cancel_open_orders"]) for s in states] == [
        ("halted", "operator test", True),
        ("active", "all clear", False),
    ]
    commands = [m for m in journal_lines(tmp_path, journal) if m.get("topic") == "control.command"]
    assert [(c["command"], c["source"], c["cancel_orders"]) for c in commands] == [
        ("halt", "operator", True),
        ("resume", "operator", False),
    ]
    assert not (tmp_path / "data" / "pyrt.sock").exists()  # removed at exit


@pytest.mark.slow
def test_sigusr1_halts_the_running_tree(tmp_path: Path) -> None:
    journal = tmp_path / "j.pyrtj"
    proc = start_run(tmp_path, journal)
    try:
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while "SIGUSR1" not in line:
            line = proc.stdout.readline()
        status = json.loads(pyrt(tmp_path, "status", "--json").stdout)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)

    assert status["state"] == "halted"
    lines = journal_lines(tmp_path, journal)
    halt_index = next(i for i, m in enumerate(lines) if m.get("topic") == "risk.state")
    assert lines[halt_index]["reason"] == "SIGUSR1 kill switch"
    later = [m for m in lines[halt_index:] if m.get("topic") in ("risk.approved", "risk.rejected")]
    assert all(m["topic"] == "risk.rejected" for m in later)


def test_pyrt_halt_without_a_running_tree_says_so(tmp_path: Path) -> None:
    result = pyrt(tmp_path, "halt")

    assert result.returncode == 1
    assert "no pyrt run is listening" in result.stderr
