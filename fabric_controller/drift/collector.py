"""The receive-only route collector: ExaBGP peering with every ToR, feeding the RIB.

::

    controller (this)  <-- unix socket -->  relay.py  <-- stdin/stdout -->  exabgp
    listens first, reads every line           spawned by ExaBGP            passive, add-path

The socket reader does nothing but parse a line and update the in-memory RIB, so
ExaBGP's output is always drained (a stalled reader would stall ExaBGP, and every
session would drop on its hold timer). Each new relay connection is a resync point:
lines may have been lost, so the collector asks every ToR for a route refresh.

Hook for the controller's ``main``: ``Collector(settings.collector)``, ``await start()``,
``await stop()``, and ``rib()`` for the current view (the drift service does this).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric_controller.drift import exabgpconf
from fabric_controller.drift import messages as m
from fabric_controller.drift.errors import CollectorConfigError, MessageError
from fabric_controller.drift.metrics import DriftMetrics
from fabric_controller.drift.rib import Rib, TorView
from fabric_controller.drift.settings import CollectorSettings, IPNetwork
from fabric_controller.drift.supervisor import Backoff, Supervisor

log = logging.getLogger(__name__)
RELAY = Path(__file__).with_name("relay.py")
LINE_LIMIT = 64 * 1024 * 1024
"""Longest API line accepted (an UPDATE with thousands of NLRI is one JSON line)."""
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SOCKET_PATH_MAX = 107
"""sun_path holds 108 bytes with the terminating NUL."""


@dataclass(frozen=True)
class CollectorStatus:
    running: bool
    pid: int | None
    starts: int
    connected: bool
    lines: int
    message_errors: int


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        *,
        metrics: DriftMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or DriftMetrics()
        self.clock = clock
        self._rib = Rib(
            settings.tors,
            versions=m.versions(settings.families),
            scope=settings.pod_cidrs,
            stale_seconds=settings.stale_seconds,
            sync_timeout=settings.sync_timeout_seconds,
        )
        state = settings.state_dir
        self.config_path = state / "exabgp.conf"
        self.socket_path = state / "relay.sock"
        self._server: asyncio.AbstractServer | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._supervisor: Supervisor | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._connections_this_run = 0
        self.lines = 0
        self.message_errors = 0

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the relay socket, then start ExaBGP (the relay connects at once)."""
        s = self.settings
        if len(str(self.socket_path).encode()) > SOCKET_PATH_MAX:
            raise CollectorConfigError(
                f"state_dir {s.state_dir} is too long for a unix socket path", field="state_dir"
            )
        s.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.config_path.write_text(self.render())
        self.config_path.chmod(0o600)  # it may hold MD5 passwords
        self.socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.socket_path), limit=LINE_LIMIT
        )
        env = exabgpconf.environment(s, user=getpass.getuser(), path=SYSTEM_PATH)
        self._supervisor = Supervisor(
            exabgpconf.argv(s, config=self.config_path),
            env=env,
            pidfile=s.state_dir / "exabgp.pid",
            backoff=Backoff(
                s.restart_backoff_seconds, s.restart_backoff_max_seconds, s.restart_stable_seconds
            ),
            stop_timeout=s.stop_timeout_seconds,
            on_start=self._exabgp_started,
            on_exit=self._exabgp_exited,
        )
        await self._supervisor.start()
        if s.refresh_interval_seconds > 0:
            self._spawn(self._refresh_every(s.refresh_interval_seconds))

    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop()
            self._supervisor = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.socket_path.unlink(missing_ok=True)

    def render(self) -> str:
        s = self.settings
        relay = [str(s.python), "-I", str(RELAY), str(self.socket_path)]
        relay += [
            str(s.relay_backlog_lines),
            str(s.relay_retry_seconds),
            str(s.relay_flush_seconds),
        ]
        return exabgpconf.render_config(s, relay=relay, passwords=self._passwords())

    def _passwords(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for tor in self.settings.tors:
            if tor.md5_password_file is None:
                continue
            try:
                out[tor.name] = tor.md5_password_file.read_text().strip()
            except OSError as exc:
                raise CollectorConfigError(
                    f"MD5 password file of ToR {tor.name!r}: {exc}", field="md5_password_file"
                ) from exc
        return out

    # -- the view -------------------------------------------------------------------

    def rib(self) -> tuple[TorView, ...]:
        """Every ToR's current paths and session state (stale paths past their time dropped)."""
        return self._rib.snapshot(now=self.clock())

    def set_scope(self, cidrs: Iterable[IPNetwork]) -> None:
        """Keep paths inside ``cidrs`` (and ``pod_cidrs``); a wider scope asks for a refresh."""
        wider = self._rib.set_scope([*self.settings.pod_cidrs, *cidrs], now=self.clock())
        if wider and self._writer is not None:
            self._spawn(self.refresh())

    def status(self) -> CollectorStatus:
        pid = self._supervisor.pid if self._supervisor is not None else None
        starts = self._supervisor.starts if self._supervisor is not None else 0
        return CollectorStatus(
            running=pid is not None,
            pid=pid,
            starts=starts,
            connected=self._writer is not None,
            lines=self.lines,
            message_errors=self.message_errors,
        )

    async def refresh(self) -> int:
        """Ask every established session to resend its table; returns commands sent."""
        writer = self._writer
        if writer is None:
            return 0
        now = self.clock()
        sent = 0
        for peer in self._rib.peers_up():
            for version in sorted(self._rib.by_peer[peer].sessions[peer].versions):
                self._rib.refresh_asked(peer, version, now=now)
                writer.write(exabgpconf.refresh_command(peer, version).encode() + b"\n")
                sent += 1
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return sent

    # -- the relay connection -----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = writer
        self._connections_this_run += 1
        if self._connections_this_run > 1:
            log.warning("relay reconnected; asking the ToRs for a route refresh")
            self._spawn(self.refresh())
        try:
            while raw := await reader.readline():  # until the relay closes
                self.feed(raw.decode(errors="replace"))
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            log.error("relay connection failed: %r", exc)
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()

    def feed(self, line: str) -> None:
        """One line from ExaBGP into the RIB. Never raises: a bad line is counted."""
        self.lines += 1
        if not line.strip():
            return
        try:
            event = m.parse_line(line, now=self.clock())
        except MessageError as exc:
            self.message_errors += 1
            self.metrics.message_errors.inc()
            log.warning("unreadable exabgp line: %s", exc.detail)
            return
        if isinstance(event, m.State | m.Notification):
            log.info(
                "collector session %s: %s",
                event.peer,
                _describe(event),
                extra={"peer": str(event.peer)},
            )
        elif isinstance(event, m.Ack) and event.text == "error":
            log.warning("exabgp refused a collector command")
        if not self._rib.apply(event, now=self.clock()):
            log.warning("event from a peer that is not a configured ToR: %r", event)

    def _exabgp_started(self, pid: int) -> None:
        self._connections_this_run = 0
        self.metrics.exabgp_starts.inc()

    def _exabgp_exited(self, code: int | None) -> None:
        self._rib.process_lost(now=self.clock(), reason=f"exabgp exited ({code})")

    async def _refresh_every(self, interval: float) -> None:
        while self._server is not None:  # stop() cancels it
            await asyncio.sleep(interval)
            await self.refresh()

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _describe(event: m.State | m.Notification) -> str:
    if isinstance(event, m.State):
        return f"{event.state} {event.reason}".strip()
    return f"notification {event.code}/{event.subcode} {event.message}".strip()
