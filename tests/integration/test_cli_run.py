"""`pyrt run` and `pyrt journal show` as a user types them: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PYRT = [sys.executable, "-m", "pyrt"]


def run(
    args: list[str], cwd: Path, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    env.update(kwargs.pop("env", {}))  # type: ignore[arg-type]
    return subprocess.run(
        [*PYRT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.slow
def test_pyrt_run_trades_and_leaves_a_journal_that_journal_show_prints(tmp_path: Path) -> None:
    journal = tmp_path / "session.pyrtj"

    result = run(["run", "--venue", "sim", "--duration", "6s", "--journal", str(journal)], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "market.quote" in result.stdout
    assert f"journal: {journal}" in result.stdout
    shown = run(["journal", "show", str(journal)], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert lines[0]["journal"] == "meta"
    assert lines[0]["metadata"]["config"]["symbols"] == ["AAPL", "MSFT"]
    topics = {line.get("topic") for line in lines[1:]}
    assert {"market.quote", "market.trade", "market.bar", "system.supervisor", "system.heartbeat"} <= topics
    orders = run(["journal", "show", str(journal), "--topic", "order."], cwd=tmp_path)
    assert all(json.loads(line)["topic"].startswith("order.") for line in orders.stdout.splitlines())


@pytest.mark.slow
def test_pyrt_run_default_journal_goes_to_the_data_folder(tmp_path: Path) -> None:
    result = run(["run", "--duration", "1s", "--quiet"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    journals = list((tmp_path / "data" / "journals").glob("*.pyrtj"))
    assert len(journals) == 1
    assert str(journals[0].relative_to(tmp_path)) in result.stdout


@pytest.mark.slow
def test_pyrt_run_stops_cleanly_on_sigint_with_a_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    proc = subprocess.Popen(
        [*PYRT, "run", "--venue", "sim", "--duration", "60s", "--journal", str(tmp_path / "j.pyrtj")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the journal is open and the tree is starting
    assert first.startswith("pyrt run: venue sim")
    assert proc.stdout.readline().startswith("risk limits: max_position_size 1000")
    status = proc.stdout.readline()  # the first status line: the tree is running
    assert "signals" in status

    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert "pyrt run stopped after" in out
    assert (tmp_path / "j.pyrtj").stat().st_size > 0


def test_pyrt_run_with_a_bad_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"risk": {"max_order_size": -5, "max_ordr_size": 1}, "symbols": "AAPL", "nope": 1})
    )

    result = run(["run", "--config", str(bad), "--duration", "1s"], cwd=tmp_path)

    assert result.returncode == 2
    assert "$.risk.max_order_size" in result.stderr
    assert "max_ordr_size" in result.stderr
    assert "$.symbols" in result.stderr
    assert "$.nope" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--duration", "soon"], "duration must look like"),
        (["run", "--duration", "1s", "--symbols", "aapl"], "$.symbols"),
        (["run", "--duration", "1s", "--param", "fast"], "must look like 'key=value'"),
        (["run", "--duration", "1s", "--strategy", "nope.nope:Nope"], "cannot import strategy module"),
        (["journal", "show", "missing.pyrtj"], "missing.pyrtj"),
    ],
)
def test_pyrt_bad_flags_give_a_clear_error_and_non_zero_exit(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(args, cwd=tmp_path)

    assert result.returncode != 0
    assert message in result.stderr


def test_secret_from_env_never_reaches_output_or_journal(tmp_path: Path) -> None:
    secret = "sEcReT-should-never-leak-42"
    journal = tmp_path / "j.pyrtj"

    result = run(
        ["-v", "run", "--venue", "sim", "--duration", "1s", "--journal", str(journal)],
        cwd=tmp_path,
        env={"APCA_API_KEY_ID": "PKTEST12345678", "APCA_API_SECRET_KEY": secret},
    )

    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert secret.encode() not in journal.read_bytes()


@pytest.mark.slow
def test_pyrt_run_by_default_trades_against_the_embedded_alpaca_venue_over_sockets(tmp_path: Path) -> None:
    journal = tmp_path / "j.pyrtj"

    result = run(["run", "--duration", "8s", "--journal", str(journal)], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "venue local (embedded Alpaca-compatible server at http://127.0.0.1:" in result.stdout
    shown = run(["journal", "show", str(journal)], cwd=tmp_path)
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert lines[0]["metadata"]["venue"] == "local"
    topics = [line.get("topic") for line in lines[1:]]
    assert topics.count("order.filled") >= 1
    assert topics.count("order.submitted") == topics.count("order.accepted")


def test_pyrt_run_on_alpaca_without_keys_names_the_missing_variables(tmp_path: Path) -> None:
    result = run(["run", "--venue", "alpaca", "--duration", "1s"], cwd=tmp_path)

    assert result.returncode == 2
    assert "APCA_API_KEY_ID" in result.stderr
    assert "APCA_API_SECRET_KEY" in result.stderr


def test_pyrt_run_live_needs_confirmation(tmp_path: Path) -> None:
    result = run(
        ["run", "--venue", "alpaca", "--live", "--duration", "1s"],
        cwd=tmp_path,
        env={"APCA_API_KEY_ID": "PKX", "APCA_API_SECRET_KEY": "s"},
    )

    assert result.returncode == 2
    assert "--confirm-live" in result.stderr


@pytest.mark.slow
def test_pyrt_run_against_a_separate_pyrt_venue_process_by_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    venue = subprocess.Popen(
        [
            *PYRT,
            "venue",
            "--port",
            "0",
            "--symbols",
            "AAPL,MSFT",
            "--key",
            "PKTESTKEY1",
            "--secret",
            "s3cr3t",
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert venue.stderr is not None
        line = venue.stderr.readline()
        url = line.split("listening on ")[1].split()[0]
        journal = tmp_path / "j.pyrtj"

        result = run(
            ["run", "--venue", url, "--duration", "6s", "--journal", str(journal)],
            cwd=tmp_path,
            env={"APCA_API_KEY_ID": "PKTESTKEY1", "APCA_API_SECRET_KEY": "s3cr3t"},
        )
        wrong = run(
            ["run", "--venue", url, "--duration", "3s", "--journal", str(tmp_path / "w.pyrtj")],
            cwd=tmp_path,
            env={"APCA_API_KEY_ID": "PKTESTKEY1", "APCA_API_SECRET_KEY": "wrong"},
        )
    finally:
        venue.send_signal(signal.SIGINT)
        venue.communicate(timeout=30)

    assert result.returncode == 0, result.stderr
    assert f"venue {url}" in result.stdout
    assert "market.quote" in result.stdout
    assert wrong.returncode != 0
    assert "auth" in wrong.stderr.lower()
