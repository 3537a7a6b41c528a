"""The node's BGP peers from the fabric controller (``GET /v1/nodes/{name}/bgp``).

With ``controller_url`` set, the agent asks the controller for its ToR sessions once, at
start, and runs its speaker with them instead of the static ``bgp_peers``. The answer's
wire contract is :mod:`fabric_controller.schemas`: each ``PeerRead`` has exactly the
fields of :class:`~node_agent.bgp.settings.BgpPeer`.

The controller may not be able to answer yet, and the agent asks again with a doubling
back-off (``controller_retry_min`` to ``controller_retry_max``) for up to
``controller_wait`` seconds:

======================================  ===============================================
answer                                  what the agent does
======================================  ===============================================
200 with at least one session           use these peers
200 without sessions (no ToR yet)       ask again
404 ``node-not-found``                  register with IPAM (the same idempotent upsert
                                        the daemon sends), then ask again
other 404, 409, 5xx, no connection      ask again (rack unknown, no ASN yet, IPAM down)
401, 403, other 4xx                     :class:`PeeringRefusedError` at once
======================================  ===============================================

When the time is up: the static ``bgp_peers`` if any are set (logged), else
:class:`PeeringError`, and the agent does not start. While the agent runs,
:mod:`node_agent.peerwatch` asks again every ``controller_refresh`` seconds and switches
the speaker when the rack's sessions change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import ValidationError

from fabric_controller.schemas import NodeBgpRead
from node_agent.bgp.settings import BgpPeer
from node_agent.config import AgentSettings
from node_agent.errors import IpamError, PeeringError, PeeringNodeNotFound, PeeringRefusedError
from node_agent.ipamclient import IpamClient

log = logging.getLogger("flatnet.agent.peering")

Register = Callable[[], Awaitable[object]]
RETRIED_4XX = frozenset({404, 409})
"""Not ready yet, on the controller's side: the node, its rack, a ToR or an ASN."""


class PeeringClient:
    """One ``httpx.AsyncClient`` for the controller; ``close()`` it when done."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def node_bgp(self, node: str) -> NodeBgpRead:
        """The node's peering; raises :class:`PeeringError` (or a subclass) otherwise."""
        path = f"/v1/nodes/{node}/bgp"
        try:
            response = await self._http.get(path)
        except httpx.HTTPError as exc:
            raise PeeringError(f"controller GET {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _rejected(path, response)
        try:
            return NodeBgpRead.model_validate_json(response.content)
        except ValidationError as exc:
            raise PeeringError(f"controller GET {path}: unexpected answer: {exc}") from exc


def _rejected(path: str, response: httpx.Response) -> PeeringError:
    body: Any = {}
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = {}
    body = body if isinstance(body, dict) else {}
    slug = str(body.get("type", "")).rsplit(":", 1)[-1]
    text = f"controller GET {path}: HTTP {response.status_code} {slug}: {body.get('detail', '')}"
    if response.status_code == 404 and slug == "node-not-found":
        return PeeringNodeNotFound(text)
    if response.status_code >= 500 or response.status_code in RETRIED_4XX:
        return PeeringError(text)
    return PeeringRefusedError(text)


def to_peers(peering: NodeBgpRead) -> list[BgpPeer]:
    """The controller's sessions as the speaker's settings."""
    return [BgpPeer.model_validate(peer.model_dump()) for peer in peering.peers]


async def fetch_peers(
    settings: AgentSettings,
    *,
    client: PeeringClient,
    register: Register | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[BgpPeer]:
    """Ask the controller until it gives at least one session (bounded, see the module)."""
    deadline = clock() + settings.controller_wait
    delay = settings.controller_retry_min
    context = {"node": settings.node_name, "controller": settings.controller_url}
    for attempt in range(1, 1_000_000):
        try:
            peering = await client.node_bgp(settings.node_name)
            if peering.peers:
                check_answer(settings, peering)
                return to_peers(peering)
            problem = f"the controller lists no ToR session for rack {peering.rack} yet"
        except PeeringRefusedError:
            raise
        except PeeringNodeNotFound as exc:
            problem = str(exc)
            if register is not None:
                await _register(register, context)
        except PeeringError as exc:
            problem = str(exc)
        if clock() + delay > deadline:
            raise PeeringError(f"no BGP peering after {attempt} attempts: {problem}")
        log.warning("no BGP peering yet (%s); asking again in %.1fs", problem, delay, extra=context)
        await sleep(delay)
        delay = min(delay * 2, settings.controller_retry_max)
    raise PeeringError("no BGP peering")  # not reached: the deadline ends the loop


async def _register(register: Register, context: dict[str, Any]) -> None:
    try:
        await register()
        log.info("registered with IPAM so that the controller knows the node", extra=context)
    except IpamError as exc:
        log.warning("IPAM registration failed: %s", exc, extra=context)


def check_answer(settings: AgentSettings, peering: NodeBgpRead) -> None:
    if peering.node != settings.node_name:
        raise PeeringError(f"the controller answered for node {peering.node!r}")
    for peer in peering.peers:
        if peer.local_address is not None and peer.local_address != settings.node_ip:
            log.warning(
                "the controller peers from %s, but node_ip is %s",
                peer.local_address,
                settings.node_ip,
                extra={"node": settings.node_name, "peer": str(peer.address)},
            )


async def with_controller_peers(
    settings: AgentSettings,
    *,
    controller_transport: httpx.AsyncBaseTransport | None = None,
    ipam_transport: httpx.AsyncBaseTransport | None = None,
) -> AgentSettings:
    """``settings`` with ``bgp_peers`` from the controller (unchanged without
    ``controller_url``); the static peers when the controller gives none in time."""
    if not settings.controller_url:
        return settings
    client = PeeringClient(
        base_url=settings.controller_url,
        token=settings.controller_token(),
        timeout=settings.controller_timeout,
        transport=controller_transport,
    )
    ipam = IpamClient(
        base_url=settings.ipam_url,
        node=settings.node_name,
        token=settings.token(),
        timeout=settings.ipam_timeout,
        transport=ipam_transport,
    )
    spec = settings.registration()
    try:
        peers = await fetch_peers(settings, client=client, register=lambda: ipam.register(spec))
    except PeeringRefusedError:
        raise
    except PeeringError as exc:
        if not settings.bgp_peers:
            raise
        log.error("%s; using the static bgp_peers", exc, extra={"node": settings.node_name})
        return settings
    finally:
        await client.close()
        await ipam.close()
    log.info(
        "BGP peers from the fabric controller: %s",
        ", ".join(f"{p.address} AS {p.peer_as}" for p in peers),
        extra={"node": settings.node_name},
    )
    return settings.model_copy(update={"bgp_peers": peers})
