"""``pyrt sim``: flags, the summary, exit codes, the reproduction line of a violation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyrt.cli import main, parse_duration
from pyrt.messages import ExecutionLedger, ExecutionVerdict


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("6h30m", 23_400.0), ("1h2m3s", 3723.0), ("500ms", 0.5), ("10", 10.0)],
)
def test_parse_duration_takes_compound_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "6h30", "m5", "0s", "", "1x"])
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"^duration must"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--duration", "soon"], "pyrt sim: argument --duration: duration must look like 30s, 2m, 6h30m"),
        (
            ["--faults", "bogus"],
            "pyrt sim: --faults must be none, default, harsh or a FILE.json, was 'bogus'",
        ),
        (["--venue", "local"], "pyrt sim: --venue local: not wired yet"),
        (["--swarm", "0"], "pyrt sim: argument --swarm: --swarm must be >= 1, was 0"),
        (["--seed", "x"], "pyrt sim: argument --seed: --seed must be a whole number, was 'x'"),
        (["--jobs", "2"], "pyrt sim: --jobs and --dask-scheduler go with --swarm N"),
        (["--strategy", "nope"], "pyrt sim: $.strategy.name"),
    ],
)
def test_sim_bad_flag_is_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["sim", *argv])
    except SystemExit as exc:  # argparse's own refusals exit
        code = exc.code  # type: ignore[assignment]

    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(expected)
    assert "\n" not in err


@pytest.mark.slow
def test_sim_prints_the_summary_and_exits_0(tmp_path: Path) -> None:
    journal = tmp_path / "s.pyrtj"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyrt",
            "sim",
            "--seed",
            "3",
            "--duration",
            "40s",
            "--faults",
            "harsh",
            "--journal",
            str(journal),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "pyrt sim: seed 3, symbols AAPL,MSFT, 40s virtual, faults harsh, venue sim"
    assert lines[1].startswith("virtual time 40s (40.0 s) in ")
    assert lines[2].startswith("events ")
    assert "| orders " in lines[2]
    assert "| P&L " in lines[2]
    assert lines[3].startswith("faults injected: ")
    assert lines[4].startswith("invariant checks: ")
    assert lines[4].endswith(", all held")
    assert lines[5] == f"journal: {journal}"
    assert journal.exists()


@pytest.mark.slow
def test_sim_violation_prints_invariant_events_and_repro_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ExecutionLedger.check

    def check(self: ExecutionLedger, fill):  # the injected bug: a second fill of an order is "seen"
        if fill.execution_id not in self._seen and any(
            k[0] == fill.client_order_id for k in self._seen.values()
        ):
            return ExecutionVerdict.DUPLICATE
        return original(self, fill)

    monkeypatch.setattr(ExecutionLedger, "check", check)

    code = main(
        [
            "sim",
            "--seed",
            "1",
            "--duration",
            "1m",
            "--faults",
            "none",
            "--param",
            "quantity=400",
            "--journal",
            str(tmp_path / "j.pyrtj"),
        ]
    )

    assert code == 1
    out = capsys.readouterr().out
    assert ", S2 broken" in out
    assert "INVARIANT VIOLATED: S2 at 18.000 s virtual (18s)" in out
    assert "last events before it:" in out
    assert out.rstrip().endswith(
        "reproduce with: pyrt sim --seed 1 --duration 1m --param quantity=400 --faults none"
    )
