"""Swarms of seeds: a local process pool, a real Dask cluster on loopback, the CLI's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import orjson
import pytest

from pyrt.faults import FaultProfile
from pyrt.modes.simulation import SimRun
from pyrt.swarm import run_swarm, run_swarm_dask, swarm_runs


def dense(name: str, factor: float, factory: pytest.TempPathFactory) -> str:
    """Write profile ``name`` with every rate ``factor`` times higher; return its path.

    The profiles give rates per virtual hour (a trading day's worth); a swarm of 20-30 s
    sessions sees next to none of them, so these swarms play them compressed.
    """
    profile = FaultProfile.named(name)
    faults = {
        kind: attrs.evolve(rate, rate_per_hour=rate.rate_per_hour * factor)
        for kind, rate in profile.faults.items()
    }
    path = factory.mktemp("profiles") / f"{name}-x{factor:g}.json"
    path.write_bytes(orjson.dumps(FaultProfile(name=f"{name} x{factor:g}", faults=faults).to_dict()))
    return str(path)


def base(factory: pytest.TempPathFactory) -> SimRun:
    return SimRun(duration=20.0, faults=dense("harsh", 30.0, factory))


@pytest.mark.slow
def test_process_pool_swarm_runs_every_seed_in_order_with_its_own_faults(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    runs = swarm_runs(base(tmp_path_factory), 6, first_seed=11)

    report = run_swarm(runs, journal_dir=tmp_path, jobs=2)

    assert [r.run.seed for r in report.results] == list(range(11, 17))
    assert report.failures == ()
    assert report.events == sum(r.events for r in report.results) > 0
    assert report.virtual_hours == pytest.approx(6 * 20 / 3600)
    mixes = {tuple(r.schedule.counts()) for r in report.results}
    assert len(mixes) > 1, "each seed draws its own fault mix"
    assert list(tmp_path.iterdir()) == [], "passing seeds leave no journal"


@pytest.mark.slow
def test_dask_swarm_on_a_local_cluster_gives_the_pool_s_results(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import dask.distributed as distributed  # pyrt[dask] is part of the test install: missing it fails
    runs = swarm_runs(base(tmp_path_factory), 4, first_seed=11)
    local = run_swarm(runs, journal_dir=tmp_path / "pool", jobs=2)

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        report = run_swarm_dask(runs, scheduler=cluster.scheduler_address, journal_dir=tmp_path / "dask")

    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert [(r.run.seed, r.events, r.fills, r.faults_by_kind) for r in report.results] == [
        (r.run.seed, r.events, r.fills, r.faults_by_kind) for r in local.results
    ]


@pytest.mark.slow
def test_cli_swarm_prints_seeds_events_hours_faults_and_violations(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyrt",
            "sim",
            "--swarm",
            "4",
            "--jobs",
            "2",
            "--duration",
            "20s",
            "--faults",
            "harsh",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "pyrt sim --swarm: seeds 1..4, 20s each, faults harsh, venue sim, on 2 process(es)"
    assert lines[1].startswith("seeds run 4 | events ")
    assert "| virtual hours 0.02 |" in lines[1]
    assert lines[2].startswith("faults by kind: ")
    assert lines[3] == "violations: 0"


def test_cli_dask_scheduler_without_dask_says_how_to_install_it(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.distributed'] = None\n"
        "from pyrt.cli import main\n"
        "sys.exit(main(['sim', '--swarm', '1', '--dask-scheduler', 'tcp://127.0.0.1:1', '--duration', '1s']))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )

    assert done.returncode == 2
    assert done.stderr.strip().endswith("pip install 'pyrt[dask]'")


@pytest.mark.slow
def test_a_200_seed_swarm_of_short_sessions_holds_every_invariant(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # issue 10's suite swarm, --venue sim; the --venue local half is wired once the simulated
    # network lands (SimRun(venue="local") refuses until then)
    runs = swarm_runs(SimRun(duration=30.0, faults=dense("default", 200.0, tmp_path_factory)), 200)

    report = run_swarm(runs, journal_dir=tmp_path, jobs=2)

    assert report.seeds == 200
    assert [(r.run.seed, r.violation) for r in report.failures] == []
    assert report.virtual_hours == pytest.approx(200 * 30 / 3600)
    assert sum(report.faults_by_kind.values()) > 200
    assert sum(r.fills for r in report.results) > 0
