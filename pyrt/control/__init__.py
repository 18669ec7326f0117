"""Operator control: the local control socket (``pyrt halt`` / ``resume`` / ``status``) and the
actor that turns its requests into ``control.*`` messages.
"""

from __future__ import annotations

from .actor import ControlActor as ControlActor
from .server import ControlError as ControlError, send_command as send_command, serve_control as serve_control

__all__ = ["ControlActor", "ControlError", "send_command", "serve_control"]
