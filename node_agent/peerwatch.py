"""Following the node's BGP peers on the fabric controller while the agent runs.

:mod:`node_agent.peering` fetches the peers once, before the speaker starts. After that,
every ``controller_refresh`` seconds the agent asks ``GET /v1/nodes/{name}/bgp`` again; when
the network team has added, removed or changed a ToR session of the node's rack (or moved
the node), the speaker is switched to the new sessions (``ExabgpSpeaker.set_peers``).

======================================  ===============================================
answer                                  what the follower does
======================================  ===============================================
the sessions in use                     nothing
other sessions                          switch the speaker to them (logged)
no session at all                       keep the sessions in use (logged): an empty
                                        answer is more likely a half-edited rack than
                                        a wish to cut the node off the fabric
an error (controller down, 4xx, 5xx)    keep the sessions in use; ask again next time
======================================  ===============================================

What the last question found is in :attr:`PeerFollower.last_error` and the
``flatnet_agent_peer_refresh_total{result}`` counter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry, Counter

from node_agent.bgp.settings import BgpPeer
from node_agent.config import AgentSettings
from node_agent.errors import PeeringError
from node_agent.peering import PeeringClient, check_answer, to_peers

log = logging.getLogger("flatnet.agent.peering")

ApplyPeers = Callable[[Sequence[BgpPeer]], Awaitable[bool]]
"""Switch the speaker to these sessions; False when they were already in use."""

MAX_ROUNDS = 1_000_000_000
"""Bound of the follow loop (a century at one question a second)."""


class PeerFollower:
    """Asks the controller for the node's sessions and applies what changed."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        client: PeeringClient,
        apply: ApplyPeers,
        current: Sequence[BgpPeer],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._apply = apply
        self.current = list(current)
        self.last_error = ""
        self._rounds = Counter(
            "flatnet_agent_peer_refresh",
            "Questions to the fabric controller about the node's BGP sessions, by result.",
            ["result"],
            registry=registry or CollectorRegistry(),
        )
        self._context = {"node": settings.node_name, "controller": settings.controller_url}

    async def check_once(self) -> bool:
        """Ask once; True when the speaker was switched to other sessions."""
        try:
            peering = await self._client.node_bgp(self._settings.node_name)
            check_answer(self._settings, peering)
        except PeeringError as exc:
            self._outcome("error", str(exc))
            log.warning("BGP peers not refreshed: %s", exc, extra=self._context)
            return False
        if not peering.peers:
            self._outcome("empty", f"the controller lists no ToR session for {peering.rack}")
            log.warning("%s; keeping the sessions in use", self.last_error, extra=self._context)
            return False
        peers = to_peers(peering)
        if not await self._apply(peers):
            self._outcome("unchanged", "")
            return False
        log.info(
            "BGP peers changed on the fabric controller: now %s",
            ", ".join(f"{p.address} AS {p.peer_as}" for p in peers),
            extra=self._context,
        )
        self.current = peers
        self._outcome("changed", "")
        return True

    async def run(self) -> None:
        """Ask every ``controller_refresh`` seconds until cancelled."""
        for _ in range(MAX_ROUNDS):
            await asyncio.sleep(self._settings.controller_refresh)
            try:
                await self.check_once()
            except Exception as exc:  # the speaker could not restart: ask again next time
                self._outcome("error", f"switching the BGP peers failed: {exc}")
                log.exception("switching the BGP peers failed", extra=self._context)

    def _outcome(self, result: str, error: str) -> None:
        self.last_error = error
        self._rounds.labels(result=result).inc()


async def follow_peers(
    settings: AgentSettings,
    *,
    apply: ApplyPeers,
    current: Sequence[BgpPeer],
    registry: CollectorRegistry | None = None,
) -> None:
    """:meth:`PeerFollower.run` with its own controller client (closed when cancelled)."""
    assert settings.controller_url is not None
    client = PeeringClient(
        base_url=settings.controller_url,
        token=settings.controller_token(),
        timeout=settings.controller_timeout,
    )
    follower = PeerFollower(
        settings, client=client, apply=apply, current=current, registry=registry
    )
    try:
        await follower.run()
    finally:
        await client.close()
