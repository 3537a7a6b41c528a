"""The node agent takes its BGP peers from the controller (``node_agent.peering``), against
the real controller app and the real IPAM on real PostgreSQL, both in-process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.ipamclient import IpamClient
from node_agent.bgp.settings import BgpPeer
from node_agent.config import AgentSettings
from node_agent.errors import PeeringError, PeeringRefusedError
from node_agent.peering import PeeringClient, fetch_peers, with_controller_peers
from tests.fabric_controller.topology_fixtures import (
    RACK_LABEL,
    make_fabric,
    make_node,
    make_rack,
    ok,
    tor,
)

FIRST = 4_200_000_000
STATIC = BgpPeer(address="192.0.2.1", peer_as=64999, local_as=64998)  # type: ignore[arg-type]


def agent(tmp_path: Path, **fields: Any) -> AgentSettings:
    base: dict[str, Any] = {
        "node_name": "n1",
        "node_ip": "10.10.0.11",
        "rack": "r1",
        "ipam_url": "http://ipam",
        "controller_url": "http://controller",
        "controller_wait": 5.0,
        "controller_retry_min": 0.01,
        "controller_retry_max": 0.05,
        "state_dir": tmp_path / "agent",
    }
    return AgentSettings(**(base | fields))


async def rack(controller: httpx.AsyncClient, *tors: dict[str, Any]) -> None:
    await make_fabric(controller, "dc1", asn_range={"first": FIRST, "last": FIRST + 9})
    await make_rack(controller, "r1", tors=tors)


TWO_TORS = (tor("tor-a", 65000), tor("tor-b", 65001, v4="10.10.0.2", v6="fd00:10::2"))


async def test_the_controllers_sessions_replace_the_static_peers(
    controller: httpx.AsyncClient,
    controller_transport: httpx.ASGITransport,
    ipam: httpx.AsyncClient,
    ipam_transport: httpx.ASGITransport,
    tmp_path: Path,
) -> None:
    await rack(controller, *TWO_TORS)
    await make_node(ipam, "n1", "10.10.0.11")
    settings = agent(tmp_path, bgp_peers=[STATIC])
    got = await with_controller_peers(
        settings, controller_transport=controller_transport, ipam_transport=ipam_transport
    )
    expected = ok(await controller.get("/v1/nodes/n1/bgp"))["peers"]
    assert got.bgp_peers == [BgpPeer.model_validate(p) for p in expected]
    assert [(str(p.address), p.peer_as, p.local_as) for p in got.bgp_peers] == [
        ("10.10.0.1", 65000, FIRST),
        ("10.10.0.2", 65001, FIRST),
    ]
    assert (str(got.bgp_peers[0].local_address), got.bgp_peers[0].families) == (
        "10.10.0.11",
        ["ipv4 unicast"],
    )
    assert settings.bgp_peers == [STATIC]  # the caller's settings are not changed


async def test_without_a_controller_url_the_static_peers_stay(tmp_path: Path) -> None:
    settings = agent(tmp_path, controller_url=None, bgp_peers=[STATIC])
    assert await with_controller_peers(settings) is settings


async def test_a_node_ipam_does_not_know_registers_itself_first(
    controller: httpx.AsyncClient,
    controller_transport: httpx.ASGITransport,
    ipam: httpx.AsyncClient,
    ipam_transport: httpx.ASGITransport,
    tmp_path: Path,
) -> None:
    """First start, no Kubernetes loop: the controller cannot place the node until the
    agent's own registration (with its rack label) reaches IPAM."""
    await rack(controller, tor("tor-a", 65000))
    got = await with_controller_peers(
        agent(tmp_path), controller_transport=controller_transport, ipam_transport=ipam_transport
    )
    assert [str(p.address) for p in got.bgp_peers] == ["10.10.0.1"]
    registered = ok(await ipam.get("/v1/nodes/n1"))
    assert (registered["node_ip"], registered["labels"]) == ("10.10.0.11", {RACK_LABEL: "r1"})


async def test_the_agent_asks_again_until_its_rack_has_a_tor(
    controller: httpx.AsyncClient,
    controller_transport: httpx.ASGITransport,
    ipam: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    await rack(controller)  # no ToR yet
    await make_node(ipam, "n1", "10.10.0.11")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the network team acts while the agent waits
        waits.append(seconds)
        if len(waits) == 3:
            ok(await controller.post("/v1/racks/r1/tors", json=tor("tor-a", 65000)), 201)

    client = PeeringClient(
        base_url="http://controller", token=None, timeout=5.0, transport=controller_transport
    )
    try:
        peers = await fetch_peers(agent(tmp_path), client=client, sleep=sleep)
    finally:
        await client.close()
    assert [str(p.address) for p in peers] == ["10.10.0.1"]
    assert waits == [0.01, 0.02, 0.04]  # doubling, from controller_retry_min


@pytest.mark.parametrize("static", [pytest.param([], id="none"), pytest.param([STATIC], id="set")])
async def test_when_the_controller_never_answers_the_static_peers_or_an_error(
    controller: httpx.AsyncClient,
    controller_transport: httpx.ASGITransport,
    ipam: httpx.AsyncClient,
    ipam_transport: httpx.ASGITransport,
    tmp_path: Path,
    static: list[BgpPeer],
) -> None:
    """The node is labelled into a rack that does not exist: 404 rack-not-found, again and
    again, until ``controller_wait`` is over. (IPAM knows the node already, so the answer is
    rack-not-found from the first attempt on, however few attempts the wait allows.)"""
    await make_node(ipam, "n1", "10.10.0.11")
    settings = agent(tmp_path, controller_wait=0.2, bgp_peers=static)
    call = with_controller_peers(
        settings, controller_transport=controller_transport, ipam_transport=ipam_transport
    )
    if not static:
        with pytest.raises(PeeringError, match="rack-not-found"):
            await call
        return
    assert (await call).bgp_peers == [STATIC]


@pytest.fixture
async def guarded_controller(
    tmp_path: Path,
    secrets_dir: Path,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    ipam_client: IpamClient,
) -> AsyncIterator[httpx.ASGITransport]:
    """The controller with authentication on: tokens for node n1, node n2 and admin."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"t-n1": "node:n1", "t-n2": "node:n2", "t-admin": "admin"}))
    settings = ControllerSettings(
        auth="on", tokens_file=tokens, database_url="unused", secrets_dir=secrets_dir
    )
    app = create_app(settings, sessionmaker=db_sessionmaker, ipam=ipam_client)
    yield httpx.ASGITransport(app=app)
    await ipam_client.aclose()


async def test_a_refused_token_fails_at_once_and_the_right_one_is_sent(
    guarded_controller: httpx.ASGITransport,
    ipam: httpx.AsyncClient,
    ipam_transport: httpx.ASGITransport,
    tmp_path: Path,
) -> None:
    headers = {"Authorization": "Bearer t-admin"}
    async with httpx.AsyncClient(
        transport=guarded_controller, base_url="http://controller", headers=headers
    ) as admin:
        await rack(admin, tor("tor-a", 65000))
    await make_node(ipam, "n1", "10.10.0.11")
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.write_text("t-n2\n")
    right.write_text("t-n1\n")
    refused = agent(tmp_path, controller_token_file=wrong, controller_wait=60.0, bgp_peers=[STATIC])
    with pytest.raises(PeeringRefusedError, match="403"):  # no retries, no static fallback
        await with_controller_peers(
            refused, controller_transport=guarded_controller, ipam_transport=ipam_transport
        )
    got = await with_controller_peers(
        agent(tmp_path, controller_token_file=right),
        controller_transport=guarded_controller,
        ipam_transport=ipam_transport,
    )
    assert [str(p.address) for p in got.bgp_peers] == ["10.10.0.1"]
