"""Many simulated sessions: a swarm of seeds (process pool or Dask), failures shrunk to scenarios."""

from __future__ import annotations

from .scenarios import Scenario as Scenario, load_scenario as load_scenario, write_scenario as write_scenario
from .shrink import ShrinkResult as ShrinkResult, shrink as shrink
from .swarm import (
    SwarmReport as SwarmReport,
    run_one as run_one,
    run_swarm as run_swarm,
    run_swarm_dask as run_swarm_dask,
    swarm_runs as swarm_runs,
)

__all__ = [
    "Scenario",
    "ShrinkResult",
    "SwarmReport",
    "load_scenario",
    "run_one",
    "run_swarm",
    "run_swarm_dask",
    "shrink",
    "swarm_runs",
    "write_scenario",
]
