"""Which faults a simulated run injects, and when: profiles, a seed's own mix, a timed plan.

Issue 10's fault model proper (``FaultProfile`` from ``specs/faults/*.json``, ``FaultSchedule``
with its many new fault kinds) is being built beside this module; until it lands the simulation
drives today's :class:`~pyrt.venues.sim.SimFaults` through this small interface, so plugging the
new model in replaces :func:`load_profile`, :meth:`FaultProfileRates.draw` and :func:`draw_plan`
and leaves :class:`FaultPlan` (what the shrinker reduces and scenario files hold) as it is.

- A *profile* gives, for each :class:`~pyrt.venues.sim.SimFaults` rate, the largest value a run
  may draw (``none``, ``default``, ``harsh``, or a JSON file of the same keys).
- A seed *draws its own mix* from the profile (swarm testing: each fault is on or off, at a rate
  up to the profile's), so different seeds stress different faults.
- The *plan* is a few timed windows, each setting some of the mix's rates, all within the first
  part of the run: liveness is checked after the last window ends (as TigerBeetle does).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

import attrs
import orjson

from ..errors import ConfigError
from ..venues.sim import SimFaults

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "FaultPlan",
    "FaultProfileRates",
    "FaultWindow",
    "draw_plan",
    "load_profile",
]

#: The rates of :class:`~pyrt.venues.sim.SimFaults` a plan may set (its other fields are
#: parameters: how long a delay lasts, what a 429 asks).
FAULT_KINDS: Final = (
    "submit_unavailable",
    "submit_rate_limited",
    "submit_timeout",
    "submit_delay",
    "request_unavailable",
    "drop_tick",
    "updates_delay",
)
_PARAMETERS: Final = ("submit_delay_seconds", "retry_after", "updates_delay_seconds")
# Faults between the venue and the tree rather than inside SimFaults: ``updates_delay`` holds a
# batch of order updates (and every one after it, keeping their order) ``updates_delay_seconds``,
# a lagging trade-updates stream; the tree's broker wrapper plays them
_STREAM_KEYS: Final = ("updates_delay", "updates_delay_seconds")
DEFAULT_UPDATES_DELAY_SECONDS: Final = 3.0

FAULTS_UNTIL: Final = 0.6
"""Every window ends within this fraction of the run; the rest is calm, for liveness."""


@final
@attrs.frozen(kw_only=True)
class FaultWindow:
    """From ``start`` to ``end`` seconds into the run, the venue injects ``rates``."""

    start: float
    end: float
    rates: Mapping[str, float]
    """:data:`FAULT_KINDS` (and the parameters ``submit_delay_seconds``, ``retry_after``) → value."""

    def faults(self) -> SimFaults:
        """Return the venue's faults while the window is open.

        Raises:
            ConfigError: an unknown key, or rates SimFaults refuses.
        """
        unknown = sorted(set(self.rates) - {*FAULT_KINDS, *_PARAMETERS})
        if unknown:
            raise ConfigError(
                [
                    f"unknown fault {key!r}; expected one of {', '.join((*FAULT_KINDS, *_PARAMETERS))}"
                    for key in unknown
                ],
                source="fault plan",
            )
        try:
            return SimFaults(
                **{key: float(value) for key, value in self.rates.items() if key not in _STREAM_KEYS}
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError([str(exc)], source="fault plan") from exc

    def updates_delay(self) -> tuple[float, float]:
        """Return the chance a batch of order updates is held, and for how long (seconds)."""
        rate = float(self.rates.get("updates_delay", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(
                [f"updates_delay must be a probability in [0, 1], was {rate!r}"], source="fault plan"
            )
        return rate, float(self.rates.get("updates_delay_seconds", DEFAULT_UPDATES_DELAY_SECONDS))

    def to_json(self) -> dict[str, object]:
        """Return the window as plain data (a scenario file's ``faults`` entries)."""
        return {"start": self.start, "end": self.end, "rates": dict(sorted(self.rates.items()))}


@final
@attrs.frozen(kw_only=True)
class FaultPlan:
    """The timed fault windows of one run, in start order (what the shrinker reduces)."""

    windows: tuple[FaultWindow, ...] = ()

    @property
    def ends_at(self) -> float:
        """When the last window closes (0 for no faults): liveness is measured from here."""
        return max((w.end for w in self.windows), default=0.0)

    def kinds(self) -> tuple[str, ...]:
        """Return the fault kinds some window turns on, sorted."""
        return tuple(
            sorted({k for w in self.windows for k, v in w.rates.items() if k in FAULT_KINDS and v > 0})
        )

    def to_json(self) -> list[dict[str, object]]:
        """Return the windows as plain data."""
        return [w.to_json() for w in self.windows]

    @classmethod
    def from_json(cls, data: object, *, source: str = "fault plan") -> FaultPlan:
        """Build a plan from :meth:`to_json`'s output; check every window.

        Raises:
            ConfigError: not a list of ``{start, end, rates}`` with ``0 <= start < end``, or bad rates.
        """
        if not isinstance(data, list):
            raise ConfigError([f"faults must be a list of windows, was {type(data).__name__}"], source=source)
        windows: list[FaultWindow] = []
        problems: list[str] = []
        for i, item in enumerate(data):
            if not isinstance(item, dict) or set(item) != {"start", "end", "rates"}:
                problems.append(f"$.faults[{i}]: must be an object with start, end and rates, was {item!r}")
                continue
            start, end, rates = item["start"], item["end"], item["rates"]
            if not (isinstance(start, int | float) and isinstance(end, int | float) and 0 <= start < end):
                problems.append(f"$.faults[{i}]: must have 0 <= start < end, was start={start!r} end={end!r}")
                continue
            if not isinstance(rates, dict) or not all(isinstance(v, int | float) for v in rates.values()):
                problems.append(f"$.faults[{i}].rates: must map fault kinds to numbers, was {rates!r}")
                continue
            window = FaultWindow(
                start=float(start), end=float(end), rates={str(k): float(v) for k, v in rates.items()}
            )
            try:
                window.faults()
                window.updates_delay()
            except ConfigError as exc:
                problems.extend(f"$.faults[{i}].rates: {error}" for error in exc.errors)
                continue
            windows.append(window)
        if problems:
            raise ConfigError(problems, source=source)
        return cls(windows=tuple(sorted(windows, key=lambda w: (w.start, w.end))))


@final
@attrs.frozen(kw_only=True)
class FaultProfileRates:
    """The most of each fault a run may draw, and how likely each is to be on at all."""

    name: str
    max_rates: Mapping[str, float]
    """:data:`FAULT_KINDS` → the highest rate a seed may draw (0 or missing: never)."""
    on_probability: float = 0.5
    """Chance that a seed turns a fault of the profile on (swarm testing)."""
    parameters: Mapping[str, float] = attrs.field(factory=dict)
    """``submit_delay_seconds`` and ``retry_after``, when not SimFaults' defaults."""

    def draw(self, rng: random.Random) -> dict[str, float]:
        """Return one seed's own mix: each fault on or off, at a rate up to the profile's."""
        mix: dict[str, float] = {}
        for kind in FAULT_KINDS:  # a fixed order: one seed, one mix
            top = self.max_rates.get(kind, 0.0)
            on = rng.random() < self.on_probability
            rate = round(rng.uniform(0.0, top), 4)
            if top > 0 and on and rate > 0:
                mix[kind] = rate
        submit = sum(mix.get(k, 0.0) for k in ("submit_unavailable", "submit_rate_limited", "submit_timeout"))
        if submit > 1.0:  # SimFaults draws the three submit faults from one number
            for k in ("submit_unavailable", "submit_rate_limited", "submit_timeout"):
                if k in mix:
                    mix[k] = round(mix[k] / submit * 0.99, 4)
        return mix


PROFILES: Final[Mapping[str, FaultProfileRates]] = {
    "none": FaultProfileRates(name="none", max_rates={}),
    "default": FaultProfileRates(
        name="default",
        max_rates={
            "submit_unavailable": 0.15,
            "submit_rate_limited": 0.15,
            "submit_timeout": 0.1,
            "submit_delay": 0.1,
            "request_unavailable": 0.15,
            "drop_tick": 0.05,
            "updates_delay": 0.1,
        },
    ),
    "harsh": FaultProfileRates(
        name="harsh",
        max_rates={
            "submit_unavailable": 0.3,
            "submit_rate_limited": 0.3,
            "submit_timeout": 0.25,
            "submit_delay": 0.3,
            "request_unavailable": 0.4,
            "drop_tick": 0.2,
            "updates_delay": 0.3,
        },
        on_probability=0.7,
        parameters={"submit_delay_seconds": 12.0},
    ),
}


def load_profile(name_or_path: str) -> FaultProfileRates:
    """Return a built-in profile (``none``, ``default``, ``harsh``) or one read from a JSON file.

    A file holds ``{"max_rates": {kind: rate, ...}, "on_probability": p, "parameters": {...}}``
    (only ``max_rates`` is required).

    Raises:
        ConfigError: an unknown name, a file that cannot be read, or bad keys or values.
    """
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    path = Path(name_or_path)
    if path.suffix != ".json":
        raise ConfigError(
            [f"--faults must be none, default, harsh or a FILE.json, was {name_or_path!r}"],
            source="command line",
        )
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError([f"cannot read the fault profile: {exc}"], source=str(path)) from exc
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("max_rates"), dict):
        raise ConfigError(["must be an object with a max_rates object"], source=str(path))
    extra = sorted(set(data) - {"max_rates", "on_probability", "parameters"})
    problems += [f"$.{key}: unknown key" for key in extra]
    rates = data["max_rates"]
    for key, value in rates.items():
        if key not in FAULT_KINDS:
            problems.append(f"$.max_rates.{key}: unknown fault; expected one of {', '.join(FAULT_KINDS)}")
        elif not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
            problems.append(f"$.max_rates.{key}: must be a probability in [0, 1], was {value!r}")
    on = data.get("on_probability", 0.5)
    if not (isinstance(on, int | float) and 0.0 <= on <= 1.0):
        problems.append(f"$.on_probability: must be a probability in [0, 1], was {on!r}")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict) or not all(
        k in _PARAMETERS and isinstance(v, int | float) and v >= 0 for k, v in parameters.items()
    ):
        problems.append(
            f"$.parameters: must map {' or '.join(_PARAMETERS)} to numbers >= 0, was {parameters!r}"
        )
    if problems:
        raise ConfigError(problems, source=str(path))
    return FaultProfileRates(
        name=str(path),
        max_rates={str(k): float(v) for k, v in rates.items()},
        on_probability=float(on),
        parameters={str(k): float(v) for k, v in parameters.items()},
    )


def draw_plan(profile: FaultProfileRates, rng: random.Random, *, duration: float) -> FaultPlan:
    """Draw a seed's mix from ``profile`` and lay it out as 1-3 windows in the run's first part.

    Args:
        profile: the rates to draw from.
        rng: the seed's own generator for faults (drawn in a fixed order).
        duration: the run's length in seconds.
    """
    mix = profile.draw(rng)
    count = rng.randint(1, 3)
    until = duration * FAULTS_UNTIL
    if not mix or until <= 0:
        return FaultPlan()
    windows: list[FaultWindow] = []
    kinds = sorted(mix)
    for _ in range(count):
        start = round(rng.uniform(0.0, until * 0.8), 3)
        end = round(rng.uniform(start, until), 3)
        chosen = [k for k in kinds if rng.random() < 0.7] or [rng.choice(kinds)]
        if end <= start:
            continue
        rates = {k: mix[k] for k in chosen}
        rates.update(profile.parameters)
        windows.append(FaultWindow(start=start, end=end, rates=rates))
    return FaultPlan(windows=tuple(sorted(windows, key=lambda w: (w.start, w.end))))
