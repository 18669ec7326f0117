"""Commands to the running tree: ``control.command``."""

from __future__ import annotations

from typing import ClassVar, Final, final

import attrs

from .._validators import non_empty

__all__ = ["CONTROL_COMMANDS", "OPERATOR", "ControlApplied", "ControlCommand"]

CONTROL_COMMANDS: Final = frozenset({"halt", "reduce", "resume"})
"""What a :class:`ControlCommand` may ask for."""

OPERATOR: Final = "operator"
"""The ``source`` of a command a person gave (``pyrt halt``, SIGUSR1)."""


def _is_command(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in CONTROL_COMMANDS:
        raise ValueError(f"{attribute.name} must be one of {sorted(CONTROL_COMMANDS)}, was {value!r}")


def _has_text(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be blank")


@final
@attrs.frozen(kw_only=True)
class ControlCommand:
    """Change the trading state: ``halt`` (nothing new is approved; with ``cancel_orders`` open
    orders are cancelled at the venue), ``reduce`` (only exposure-reducing orders pass) or
    ``resume``.

    ``source`` says who asked: ``operator`` (``pyrt halt``, SIGUSR1) or the part of pyrt that
    found a reason (``execution`` on a contradictory fill, ``reconciler`` on an account that
    changed under the run). The risk actor applies it; the change it makes is ``risk.state``.
    Commands travel on the bus, so the journal has them and a replay sees them.
    """

    TOPIC: ClassVar[str] = "control.command"
    command: str = attrs.field(validator=_is_command)
    reason: str = attrs.field(validator=_has_text)
    source: str = attrs.field(validator=non_empty)
    cancel_orders: bool = False
    ts_event: int
    ts_init: int

    @property
    def automatic(self) -> bool:
        """Whether pyrt itself asked (not an operator)."""
        return self.source != OPERATOR


@final
@attrs.frozen(kw_only=True)
class ControlApplied:
    """The risk actor's answer to a :class:`ControlCommand`: it was applied, and the trading
    state is now ``state`` (a command that changes nothing, e.g. ``halt`` while halted, is
    applied too). ``command``, ``source`` and ``command_ts`` name the command answered (its
    ``ts_event``). Published for every command, so the control socket can reply without reading
    the risk actor, and a replay sees when each command took effect.
    """

    TOPIC: ClassVar[str] = "control.applied"
    command: str = attrs.field(validator=_is_command)
    source: str = attrs.field(validator=non_empty)
    command_ts: int
    state: str = attrs.field(validator=non_empty)
    state_reason: str
    ts_event: int
    ts_init: int

    def answers(self, command: ControlCommand) -> bool:
        """Whether this is the answer to ``command``."""
        return (
            self.command == command.command
            and self.source == command.source
            and self.command_ts == command.ts_event
        )
