"""Fault events on a timeline: the schedule a seed draws, its JSON form, and the cursor venues read."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Final, final

import attrs

from ..errors import ConfigError
from ._kinds import BAD_DATA_VARIANTS, KIND_PARAMS, REQUEST_KINDS, SCOPES, FaultKind, ParamValue

__all__ = ["FaultEvent", "FaultSchedule", "FaultTimeline"]

_ORDER: Final = {kind: index for index, kind in enumerate(FaultKind)}
_GENERIC: Final = ("at", "kind", "seconds", "count", "probability")


def _event_params(kind: FaultKind) -> dict[str, type | tuple[type, ...]]:
    """The kind-specific keys an event of ``kind`` may carry, with their JSON types."""
    out: dict[str, type | tuple[type, ...]] = {}
    for name, spec in KIND_PARAMS[kind].items():
        if name in ("seconds", "count"):
            continue
        if spec.draw == "share":
            out[name] = bool
        elif spec.draw == "choice":
            out["target"] = str
        else:
            out[name] = (int, float)
    if kind is FaultKind.BAD_DATA:
        out["variant"] = str
    if kind in REQUEST_KINDS:
        out["scope"] = str
    return out


def _check_at(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"at must be a finite number of seconds >= 0, was {value!r}")


def _check_seconds(_inst: object, _attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"seconds must be a finite number > 0 or absent, was {value!r}")


def _check_count(_inst: object, _attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"count must be a whole number >= 1 or absent, was {value!r}")


def _check_probability(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"probability must be in (0, 1], was {value!r}")


@final
@attrs.frozen(kw_only=True)
class FaultEvent:
    """One fault on the timeline: an instant, or an episode ``[at, at + seconds)``.

    An event affects the *opportunities* of its kind (requests, frames, updates, connects) that
    fall in its window, each with ``probability``, at most ``count`` of them. With neither
    ``seconds`` nor ``count`` a per-opportunity kind stands for the rest of the run; an instant
    kind (``md_disconnect``, ``venue_restart``, ``process_crash`` …) happens once, at ``at``.
    """

    at: float = attrs.field(validator=_check_at)
    """Seconds after the run started."""
    kind: FaultKind = attrs.field(converter=FaultKind)
    seconds: float | None = attrs.field(default=None, validator=_check_seconds)
    """Length of the episode; ``None``: open-ended (until ``count`` is used up)."""
    count: int | None = attrs.field(default=None, validator=_check_count)
    """Opportunities it may hit at most; ``None``: every one in the window."""
    probability: float = attrs.field(default=1.0, validator=_check_probability)
    """Chance each opportunity in the window is hit (drawn from the venue's seeded RNG)."""
    params: Mapping[str, ParamValue] = attrs.field(factory=dict)
    """The kind's own parameters (``status``, ``retry_after``, ``delay``, ``variant`` …); never
    mutated."""

    def __attrs_post_init__(self) -> None:
        allowed = _event_params(self.kind)
        for name, value in self.params.items():
            if name not in allowed:
                raise ValueError(
                    f"{self.kind.value} takes no parameter {name!r}; expected one of: {sorted(allowed)}"
                )
            kind = allowed[name]
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"{self.kind.value}.{name} has the wrong type, was {value!r}")
        variant = self.params.get("variant")
        if variant is not None and variant not in BAD_DATA_VARIANTS:
            raise ValueError(f"bad_data.variant must be one of {list(BAD_DATA_VARIANTS)}, was {variant!r}")
        scope = self.params.get("scope")
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"{self.kind.value}.scope must be one of {list(SCOPES)}, was {scope!r}")

    def param(self, name: str, default: ParamValue) -> ParamValue:
        """Return the parameter ``name``, or ``default`` when the event does not set it."""
        return self.params.get(name, default)

    def number(self, name: str) -> float:
        """Return the numeric parameter ``name``, or the kind's default for it."""
        value = self.params.get(name, KIND_PARAMS[self.kind][name].default)
        assert isinstance(value, int | float)
        return float(value)

    @property
    def end(self) -> float:
        """When the episode ends (``inf`` when open-ended)."""
        return math.inf if self.seconds is None else self.at + self.seconds

    def to_dict(self) -> dict[str, object]:
        """Return the event as its JSON object: ``at``, ``kind``, then only what is set."""
        out: dict[str, object] = {"at": self.at, "kind": self.kind.value}
        if self.seconds is not None:
            out["seconds"] = self.seconds
        if self.count is not None:
            out["count"] = self.count
        if self.probability != 1.0:
            out["probability"] = self.probability
        out.update(self.params)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FaultEvent:
        """Build an event from its JSON object.

        Raises:
            ValueError: a missing or bad field, an unknown kind or parameter.
        """
        missing = [key for key in ("at", "kind") if key not in data]
        if missing:
            raise ValueError(f"missing {' and '.join(missing)}")
        kind = data["kind"]
        if kind not in {k.value for k in FaultKind}:
            raise ValueError(f"unknown kind {kind!r}; expected one of: {[k.value for k in FaultKind]}")
        params = {key: value for key, value in data.items() if key not in _GENERIC}
        for key in ("at", "seconds", "probability"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{key} must be a number, was {value!r}")
        return cls(
            at=float(data["at"]),  # type: ignore[arg-type]  # checked to be a number above
            kind=FaultKind(kind),
            seconds=None if data.get("seconds") is None else float(data["seconds"]),  # type: ignore[arg-type]  # checked above
            count=data.get("count"),  # type: ignore[arg-type]  # the validator checks it
            probability=float(data.get("probability", 1.0)),  # type: ignore[arg-type]  # checked above
            params={key: tuple(v) if isinstance(v, list) else v for key, v in params.items()},  # type: ignore[misc]  # values checked by __attrs_post_init__
        )


def _sort_key(event: FaultEvent) -> tuple[float, int]:
    return (event.at, _ORDER[event.kind])


def _sorted(events: Iterable[FaultEvent]) -> tuple[FaultEvent, ...]:
    return tuple(sorted(events, key=_sort_key))


@final
@attrs.frozen(kw_only=True)
class FaultSchedule:
    """Every fault of a run as timed events, sorted by time: what a seed drew, or a scenario.

    A shrinker removes events (:meth:`without`, :meth:`filter`) or cuts the run short
    (:meth:`until`); a scenario file is :meth:`to_json`'s text, replayed by :meth:`from_json`.
    """

    events: tuple[FaultEvent, ...] = attrs.field(converter=_sorted)
    """Sorted by ``at`` (ties by kind, in :class:`FaultKind` order, then as given)."""
    duration: float | None = None
    """The run length the events were drawn for, if any."""

    def __len__(self) -> int:
        return len(self.events)

    def counts(self) -> dict[str, int]:
        """Return how many events of each kind there are, by kind name, in kind order."""
        out: dict[str, int] = {}
        for kind in FaultKind:
            number = sum(1 for event in self.events if event.kind is kind)
            if number:
                out[kind.value] = number
        return out

    def of_kind(self, *kinds: FaultKind) -> tuple[FaultEvent, ...]:
        """Return the events of ``kinds``, in time order."""
        return tuple(event for event in self.events if event.kind in kinds)

    def without(self, index: int) -> FaultSchedule:
        """Return the schedule without its ``index``-th event."""
        return attrs.evolve(self, events=self.events[:index] + self.events[index + 1 :])

    def filter(self, keep: Callable[[FaultEvent], bool]) -> FaultSchedule:
        """Return the schedule with only the events ``keep`` returns true for."""
        return attrs.evolve(self, events=[event for event in self.events if keep(event)])

    def until(self, seconds: float) -> FaultSchedule:
        """Return the schedule of a run cut to ``seconds``: the events that start before it."""
        return FaultSchedule(events=[e for e in self.events if e.at < seconds], duration=seconds)

    def to_json(self) -> str:
        """Return the schedule as JSON text, one event per line: ``{"duration": …, "events": […]}``."""
        lines = [json.dumps(event.to_dict(), separators=(", ", ": ")) for event in self.events]
        body = ",\n    ".join(lines)
        events = f"[\n    {body}\n  ]" if lines else "[]"
        return f'{{\n  "duration": {json.dumps(self.duration)},\n  "events": {events}\n}}\n'

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "fault schedule") -> FaultSchedule:
        """Read a schedule written by :meth:`to_json` (or by hand).

        Raises:
            ConfigError: not JSON, or every bad event, each with its index (``$.events[3].kind``).
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError([f"not valid JSON: {exc}"], source=source) from exc
        if not isinstance(data, dict):
            raise ConfigError([f"$: must be an object, was {type(data).__name__}"], source=source)
        problems = [
            f"$.{key}: unknown key; expected one of: ['duration', 'events']"
            for key in data
            if key not in ("duration", "events")
        ]
        duration = data.get("duration")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or not duration > 0
        ):
            problems.append(f"$.duration: must be a number of seconds > 0 or null, was {duration!r}")
        raw = data.get("events", [])
        if not isinstance(raw, list):
            raise ConfigError([*problems, f"$.events: must be a list, was {raw!r}"], source=source)
        events: list[FaultEvent] = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                problems.append(f"$.events[{index}]: must be an object, was {item!r}")
                continue
            try:
                events.append(FaultEvent.from_dict(item))
            except (ValueError, TypeError) as exc:
                problems.append(f"$.events[{index}]: {exc}")
        if problems:
            raise ConfigError(problems, source=source)
        return cls(events=events, duration=None if duration is None else float(duration))


@final
class FaultTimeline:
    """A cursor over fault events for one component: which are due, which are active now.

    Instants are read with :meth:`due` (each returned once); episodes with :meth:`take` (one
    opportunity: is it hit?) or :meth:`active` (is the episode on?). Probabilities are drawn from
    ``rng``, so a seeded component reproduces its faults. Times are seconds after the run
    started, on the component's (virtual) clock. Events may be added while it runs (:meth:`add`).

    Args:
        events: the events to follow (other components' kinds are simply never asked for).
        rng: the source of every ``probability`` draw.
    """

    def __init__(self, events: Iterable[FaultEvent], *, rng: random.Random) -> None:
        self._rng = rng
        self._by_kind: dict[FaultKind, list[FaultEvent]] = {}
        self._due: dict[FaultKind, int] = {}
        self._hits: dict[int, int] = {}  # id(event) -> hits so far, for ``count``
        self.add(events)

    def add(self, events: Iterable[FaultEvent]) -> None:
        """Follow ``events`` too (those already past become due at once)."""
        for event in events:
            self._by_kind.setdefault(event.kind, []).append(event)
        for queue in self._by_kind.values():
            queue.sort(key=_sort_key)

    def has(self, kind: FaultKind) -> bool:
        """Whether any event of ``kind`` is, or was, on the timeline."""
        return kind in self._by_kind

    def due(self, kind: FaultKind, now: float) -> list[FaultEvent]:
        """Return the events of ``kind`` whose time came (``at <= now``) and not returned before."""
        queue = self._by_kind.get(kind)
        if not queue:
            return []
        start = self._due.get(kind, 0)
        end = start
        while end < len(queue) and queue[end].at <= now:
            end += 1
        self._due[kind] = end
        return queue[start:end]

    def active(self, kind: FaultKind, now: float) -> FaultEvent | None:
        """Return the first episode of ``kind`` whose window holds ``now`` and has hits left."""
        for event in self._by_kind.get(kind, ()):
            if event.at > now:
                return None
            if now < event.end and (event.count is None or self._hits.get(id(event), 0) < event.count):
                return event
        return None

    def take(
        self, kinds: FaultKind | tuple[FaultKind, ...], now: float, *, scope: str = "all"
    ) -> FaultEvent | None:
        """Decide one opportunity at ``now``: the episode that hits it, or None.

        With several ``kinds`` they compete for the one opportunity: the first live episode of
        each, in the order given, and a single draw (as a 503, a 429 and a lost reply exclude
        one another for one request). A hit uses up one of the episode's ``count``. ``scope``
        (``submit`` or ``other``) skips request episodes meant for the other requests.
        """
        candidates: list[FaultEvent] = []
        for kind in (kinds,) if isinstance(kinds, FaultKind) else kinds:
            for event in self._by_kind.get(kind, ()):
                if event.at > now:
                    break
                if now >= event.end or (
                    event.count is not None and self._hits.get(id(event), 0) >= event.count
                ):
                    continue
                if scope != "all" and event.params.get("scope", "all") not in ("all", scope):
                    continue
                candidates.append(event)
                break
        if not candidates:
            return None
        hit: FaultEvent | None = None
        if candidates[0].probability >= 1.0:
            hit = candidates[0]
        else:
            draw = self._rng.random()
            for event in candidates:
                if draw < event.probability:
                    hit = event
                    break
                draw -= event.probability
        if hit is not None:
            self._hits[id(hit)] = self._hits.get(id(hit), 0) + 1
        return hit
