"""A real TCP proxy on loopback for network-fault tests (chaos without mocks).

Put it between a client and a server and misbehave on command:

- ``blackhole()``: stop forwarding in both directions *without closing anything*, the way
  a dead Wi-Fi link or a crashed NAT looks: the proxy stops reading, so the kernel buffers
  fill and the sender blocks, and no FIN or RST ever arrives. New connections are accepted
  but never reach the server. ``restore()`` resumes forwarding (what was held back is
  delivered, like TCP retransmission after the link returns).
- ``reset()``: abort every open connection with a TCP RST on both sides.
- ``latency_s``: hold every chunk that long before forwarding it (each direction).
- ``throttle_bps``: forward at most that many bytes per second (each direction).
- ``set_target()``: send new connections to another server (a hub restarted on another port).

Counters (``accepted``, ``active``, ``bytes_up``, ``bytes_down``) let a test assert how many
connection attempts a client made. Everything runs on the caller's asyncio loop::

    async with TcpProxy("127.0.0.1", hub_port) as proxy:
        client = connect(f"ws://127.0.0.1:{proxy.port}/v1/subscribe")
        proxy.blackhole()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from types import TracebackType

_CHUNK = 64 * 1024


class TcpProxy:
    """Forwards every connection accepted on ``host:port`` to ``target_host:target_port``."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        #: Where new connections are forwarded.
        self.target_host = target_host
        self.target_port = target_port
        #: Listening address; port 0 picks a free port at start().
        self.host = host
        self._requested_port = port
        #: Extra delay per chunk and rate limit per direction (None: unlimited).
        self.latency_s = 0.0
        self.throttle_bps: float | None = None
        #: Connections accepted since start, and currently open.
        self.accepted = 0
        #: Bytes forwarded client -> server and server -> client.
        self.bytes_up = 0
        self.bytes_down = 0
        #: Set while forwarding; cleared by blackhole().
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        #: Open (client, upstream) writer pairs, for reset().
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._server = await asyncio.start_server(
            self._accept, self.host, self._requested_port, reuse_address=True
        )

    async def stop(self) -> None:
        """Stop listening and abort every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.reset()
        self._flowing.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active(self) -> int:
        """Connections currently open on the client side."""
        return len(self._links)

    # ----------------------------------------------------------------- faults

    def blackhole(self) -> None:
        """Stop forwarding without closing: peers see silence, not an error."""
        self._flowing.clear()

    def restore(self) -> None:
        """Forward again (held-back data and connections proceed)."""
        self._flowing.set()

    def reset(self) -> None:
        """Abort every open connection with an RST on both sides."""
        for client, upstream in list(self._links):
            _abort_with_rst(client)
            if upstream is not None:
                _abort_with_rst(upstream)
        self._links.clear()

    def set_target(self, host: str, port: int) -> None:
        """Forward new connections to another address (open ones keep theirs)."""
        self.target_host, self.target_port = host, port

    # ----------------------------------------------------------------- forwarding

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task rather than the one asyncio makes for a coroutine callback: stop()
        # cancels it, and Python 3.12.1 logs an error for a cancelled callback task.
        self.accepted += 1
        task = asyncio.get_running_loop().create_task(self._link(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._links.add(link)
        try:
            await self._flowing.wait()  # a blackholed path does not reach the server
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                _abort_with_rst(writer)  # the client sees what the server's side did
                return
            if link not in self._links:  # reset() while connecting
                _abort_with_rst(up_writer)
                return
            self._links.discard(link)
            link = (writer, up_writer)
            self._links.add(link)
            await asyncio.gather(
                self._pump(reader, up_writer, upstream=True),
                self._pump(up_reader, writer, upstream=False),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(link)
            for side in link:
                if side is not None and not side.is_closing():
                    side.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        """Copy one direction, honouring blackhole, latency and throttle."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read_side() -> None:
            while True:
                await self._flowing.wait()
                try:
                    data = await reader.read(_CHUNK)
                except OSError:
                    data = b""
                await queue.put((time.monotonic() + self.latency_s, data))
                if not data:
                    return

        async def write_side() -> None:
            while True:
                due, data = await queue.get()
                await self._flowing.wait()
                if not data:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                for piece in self._pieces(data):
                    if self.throttle_bps:  # each piece waits for its share of the rate
                        await asyncio.sleep(len(piece) / self.throttle_bps)
                    await self._flowing.wait()
                    writer.write(piece)
                    await writer.drain()
                    if upstream:
                        self.bytes_up += len(piece)
                    else:
                        self.bytes_down += len(piece)

        reading = asyncio.create_task(read_side())
        try:
            await write_side()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await reading

    def _pieces(self, data: bytes) -> list[bytes]:
        """Unthrottled: the chunk whole; throttled: slices of 1/20 s worth each, so that
        a big chunk trickles out instead of leaving in one burst after a long pause."""
        if not self.throttle_bps:
            return [data]
        size = max(1, int(self.throttle_bps / 20))
        return [data[i : i + size] for i in range(0, len(data), size)]


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close so that the peer gets an RST rather than a FIN (SO_LINGER with timeout 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
