"""httpx over the simulated network: httpcore's own HTTP/1.1 code on :class:`SimStream` connections.

Only the network backend is replaced (``httpcore.AsyncNetworkBackend``), so connection pooling,
keep-alive, h11 and httpx's error mapping all run as they do live. Keep-alive connections never
expire by time: httpcore measures their age on the wall clock (``time.monotonic``), which would
make a virtual-time run depend on how fast the machine is; a connection the venue closed is still
noticed (``is_readable``) and replaced.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator
from typing import Final, final

import httpcore
import httpx
import trio

from ._network import SimNetwork, SimStream

__all__ = ["simnet_transport"]

_MAX_CONNECTIONS: Final = 20


@contextlib.contextmanager
def _deadline(timeout: float | None, error: type[Exception]) -> Iterator[None]:
    try:
        with trio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
            yield
    except trio.TooSlowError as exc:
        raise error(f"no progress within {timeout} s (simulated network)") from exc


@final
class _CoreStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: SimStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109  # httpcore's interface passes timeouts
        with _deadline(timeout, httpcore.ReadTimeout):
            try:
                return await self._stream.receive_some(max_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109  # httpcore's interface passes timeouts
        if not buffer:
            return
        with _deadline(timeout, httpcore.WriteTimeout):
            try:
                await self._stream.send_all(buffer)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface passes timeouts
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the simulated network carries http:// only")

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable":
            return self._stream.is_readable()
        return None


@final
class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, network: SimNetwork, label: str) -> None:
        self._network = network
        self._label = label

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface passes timeouts
        local_address: str | None = None,
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _deadline(timeout, httpcore.ConnectTimeout):
            try:
                stream = await self._network.connect(host, port, label=self._label)
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        return _CoreStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface passes timeouts
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the simulated network has no Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._network.clock.sleep(seconds)


def simnet_transport(network: SimNetwork, *, label: str = "rest") -> httpx.AsyncBaseTransport:
    """Return an httpx transport whose connections go through ``network``.

    Args:
        network: the simulated network.
        label: the name its connections carry (``lost_reply_probability`` applies to ``rest``).
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=httpx.Limits(keepalive_expiry=None))
    # httpx takes no network backend, so its pool is replaced by one built the same way with
    # ours; tests/unit/test_simnet.py fails if httpx stops keeping the pool in ``_pool``
    if not isinstance(transport._pool, httpcore.AsyncConnectionPool):  # pragma: no cover - canary
        raise RuntimeError("httpx moved AsyncHTTPTransport._pool; update pyrt.venues.simnet.simnet_transport")
    transport._pool = httpcore.AsyncConnectionPool(
        max_connections=_MAX_CONNECTIONS,
        max_keepalive_connections=_MAX_CONNECTIONS,
        keepalive_expiry=None,
        http1=True,
        http2=False,
        network_backend=_Backend(network, label),
    )
    return transport
