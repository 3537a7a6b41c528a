"""The agent's end of the ExaBGP API bridge: a unix-socket server for one bridge.

The reader task is the only consumer of ExaBGP's output and never waits for anything
but the socket: acks resolve futures, events go to a plain callback that must not block
(the speaker schedules its replays as tasks). A stalled reader would back up through the
bridge into ExaBGP and freeze it (fabric-lab.md pitfall 1).

Acks are matched to commands in FIFO order: :meth:`ApiChannel.send` writes a line and
queues its future in one synchronous step, so the order of the queue is the order of
the lines on the wire. A new bridge connection replaces the old one; commands still
waiting for an ack on the old one fail with :class:`ChannelClosed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from node_agent.bgp.commands import Ack, Line, Shutdown, TextLine, parse_line
from node_agent.errors import BgpConfigError

log = logging.getLogger("flatnet.agent.bgp")

LINE_LIMIT = 4 << 20
"""Longest line accepted from the bridge (a JSON UPDATE can be long)."""
SUN_PATH_MAX = 107


class ChannelClosed(Exception):
    """The bridge connection went away before ExaBGP acknowledged the command."""


@dataclass
class _Pending:
    command: str
    future: asyncio.Future[bool]
    sent_at: float


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    pending: deque[_Pending] = field(default_factory=deque)


class ApiChannel:
    """Unix-socket server the bridge connects to; sends commands, hands out events."""

    def __init__(
        self,
        *,
        path: Path,
        on_line: Callable[[Line], None],
        on_connect: Callable[[], None],
        on_ack: Callable[[str, bool, float], None] | None = None,
        close_grace: float = 1.0,
    ) -> None:
        """``close_grace``: seconds a reader may take to see EOF when the channel closes."""
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            raise BgpConfigError(f"API socket path {path} is too long for a unix socket")
        self._path = path
        self._on_line = on_line
        self._on_connect = on_connect
        self._on_ack = on_ack
        self._close_grace = close_grace
        self._server: asyncio.Server | None = None
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._readers: set[asyncio.Task[None]] = set()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def open(self) -> None:
        """Bind and listen; must happen before ExaBGP (and so the bridge) starts."""
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        self._server = await asyncio.start_unix_server(
            self._accept, path=str(self._path), limit=LINE_LIMIT
        )
        os.chmod(self._path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._drop(self._conn)
        # Closing the transport ends each reader with EOF; cancelling a connection task
        # instead makes Python 3.11's asyncio.streams log a spurious error.
        if self._readers:
            _, stuck = await asyncio.wait(self._readers, timeout=self._close_grace)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    async def wait_connected(self, limit: float) -> None:
        """Return once a bridge is connected; raise TimeoutError after ``limit`` seconds."""
        if self._conn is None:
            await asyncio.wait_for(self._connected.wait(), limit)

    def send(self, command: str) -> asyncio.Future[bool]:
        """Write one command; the future resolves to True on ``done``, False on ``error``."""
        conn = self._conn
        if conn is None:
            raise ChannelClosed("the API bridge is not connected")
        loop = asyncio.get_running_loop()
        pending = _Pending(command, loop.create_future(), loop.time())
        pending.future.add_done_callback(_retrieve)
        conn.writer.write(command.encode() + b"\n")
        conn.pending.append(pending)
        return pending.future

    def disconnect(self) -> None:
        """Drop the current bridge connection (ExaBGP died or is being replaced)."""
        self._drop(self._conn)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._readers.add(task)
        conn = _Connection(writer)
        self._drop(self._conn)
        self._conn = conn
        self._connected.set()
        log.info("ExaBGP API bridge connected")
        try:
            self._on_connect()
            await self._read(reader, conn)
        finally:
            self._drop(conn)
            self._readers.discard(task)

    async def _read(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        while self._conn is conn:
            try:
                raw = await reader.readline()
            except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
                log.warning("ExaBGP API bridge read failed: %s", exc)
                return
            if not raw:
                log.info("ExaBGP API bridge disconnected")
                return
            line = parse_line(raw.decode(errors="replace"))
            if isinstance(line, Ack):
                self._resolve(conn, line.ok)
            elif isinstance(line, Shutdown):
                log.info("ExaBGP is shutting down")
            elif not isinstance(line, TextLine) or line.text:
                self._dispatch(line)

    def _resolve(self, conn: _Connection, ok: bool) -> None:
        if not conn.pending:
            log.warning("ExaBGP sent an ack for no command")
            return
        pending = conn.pending.popleft()
        if not ok:
            log.warning("ExaBGP refused the command %r", pending.command)
        if self._on_ack is not None:
            elapsed = asyncio.get_running_loop().time() - pending.sent_at
            self._on_ack(pending.command, ok, elapsed)
        if not pending.future.done():
            pending.future.set_result(ok)

    def _dispatch(self, line: Line) -> None:
        try:
            self._on_line(line)
        except Exception:  # the reader must survive a bug in a handler
            log.exception("handling an ExaBGP event failed")

    def _drop(self, conn: _Connection | None) -> None:
        if conn is None:
            return
        if self._conn is conn:
            self._conn = None
            self._connected.clear()
        conn.writer.close()
        while conn.pending:
            future = conn.pending.popleft().future
            if not future.done():
                future.set_exception(ChannelClosed("the API bridge disconnected"))


def _retrieve(future: asyncio.Future[bool]) -> None:
    """Mark a failure as seen: a caller that gave up waiting must not cause a warning."""
    if not future.cancelled():
        future.exception()
