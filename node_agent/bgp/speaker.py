"""The ExaBGP speaker: the :class:`~node_agent.announcer.Announcer` of a node with ToR peers.

It keeps one set, the prefixes the node wants announced (``desired``), and per peer what
the running ExaBGP has been told (``sent``) and has acknowledged (``acked``). Every
change is written under one lock, so the order of commands on the wire is the order of
the decisions; acks are awaited outside it, so many callers pipeline.

Graceful restart (fabric-lab.md section 7), done as the recipe says:

* ExaBGP runs with ``manual-eor``; End-of-RIB is ours to send.
* On every session ``up`` the speaker replays every desired prefix of the session's
  families and then sends End-of-RIB, in one locked write.
* Right after ``start`` the speaker does not yet know what the node holds: it owes the
  End-of-RIB until the daemon's first :meth:`sync` (or ``first_sync_timeout``). Ending
  the restart earlier would make the ToR flush the node's routes.

An ExaBGP that dies loses its routes; the supervisor starts a new one, whose sessions
come up and get the replay. Until then the ToR keeps the routes as stale.

Drain: :meth:`drain` withdraws everything and sets ``drained``; from then on what goes
on the wire is the empty set (:meth:`_wanted`), whatever ``announce``, ``sync``, a
session-up replay or a bridge reconnect would otherwise send, while ``desired`` keeps
following the node's blocks so that :meth:`undrain` can announce them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from node_agent.announcer import AnnouncerStatus, Prefix
from node_agent.bgp import exabgp_conf, launch
from node_agent.bgp.channel import ApiChannel, ChannelClosed
from node_agent.bgp.commands import (
    Address,
    Line,
    NotificationEvent,
    StateEvent,
    sorted_prefixes,
)
from node_agent.bgp.metrics import SpeakerMetrics
from node_agent.bgp.peers import PeerState
from node_agent.bgp.settings import BgpPeer, BgpSettings
from node_agent.bgp.supervisor import ExabgpSupervisor
from node_agent.errors import BgpCommandError, BgpTimeoutError

log = logging.getLogger("flatnet.agent.bgp")

MAX_ATTEMPTS = 5
"""Times one change is written again after the bridge went away, within ``ack_timeout``."""

Build = Callable[[], list[asyncio.Future[bool]]]


class ExabgpSpeaker:
    """Announces the node's blocks to its ToRs through an ExaBGP it supervises."""

    def __init__(
        self,
        *,
        peers: Sequence[BgpPeer],
        settings: BgpSettings,
        state_dir: Path,
        node_addresses: Sequence[Address],
        registry: CollectorRegistry | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        """``wrapper`` prefixes ExaBGP's command line (``ip netns exec NS`` in labs)."""
        self._peer_settings = list(peers)
        self._settings = settings
        self._state_dir = state_dir
        self._node_addresses = list(node_addresses)
        self._wrapper = list(wrapper)
        self._metrics = SpeakerMetrics(registry or CollectorRegistry())
        self._peers: dict[Address, PeerState] = {}
        self._desired: set[Prefix] = set()
        self._drained = False
        self._primed = False
        self._fresh = False
        """ExaBGP was (re)started and its bridge has not connected yet."""
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._channel = ApiChannel(
            path=state_dir / "exabgp-api.sock",
            on_line=self._on_line,
            on_connect=self._on_connect,
            on_ack=self._on_ack,
            close_grace=settings.close_grace,
        )
        self._supervisor: ExabgpSupervisor | None = None
        self._launched = False
        """The last launch succeeded: ExaBGP runs (or is restarted) on ``_peer_settings``."""

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start ExaBGP; the ToR keeps the node's routes until the first :meth:`sync`."""
        if self._supervisor is not None and self._supervisor.pid is not None:
            return
        await self._launch(primed=False)

    async def set_peers(self, peers: Sequence[BgpPeer]) -> bool:
        """Run with ``peers`` from now on; False (nothing done) when they are the ones in use.

        A ToR that is no longer a peer first gets an explicit withdraw of every prefix and
        End-of-RIB, so it drops the node's routes now rather than when its graceful-restart
        timer ends. Then ExaBGP is restarted on the new configuration exactly as an agent
        restart does it: the ToRs that stay keep the routes through graceful restart and get
        the replay and End-of-RIB when their session is up again; a new ToR gets the replay.
        """
        if self._launched and _peer_key(peers) == _peer_key(self._peer_settings):
            return False
        leaving = {str(p.address) for p in self._peer_settings} - {str(p.address) for p in peers}
        if leaving and self._channel.connected:
            await self._withdraw_from(leaving)
        primed = self._primed
        await self.stop()
        self._launched = False  # a failed launch below is tried again on the next call
        self._peer_settings = list(peers)
        await self._launch(primed=primed)
        return True

    async def _withdraw_from(self, addresses: set[str]) -> None:
        def departing(peer: PeerState) -> bool:  # whatever its state: the speaker may not
            return str(peer.session.peer) in addresses  # have heard of a session up yet

        try:
            await self._apply(self._withdraw_all(departing), "withdraw from departing peers")
        except (BgpCommandError, BgpTimeoutError) as exc:  # their restart timer flushes them
            log.warning("departing peers %s: %s", ", ".join(sorted(addresses)), exc)
            return
        await asyncio.sleep(self._settings.depart_settle)

    async def _launch(self, *, primed: bool) -> None:
        sessions = exabgp_conf.resolve_sessions(
            self._peer_settings,
            node_addresses=self._node_addresses,
            passwords=launch.read_passwords(self._peer_settings),
        )
        batch = self._settings.batch_size
        self._peers = {s.peer: PeerState(s, self._metrics, batch_size=batch) for s in sessions}
        self._state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self._state_dir / "exabgp.conf"
        bridge = launch.bridge_argv(self._settings, self._channel.path)
        launch.write_private(config, exabgp_conf.render(sessions, process_argv=bridge))
        self._supervisor = ExabgpSupervisor(
            argv=[*self._wrapper, str(launch.executable(self._settings)), "server", str(config)],
            env=launch.environment(self._settings),
            pidfile=self._state_dir / "exabgp.pid",
            marker=str(config),
            settings=self._settings,
            on_spawn=self._on_spawn,
            on_exit=self._on_exit,
        )
        self._primed = primed
        await self._channel.open()
        try:
            await self._supervisor.start()
        except BaseException:
            await self._channel.close()
            raise
        self._spawn(self._first_sync_deadline())
        self._launched = True

    async def stop(self) -> None:
        """Stop ExaBGP without withdrawing: graceful restart keeps the routes at the ToR."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._supervisor is not None:
            await self._supervisor.stop()
        await self._channel.close()
        for peer in self._peers.values():
            peer.reset("speaker stopped")
        self._metrics.exabgp_up.set(0)

    async def drain(self) -> None:
        """Withdraw every route explicitly and end graceful restart at the ToR; nothing is
        announced again until :meth:`undrain` (or a new speaker)."""
        self._drained = True
        self._primed = True
        self._metrics.prefixes_desired.set(0)
        await self._apply(self._withdraw_all(lambda peer: True), "drain")

    def _withdraw_all(self, which: Callable[[PeerState], bool]) -> Build:
        """Every prefix ExaBGP may have announced, withdrawn from the chosen peers, then
        End-of-RIB (so a ToR in graceful restart drops its stale copies too)."""

        def build() -> list[asyncio.Future[bool]]:
            futures = []
            for peer in filter(which, self._peers.values()):
                futures += peer.withdraw(self._channel, self._desired | peer.sent | peer.acked)
                futures += peer.end_of_rib(self._channel)
            return futures

        return build

    async def undrain(self) -> None:
        """Announce the desired prefixes again after a :meth:`drain`."""
        self._drained = False
        await self.sync(self._desired)

    # -- the Announcer verbs --------------------------------------------------------------

    async def announce(self, prefix: Prefix) -> None:
        self._desired.add(prefix)
        self._metrics.prefixes_desired.set(len(self._wanted()))

        def build() -> list[asyncio.Future[bool]]:
            if prefix not in self._wanted():  # withdrawn (or drained) while we waited
                return []
            return [f for p in self._peers.values() for f in p.announce(self._channel, {prefix})]

        await self._apply(build, f"announce {prefix}")

    async def withdraw(self, prefix: Prefix) -> None:
        self._desired.discard(prefix)
        self._metrics.prefixes_desired.set(len(self._wanted()))

        def build() -> list[asyncio.Future[bool]]:
            if prefix in self._wanted():  # announced again meanwhile
                return []
            return [f for p in self._peers.values() for f in p.withdraw(self._channel, {prefix})]

        await self._apply(build, f"withdraw {prefix}")

    async def sync(self, held: Iterable[Prefix]) -> None:
        """Afterwards exactly ``held`` is announced; the first call ends graceful restart."""
        self._desired = set(held)
        self._primed = True  # the node has said what it holds: restarts may end
        self._metrics.prefixes_desired.set(len(self._wanted()))

        def build() -> list[asyncio.Future[bool]]:
            futures = []
            for peer in self._peers.values():
                futures += peer.reconcile(self._channel, self._wanted())
            for peer in self._peers.values():
                if peer.eor_due and peer.state == "up":
                    futures += peer.end_of_rib(self._channel)
            return futures

        await self._apply(build, "sync")

    def status(self) -> AnnouncerStatus:
        supervisor = self._supervisor
        pid = supervisor.pid if supervisor is not None else None
        return AnnouncerStatus(
            running=pid is not None and self._channel.connected,
            peers=[p.status() for p in self._peers.values()],
            announced=[str(p) for p in sorted_prefixes(self._wanted())],
            pid=pid,
            restarts=supervisor.restarts if supervisor is not None else 0,
            drained=self._drained,
        )

    def _wanted(self) -> set[Prefix]:
        """What the ToRs should have from us: the desired prefixes, or nothing when drained."""
        return set() if self._drained else self._desired

    # -- writing and waiting ----------------------------------------------------------------

    async def _apply(self, build: Build, what: str) -> None:
        """Write the commands ``build`` returns, under the lock, and await every ack.

        When the bridge goes away before the acks arrive, the commands are built and
        written again on the next connection (they are idempotent), until ``ack_timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.ack_timeout
        for _ in range(MAX_ATTEMPTS):
            try:
                await self._channel.wait_connected(max(0.0, deadline - loop.time()))
                async with self._lock:
                    futures = build()
            except TimeoutError:
                break
            except ChannelClosed:
                continue
            if not futures:
                return
            done, _ = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
            if len(done) < len(futures):
                break
            if any(f.exception() is not None for f in done):
                continue
            if not all(f.result() for f in done):
                raise BgpCommandError(f"ExaBGP refused to {what}", command=what)
            return
        raise BgpTimeoutError(
            f"ExaBGP did not acknowledge {what} within {self._settings.ack_timeout}s"
        )

    def _replay(self, peer: PeerState) -> None:
        """Session up: every desired prefix again, then End-of-RIB (once primed)."""

        async def run() -> None:
            async with self._lock:
                if peer.state != "up" or not self._channel.connected:
                    return
                futures = peer.replay(self._channel, self._wanted())
                if self._primed:
                    futures += peer.end_of_rib(self._channel)
                else:
                    peer.eor_due = True
            await _settle(futures, self._settings.ack_timeout, peer)

        self._spawn(run())

    async def _first_sync_deadline(self) -> None:
        await asyncio.sleep(self._settings.first_sync_timeout)
        if self._primed:
            return
        log.warning("no sync since start; ending graceful restart at the ToRs anyway")
        async with self._lock:
            self._primed = True
            futures = []
            for peer in self._peers.values():
                if peer.eor_due and peer.state == "up" and self._channel.connected:
                    futures += peer.end_of_rib(self._channel)
        if futures:
            await asyncio.wait(futures, timeout=self._settings.ack_timeout)

    # -- events -------------------------------------------------------------------------------

    def _on_spawn(self, pid: int) -> None:
        for peer in self._peers.values():
            peer.reset("")
        self._fresh = True
        self._metrics.exabgp_up.set(0)

    def _on_exit(self, code: int | None, reason: str) -> None:
        self._channel.disconnect()
        for peer in self._peers.values():
            peer.reset(reason)
        self._metrics.exabgp_up.set(0)
        self._metrics.exabgp_restarts.inc()

    def _on_connect(self) -> None:
        """A bridge connected: a resync point.

        The bridge of a fresh ExaBGP needs nothing now: its sessions are not up yet, and
        each gets the full replay when it comes up. A bridge that reconnects to the same
        ExaBGP (it was respawned) may have lost lines, so the desired state is pushed.
        """
        self._metrics.exabgp_up.set(1)
        if self._fresh:
            self._fresh = False
            return

        async def push() -> None:
            async with self._lock:
                if not self._channel.connected:
                    return
                futures = []
                for peer in self._peers.values():
                    futures += peer.reconcile(self._channel, self._wanted())
            if futures:
                await asyncio.wait(futures, timeout=self._settings.ack_timeout)

        self._spawn(push())

    def _on_ack(self, command: str, ok: bool, elapsed: float) -> None:
        self._metrics.ack_seconds.observe(elapsed)
        if not ok:
            self._metrics.command_errors.inc()

    def _on_line(self, line: Line) -> None:
        if isinstance(line, StateEvent | NotificationEvent):
            address = _address(line.peer)
            peer = self._peers.get(address) if address is not None else None
            if peer is None:
                return
            if isinstance(line, NotificationEvent):
                peer.notified(line.describe())
                return
            peer.transition(line.state, line.reason, time.time())
            if line.state == "up":
                self._replay(peer)

    # -- helpers ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _settle(futures: list[asyncio.Future[bool]], within: float, peer: PeerState) -> None:
    if not futures:
        return
    done, _ = await asyncio.wait(futures, timeout=within)
    if len(done) < len(futures):
        peer.fail("ExaBGP did not acknowledge the replay in time")
    elif any(f.exception() is None and not f.result() for f in done):
        peer.fail("ExaBGP refused part of the replay")


def _peer_key(peers: Iterable[BgpPeer]) -> list[str]:
    return sorted(p.model_dump_json() for p in peers)


def _address(text: str) -> Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None
