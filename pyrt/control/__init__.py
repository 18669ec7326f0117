"""Operator control: the local control socket and the actor that puts its commands on the bus.

- :func:`serve_control` serves the Unix socket in the run's data folder (mode 0600) that
  ``pyrt halt`` / ``reduce`` / ``resume`` / ``status`` talk to; :func:`send_command` is the
  client side the CLI uses; :class:`ControlError` is what either raises.
- :class:`ControlActor` runs that socket inside the tree and turns each request into a
  ``control.command`` message (:class:`~pyrt.messages.ControlCommand`), which the risk actor
  applies and the journal records.
"""

from __future__ import annotations

from .actor import ControlActor as ControlActor
from .server import ControlError as ControlError, send_command as send_command, serve_control as serve_control

__all__ = ["ControlActor", "ControlError", "send_command", "serve_control"]
