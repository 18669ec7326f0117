"""Scenario files: a named situation as a seed, a fault schedule and operator commands, with what to expect.

A scenario (``specs/scenarios/*.json``, or one the shrinker wrote) is::

    {"name": "rest-fault-storm", "description": "...", "seed": 1, "duration": "140s",
     "symbols": ["AAPL", "MSFT"], "strategy": "sma_crossover", "params": {},
     "faults": {"duration": 140.0, "events": [
         {"at": 20.0, "kind": "rate_limit_storm", "seconds": 60.0, "probability": 0.3,
          "scope": "submit", "retry_after": 1.0}]},
     "commands": [{"at": 30, "command": "halt", "reason": "...", "cancel_orders": true}],
     "expect": "pass"}

``faults`` is a :class:`~pyrt.faults.FaultSchedule` in its JSON form
(:meth:`~pyrt.faults.FaultSchedule.to_json`; its events are described in ``specs/faults/README.md``).

``expect`` is ``"pass"`` (every invariant holds) or ``{"violation": "S1"}`` (a shrunk failure:
it still fails that way). ``requires`` lists venue features a scenario needs that are not
built yet (``price_shock``, ``market_sessions``, ``venue_restart``): loading one says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, final

import attrs
import orjson

from ..errors import ConfigError
from ..faults import FaultSchedule
from ..modes.simulation import ScheduledCommand, SimRun, format_duration, parse_duration

__all__ = ["SUPPORTED_FEATURES", "Scenario", "load_scenario", "write_scenario"]

#: Venue features scenarios may require; none of these is in today's SimVenue (issue 10's venue
#: work adds price shocks, market sessions and restarts), so a scenario needing one cannot run yet.
SUPPORTED_FEATURES: Final[frozenset[str]] = frozenset()
_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "seed",
        "duration",
        "symbols",
        "strategy",
        "params",
        "faults",
        "commands",
        "expect",
        "requires",
    }
)


def _seconds(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return None
    return None


@final
@attrs.frozen(kw_only=True)
class Scenario:
    """A scenario file, read: the run it describes and what it expects."""

    name: str
    description: str
    run: SimRun
    expect: str | None
    """``None``: every invariant holds; else the invariant the run must break."""
    requires: tuple[str, ...] = ()


def load_scenario(path: Path) -> Scenario:
    """Read a scenario file; every problem in it is reported at once.

    Raises:
        ConfigError: unreadable, unknown keys, bad values, or a required feature not built yet.
    """
    source = str(path)
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError([f"cannot read the scenario: {exc}"], source=source) from exc
    if not isinstance(data, dict):
        raise ConfigError(["must be a JSON object"], source=source)
    problems = [
        f"$.{key}: unknown key; expected one of {', '.join(sorted(_KEYS))}"
        for key in sorted(set(data) - _KEYS)
    ]
    seed = data.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"$.seed: must be an integer, was {seed!r}")
    duration = _seconds(data.get("duration", 60.0))
    if duration is None:
        problems.append(f"$.duration: must be seconds > 0 or like 90s, 6h30m, was {data.get('duration')!r}")
    symbols = data.get("symbols")
    if symbols is not None and not (isinstance(symbols, list) and all(isinstance(s, str) for s in symbols)):
        problems.append(f"$.symbols: must be a list of symbols, was {symbols!r}")
    params = data.get("params", {})
    if not isinstance(params, dict):
        problems.append(f"$.params: must be an object, was {params!r}")
    schedule = FaultSchedule(events=())
    try:
        schedule = FaultSchedule.from_json(orjson.dumps(data.get("faults", {"events": []})), source=source)
    except ConfigError as exc:
        problems.extend(f"$.faults{error.removeprefix('$')}" for error in exc.errors)
    commands: list[ScheduledCommand] = []
    for i, item in enumerate(data.get("commands", [])):
        try:
            commands.append(ScheduledCommand(**item))
        except (TypeError, ValueError) as exc:
            problems.append(f"$.commands[{i}]: {exc}")
    expect = data.get("expect", "pass")
    if expect == "pass":
        expected: str | None = None
    elif isinstance(expect, dict) and set(expect) == {"violation"} and isinstance(expect["violation"], str):
        expected = expect["violation"]
    else:
        problems.append(f'$.expect: must be "pass" or {{"violation": "S1"}}, was {expect!r}')
        expected = None
    requires = data.get("requires", [])
    missing = [feature for feature in requires if feature not in SUPPORTED_FEATURES]
    if missing:
        problems.append(
            f"$.requires: {', '.join(missing)} not built into the simulated venue yet (issue 10's venue work)"
        )
    if problems:
        raise ConfigError(problems, source=source)
    run = SimRun(
        seed=seed,
        duration=duration or 60.0,
        symbols=tuple(symbols) if symbols is not None else None,
        strategy=data.get("strategy"),
        params=dict(params),
        faults="scenario",
        schedule=schedule,
        commands=tuple(commands),
        scenario=path,
    )
    return Scenario(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        run=run,
        expect=expected,
        requires=tuple(requires),
    )


def write_scenario(
    path: Path, run: SimRun, *, name: str, description: str = "", expect: str | None = None
) -> Path:
    """Write ``run`` (its explicit schedule, or the seed's draw) as a scenario file; return ``path``.

    Raises:
        ConfigError: the run's fault profile cannot be read.
    """
    data: dict[str, object] = {
        "name": name,
        "description": description,
        "seed": run.seed,
        "duration": format_duration(run.duration),
    }
    if run.symbols is not None:
        data["symbols"] = list(run.symbols)
    if run.strategy is not None:
        data["strategy"] = run.strategy
    if run.params:
        data["params"] = dict(run.params)
    data["faults"] = orjson.loads(run.fault_schedule().to_json())
    if run.commands:
        data["commands"] = [command.to_json() for command in run.commands]
    data["expect"] = "pass" if expect is None else {"violation": expect}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return path
