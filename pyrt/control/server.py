"""The local control socket: ``pyrt halt`` / ``pyrt resume`` / ``pyrt status`` talk to a running ``pyrt run``.

A Unix domain socket in the run's data folder (``<data_dir>/pyrt.sock``, mode 0600: only the
owner may halt the system). One request per connection, one JSON object per line each way::

    → {"command": "halt", "reason": "fat finger on MSFT", "cancel_orders": true}
    ← {"ok": true, "state": "halted", ...}

Commands: ``halt`` (nothing new is approved; with ``cancel_orders`` open orders are cancelled at
the venue), ``reduce`` (only exposure-reducing orders pass), ``resume`` and ``status``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final, final

import attrs
import orjson
import trio

from ..errors import PyrtError
from ..messages import OPERATOR, ControlCommand

__all__ = ["COMMANDS", "ControlError", "ControlRequest", "check_socket_free", "send_command", "serve_control"]

logger = logging.getLogger(__name__)

COMMANDS: Final = frozenset({"halt", "reduce", "resume", "status"})
MAX_REQUEST: Final = 64 * 1024
MAX_SOCKET_PATH: Final = 104  # sun_path is 108 bytes on Linux, 104 on macOS


class ControlError(PyrtError):
    """The control socket could not be reached, or refused the request."""


@final
@attrs.frozen(kw_only=True)
class ControlRequest:
    """One operator command."""

    command: str
    reason: str
    cancel_orders: bool = False

    @classmethod
    def parse(cls, payload: bytes) -> ControlRequest:
        """Parse one request line.

        Raises:
            ValueError: not a JSON object, an unknown command, or fields of the wrong type.
        """
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"request must be one JSON object, was not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"request must be a JSON object, was {type(data).__name__}")
        unknown = sorted(set(data) - {"command", "reason", "cancel_orders"})
        if unknown:
            raise ValueError(f"unknown request keys {unknown}")
        command = data.get("command")
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {sorted(COMMANDS)}, was {command!r}")
        reason = data.get("reason", f"{command} by the operator")
        cancel = data.get("cancel_orders", False)
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"reason must be a non-empty string, was {reason!r}")
        if not isinstance(cancel, bool):
            raise ValueError(f"cancel_orders must be true or false, was {cancel!r}")
        return cls(command=command, reason=reason, cancel_orders=cancel)

    def to_message(self, *, now_ns: int) -> ControlCommand:
        """Return this request as the operator's ``control.command``, stamped ``now_ns``.

        Raises:
            ValueError: the request is ``status``, which changes nothing and is no command.
        """
        return ControlCommand(
            command=self.command,
            reason=self.reason,
            source=OPERATOR,
            cancel_orders=self.cancel_orders,
            ts_event=now_ns,
            ts_init=now_ns,
        )


Handler = Callable[[ControlRequest], Awaitable[Mapping[str, object]]]


async def _handle(stream: trio.SocketStream, handler: Handler) -> None:
    async with stream:
        buf = b""
        with trio.move_on_after(5):
            while b"\n" not in buf and len(buf) <= MAX_REQUEST:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                buf += chunk
        try:
            request = ControlRequest.parse(buf.split(b"\n", 1)[0])
        except ValueError as exc:
            logger.warning("control request refused: %s", exc)
            reply: Mapping[str, object] = {"ok": False, "error": str(exc)}
        else:
            logger.info(
                "control: %s (%s)", request.command, request.reason
            )  # the change itself is logged once
            reply = {"ok": True, **(await handler(request))}
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(orjson.dumps(reply) + b"\n")


def _prepare(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ControlError(
            f"control socket path is too long for a Unix socket ({len(str(path))} > {MAX_SOCKET_PATH}): {path}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:  # a socket left by a crashed run is stale; one that answers belongs to a live run
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(path))
        except OSError:
            path.unlink()
        else:
            raise ControlError(f"another pyrt run is serving {path}; stop it or use another data_dir")


def check_socket_free(path: Path) -> None:
    """Make sure no live run serves ``path`` (removing a socket a crashed run left behind).

    A run calls it before it starts anything, so a second ``pyrt run`` in the same data folder
    stops with one clear line instead of a control actor that crashes at start.

    Raises:
        ControlError: another live process serves ``path``, or the path is too long.
    """
    _prepare(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def serve_control(
    path: Path, handler: Handler, *, task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the control socket at ``path`` until cancelled; remove it on exit.

    Raises:
        ControlError: another live process is serving ``path``.
    """
    _prepare(path)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            while True:
                stream = await listener.accept()
                nursery.start_soon(_handle, stream, handler)
    finally:
        _remove(path)  # first: closing is a checkpoint, and the run is usually being cancelled
        await listener.aclose()


def send_command(
    path: Path, command: str, *, reason: str | None = None, cancel_orders: bool = False, timeout: float = 10.0
) -> dict[str, object]:
    """Send one command to a running ``pyrt run`` and return its reply (blocking; for the CLI).

    Raises:
        ControlError: no run is listening at ``path``, it timed out, or it refused the request.
    """
    request: dict[str, object] = {"command": command, "cancel_orders": cancel_orders}
    if reason is not None:
        request["reason"] = reason
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(orjson.dumps(request) + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except FileNotFoundError as exc:
        raise ControlError(f"no pyrt run is listening at {path} (is it running with this data_dir?)") from exc
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            raise ControlError(f"no pyrt run is listening at {path} (stale socket)") from exc
        raise ControlError(f"control socket {path}: {exc}") from exc
    try:
        reply = orjson.loads(buf)
    except orjson.JSONDecodeError as exc:
        raise ControlError(f"control socket {path} sent an unreadable reply: {buf[:80]!r}") from exc
    if not isinstance(reply, dict):
        raise ControlError(f"control socket {path} sent an unexpected reply: {reply!r}")
    if not reply.get("ok"):
        raise ControlError(f"refused: {reply.get('error')}")
    return reply
