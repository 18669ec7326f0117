"""The rough edges of the `pyrt` command (issue 8, section 7): real subprocesses, real files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PYRT = [sys.executable, "-m", "pyrt"]


def run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    return subprocess.run(
        [*PYRT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
def test_pyrt_venue_refuses_a_port_out_of_range_in_one_line(tmp_path: Path, port: str) -> None:
    # --port 99999 used to listen on a random port, --port -1 printed a 39-line traceback
    result = run(["venue", "--port", port], cwd=tmp_path, timeout=20)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--port" in result.stderr
    assert "0 to 65535" in result.stderr
    assert "listening" not in result.stderr


def test_pyrt_run_takes_v_after_the_command(tmp_path: Path) -> None:
    # the README lists -v among the run flags; `pyrt run -v` was rejected
    result = run(["run", "-v", "--venue", "sim", "--duration", "1s", "--quiet"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert " INFO " in result.stderr


def test_bad_strategy_params_are_reported_with_the_other_config_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"risk": {"max_order_size": -5}, "strategy": {"params": {"fast": -3}}}))

    result = run(["run", "--config", str(bad), "--duration", "1s"], cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "$.risk.max_order_size" in result.stderr
    assert "$.strategy.params" in result.stderr
    assert "2 problem(s)" in result.stderr


@pytest.mark.slow
def test_rerunning_with_the_same_journal_offers_overwrite_and_a_foreign_store_is_moved_aside(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "s.pyrtj"
    store = tmp_path / "s.sqlite3"
    args = ["run", "--duration", "3s", "--quiet", "--journal", str(journal)]
    first = run(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert store.exists()

    # the same command again: a flag to offer, never a Python keyword
    again = run(args, cwd=tmp_path)
    assert again.returncode == 1
    assert "--overwrite" in again.stderr
    assert "overwrite=True" not in again.stderr
    assert "Traceback" not in again.stderr
    assert sorted(p.name for p in tmp_path.glob("s.*.sqlite3")) == []  # the store was left alone

    # the journal deleted, the store kept: the embedded venue is a fresh account every run, so
    # the old store must not be recovered against it (it started HALTED, rejecting every signal)
    journal.unlink()
    third = run(args, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "trading state active" in third.stdout
    assert "HALTED" not in third.stderr
    assert "moved it aside" in third.stderr
    aside = list(tmp_path.glob("s.*Z.sqlite3"))
    assert len(aside) == 1

    fourth = run([*args, "--overwrite"], cwd=tmp_path)
    assert fourth.returncode == 0, fourth.stderr
    assert "trading state active" in fourth.stdout


@pytest.mark.slow
def test_a_second_run_in_the_same_data_folder_prints_only_its_refusal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    first = subprocess.Popen(
        [*PYRT, "run", "--venue", "sim", "--duration", "60s"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert first.stdout is not None
        for _ in range(3):  # the start lines, then a status line: the control socket is up
            first.stdout.readline()
        second = run(["run", "--venue", "sim", "--duration", "3s"], cwd=tmp_path)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)

    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert "another pyrt run is serving" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert "journal" not in second.stdout  # nothing started


def test_pyrt_venue_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        result = run(["venue", "--port", str(port)], cwd=tmp_path, timeout=20)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_pyrt_venue_stops_cleanly_on_sigint_and_sigterm(tmp_path: Path, signum: signal.Signals) -> None:
    # Ctrl-C used to arrive as KeyboardInterrupt at whatever line was running (once, under load, the
    # venue did not exit within 30 s); SIGTERM killed it without cleanup. Both are now received as
    # messages that cancel the serving nursery.
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    venue = subprocess.Popen(
        [*PYRT, "venue", "--port", "0", "--symbols", "AAPL"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert venue.stderr is not None
    try:
        while "local venue ready" not in (line := venue.stderr.readline()):
            assert line, "the venue exited before it was ready"
        venue.send_signal(signum)
        _, rest = venue.communicate(timeout=20)
    finally:
        if venue.poll() is None:
            venue.kill()
            venue.communicate()

    assert venue.returncode == 0
    assert f"{signum.name}: stopping the local venue" in rest
    assert "local venue stopped" in rest
    assert "Traceback" not in rest
