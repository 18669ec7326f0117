"""A fault profile: a rate per fault kind and the kind's parameters, loaded from JSON."""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

import attrs

from ..errors import ConfigError
from ._kinds import BAD_DATA_VARIANTS, KIND_PARAMS, FaultKind, ParamValue
from ._schedule import FaultEvent, FaultSchedule

__all__ = ["PROFILES_DIR", "FaultProfile", "FaultRate"]


def _profiles_dir() -> Path:
    # a wheel carries specs/faults/ as pyrt/faults/profiles/ (pyproject's force-include); a
    # checkout (an editable install) reads them where they live
    packaged = Path(__file__).resolve().parent / "profiles"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "specs" / "faults"


#: Where the shipped profiles live (``none``, ``default``, ``harsh``): ``specs/faults/`` of the
#: checkout, or its copy inside an installed wheel.
PROFILES_DIR: Final = _profiles_dir()
SECONDS_PER_HOUR: Final = 3600.0


def _check_rate(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not (0.0 <= value < float("inf")):
        raise ValueError(f"rate_per_hour must be a finite number >= 0, was {value!r}")


@final
@attrs.frozen(kw_only=True)
class FaultRate:
    """How often one kind happens, and its parameters (each kind's defaults filled in)."""

    rate_per_hour: float = attrs.field(default=0.0, validator=_check_rate)
    """Expected events per hour of (virtual) run time; 0: off."""
    params: Mapping[str, ParamValue] = attrs.field(factory=dict)
    """Every parameter of the kind (``specs/faults/README.md``); never mutated."""


def _defaults(kind: FaultKind) -> dict[str, ParamValue]:
    return {name: spec.default for name, spec in KIND_PARAMS[kind].items()}


def _all_kinds(faults: Mapping[FaultKind, FaultRate]) -> dict[FaultKind, FaultRate]:
    return {kind: faults.get(kind, FaultRate(params=_defaults(kind))) for kind in FaultKind}


@final
@attrs.frozen(kw_only=True)
class FaultProfile:
    """A rate per fault kind, with the kinds' parameters: what ``--faults NAME|FILE.json`` chooses.

    One model for every venue and for the simulation runner (issue #9: there were two): a
    schedule drawn from it (:meth:`schedule`) is a list of timed :class:`FaultEvent`; each
    component interprets the kinds it can produce and leaves the others alone.
    """

    name: str = "custom"
    description: str = ""
    faults: Mapping[FaultKind, FaultRate] = attrs.field(factory=dict, converter=_all_kinds)
    """Every kind, in :class:`FaultKind` order (those a file leaves out are off)."""

    def rate(self, kind: FaultKind) -> float:
        """Return the expected events of ``kind`` per hour."""
        return self.faults[kind].rate_per_hour

    @property
    def enabled(self) -> tuple[FaultKind, ...]:
        """The kinds with a rate above 0, in kind order."""
        return tuple(kind for kind, rate in self.faults.items() if rate.rate_per_hour > 0.0)

    def draw(self, rng: random.Random) -> FaultProfile:
        """Return this seed's own mix (swarm testing): each kind off, or at a rate up to this one's.

        Every kind takes two draws whatever its rate, so one kind's draw does not depend on
        another's. Parameters are kept.
        """
        faults: dict[FaultKind, FaultRate] = {}
        for kind, rate in self.faults.items():
            on = rng.random() < 0.5
            scale = rng.random()
            value = round(rate.rate_per_hour * scale, 6) if on else 0.0
            faults[kind] = attrs.evolve(rate, rate_per_hour=value)
        return attrs.evolve(self, name=f"{self.name} (swarm draw)", faults=faults)

    def schedule(self, rng: random.Random, duration: float) -> FaultSchedule:
        """Draw the run's faults for ``duration`` seconds: a Poisson process per kind.

        Each kind has its own child generator (drawn from ``rng`` in kind order, whatever the
        rates), so turning one kind off leaves the others' events where they were. Times and
        lengths are rounded to the millisecond, so the JSON form reads back exactly.

        Raises:
            ValueError: ``duration`` is not a finite number > 0.
        """
        if not (0.0 < duration < float("inf")):
            raise ValueError(f"duration must be a finite number > 0, was {duration!r}")
        events: list[FaultEvent] = []
        for kind, rate in self.faults.items():
            kind_rng = random.Random(rng.getrandbits(64))
            if rate.rate_per_hour <= 0.0:
                continue
            lam = rate.rate_per_hour / SECONDS_PER_HOUR
            at = kind_rng.expovariate(lam)
            while at < duration:
                events.append(_event(kind, round(at, 3), rate.params, kind_rng))
                at += kind_rng.expovariate(lam)
        return FaultSchedule(events=events, duration=float(duration))

    # ---------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, object]:
        """Return the profile as its JSON object (only kinds that are on)."""
        faults: dict[str, object] = {}
        for kind, rate in self.faults.items():
            if rate.rate_per_hour > 0.0:
                params = {k: list(v) if isinstance(v, tuple) else v for k, v in rate.params.items()}
                faults[kind.value] = {"rate_per_hour": rate.rate_per_hour, **params}
        return {"name": self.name, "description": self.description, "faults": faults}

    @classmethod
    def from_dict(cls, data: object, *, source: str = "fault profile", name: str = "custom") -> FaultProfile:
        """Build a profile from its JSON object; every problem is reported at once.

        Raises:
            ConfigError: each unknown key (with a close match), bad rate or bad parameter,
                named by its path (``$.faults.md_stall.seconds: must be a finite number > 0``).
        """
        if not isinstance(data, dict):
            raise ConfigError([f"$: must be an object, was {type(data).__name__}"], source=source)
        problems: list[str] = []
        for key in data:
            if key not in ("name", "description", "faults"):
                problems.append(_unknown(f"$.{key}", key, ["name", "description", "faults"]))
        for key in ("name", "description"):
            if key in data and not isinstance(data[key], str):
                problems.append(f"$.{key}: must be a string, was {data[key]!r}")
        raw = data.get("faults", {})
        if not isinstance(raw, dict):
            raise ConfigError([*problems, f"$.faults: must be an object, was {raw!r}"], source=source)
        kinds = [kind.value for kind in FaultKind]
        faults: dict[FaultKind, FaultRate] = {}
        for key, entry in raw.items():
            path = f"$.faults.{key}"
            if key not in kinds:
                problems.append(_unknown(path, key, kinds))
                continue
            kind = FaultKind(key)
            if not isinstance(entry, dict):
                problems.append(f"{path}: must be an object with rate_per_hour, was {entry!r}")
                continue
            specs = KIND_PARAMS[kind]
            params = _defaults(kind)
            rate = entry.get("rate_per_hour", 0.0)
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < float("inf"):
                problems.append(f"{path}.rate_per_hour: must be a finite number >= 0, was {rate!r}")
                rate = 0.0
            for param, value in entry.items():
                if param == "rate_per_hour":
                    continue
                if param not in specs:
                    problems.append(_unknown(f"{path}.{param}", param, ["rate_per_hour", *specs]))
                    continue
                wrong = specs[param].check(value)
                if wrong:
                    problems.append(f"{path}.{param}: {wrong}")
                    continue
                params[param] = tuple(value) if isinstance(value, list) else value
            faults[kind] = FaultRate(rate_per_hour=float(rate), params=params)
        if problems:
            raise ConfigError(problems, source=source)
        return cls(
            name=str(data.get("name", name)), description=str(data.get("description", "")), faults=faults
        )

    @classmethod
    def from_json(
        cls, text: str | bytes, *, source: str = "fault profile", name: str = "custom"
    ) -> FaultProfile:
        """Read a profile from JSON text (see :meth:`from_dict`).

        Raises:
            ConfigError: not JSON, or a bad key or value.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError([f"not valid JSON: {exc}"], source=source) from exc
        return cls.from_dict(data, source=source, name=name)

    @classmethod
    def load(cls, path: str | Path) -> FaultProfile:
        """Read a profile from a JSON file; its name is the file's stem unless the file names one.

        Raises:
            ConfigError: the file cannot be read, is not JSON, or has a bad key or value.
        """
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError([f"cannot read: {exc.strerror or exc}"], source=str(path)) from exc
        return cls.from_json(text, source=str(path), name=path.stem)

    @classmethod
    def named(cls, name_or_path: str) -> FaultProfile:
        """Return a shipped profile (``none``, ``default``, ``harsh``) or read ``FILE.json``.

        Raises:
            ConfigError: an unknown name, or a file that does not load.
        """
        if name_or_path.endswith(".json") or "/" in name_or_path:
            return cls.load(name_or_path)
        path = PROFILES_DIR / f"{name_or_path}.json"
        if not path.is_file():
            shipped = sorted(p.stem for p in PROFILES_DIR.glob("*.json"))
            raise ConfigError(
                [f"unknown fault profile {name_or_path!r}; expected one of {shipped} or a FILE.json"],
                source="--faults",
            )
        return cls.load(path)


def _unknown(path: str, key: str, expected: list[str]) -> str:
    close = difflib.get_close_matches(key, expected, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown key{hint}; expected one of: {', '.join(expected)}"


def _event(kind: FaultKind, at: float, params: Mapping[str, ParamValue], rng: random.Random) -> FaultEvent:
    seconds: float | None = None
    count: int | None = None
    out: dict[str, ParamValue] = {}
    for name, spec in KIND_PARAMS[kind].items():
        value = params[name]
        if spec.draw == "jitter":
            assert isinstance(value, int | float)
            value = round(value * rng.uniform(0.5, 1.5), 3) or 0.001
        elif spec.draw == "share":
            assert isinstance(value, int | float)
            value = rng.random() < value
        elif spec.draw == "choice":
            assert isinstance(value, tuple)
            out["target"] = rng.choice(value)
            continue
        if name == "seconds":
            assert isinstance(value, int | float)
            seconds = float(value)
        elif name == "count":
            assert isinstance(value, int)
            count = value
        else:
            out[name] = value
    if kind is FaultKind.BAD_DATA:
        out["variant"] = rng.choice(BAD_DATA_VARIANTS)
    return FaultEvent(at=at, kind=kind, seconds=seconds, count=count, params=out)
