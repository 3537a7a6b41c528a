"""GET /v1/nodes/{name}/bgp: a node's ToR sessions, per-node ASN allocation, and who may ask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.ipamclient import IpamClient
from fabric_controller.schemas import NodeBgpRead, PeerRead
from node_agent.bgp.settings import BgpPeer
from tests.fabric_controller.test_topology import problem
from tests.fabric_controller.topology_fixtures import (
    RACK_LABEL,
    make_fabric,
    make_node,
    make_rack,
    ok,
    tor,
)

FIRST = 4_200_000_000


async def dual_tor_rack(
    controller: httpx.AsyncClient,
    *,
    model: str = "per-node",
    bgp: dict[str, Any] | None = None,
    **rack: Any,
) -> None:
    """Fabric dc1 with rack r1 and two dual-stack ToRs (AS 65000)."""
    fabric: dict[str, Any] = {"bgp": bgp or {}}
    if model == "per-node":
        fabric["asn_range"] = {"first": FIRST, "last": FIRST + 2}
    await make_fabric(controller, "dc1", model=model, **fabric)
    tors = (tor("tor-a", 65000), tor("tor-b", 65000, v4="10.10.0.2", v6="fd00:10::2"))
    await make_rack(controller, "r1", tors=tors, **rack)


async def test_per_node_asns_are_allocated_once_lowest_first(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller)
    await make_node(ipam, "n1", "10.10.0.11")
    await make_node(ipam, "n2", "10.10.0.12")
    first = ok(await controller.get("/v1/nodes/n1/bgp"))
    second = ok(await controller.get("/v1/nodes/n2/bgp"))
    assert (first["local_as"], second["local_as"]) == (FIRST, FIRST + 1)
    assert ok(await controller.get("/v1/nodes/n1/bgp")) == first  # stable
    asns = ok(await controller.get("/v1/fabrics/dc1/asns"))["items"]
    assert [(a["node"], a["asn"]) for a in asns] == [("n1", FIRST), ("n2", FIRST + 1)]


async def test_peering_lists_every_tor_in_the_nodes_family(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller)
    await make_node(ipam, "n1", "10.10.0.11")
    bgp = NodeBgpRead.model_validate(ok(await controller.get("/v1/nodes/n1/bgp")))
    assert (bgp.rack, bgp.fabric, bgp.asn_model, bgp.keepalive_time) == ("r1", "dc1", "per-node", 3)
    assert bgp.tors == ["tor-a", "tor-b"]
    assert [str(p.address) for p in bgp.peers] == ["10.10.0.1", "10.10.0.2"]
    peer = bgp.peers[0]
    assert (peer.peer_as, peer.local_as, str(peer.local_address)) == (65000, FIRST, "10.10.0.11")
    assert (str(peer.router_id), peer.hold_time, peer.graceful_restart) == ("10.10.0.11", 9, 120)
    assert peer.families == ["ipv4 unicast"]
    assert peer.md5_password_file is None


async def test_an_ipv6_node_peers_with_the_ipv6_addresses(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller, model="per-rack", asn=65101)
    await make_node(ipam, "n6", "fd00:10::16")
    bgp = ok(await controller.get("/v1/nodes/n6/bgp"))
    assert bgp["local_as"] == 65101
    assert [(p["address"], p["families"], p["router_id"]) for p in bgp["peers"]] == [
        ("fd00:10::1", ["ipv6 unicast"], None),
        ("fd00:10::2", ["ipv6 unicast"], None),
    ]


def test_the_wire_shape_is_the_agents_bgp_peer() -> None:
    """PeerRead must stay convertible into node_agent's BgpPeer, field for field."""
    assert set(PeerRead.model_fields) == set(BgpPeer.model_fields)


async def test_peers_convert_into_agent_settings(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller, bgp={"md5_secret_ref": "tor-md5", "hold_time": 30})
    await make_node(ipam, "n1", "10.10.0.11")
    bgp = NodeBgpRead.model_validate(ok(await controller.get("/v1/nodes/n1/bgp")))
    agent = [BgpPeer.model_validate(p.model_dump()) for p in bgp.peers]
    assert [a.model_dump() for a in agent] == [p.model_dump() for p in bgp.peers]
    assert agent[0].md5_password_file == Path("/etc/flatnet/secrets/tor-md5")
    assert agent[0].hold_time == 30


async def test_md5_password_file_is_passed_as_is(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, tmp_path: Path
) -> None:
    secret = tmp_path / "md5"
    secret.write_text("s3cret-md5\n")
    await dual_tor_rack(controller, bgp={"md5_password_file": str(secret)})
    await make_node(ipam, "n1", "10.10.0.11")
    raw = (await controller.get("/v1/nodes/n1/bgp")).text
    assert json.loads(raw)["peers"][0]["md5_password_file"] == str(secret)
    assert "s3cret" not in raw
    assert "s3cret" not in (await controller.get("/v1/fabrics/dc1")).text


async def test_released_asn_is_reused_and_a_moved_node_gets_a_new_one(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller)
    await make_fabric(controller, "dc2", asn_range={"first": FIRST + 100, "last": FIRST + 200})
    await make_rack(
        controller,
        "r2",
        fabric="dc2",
        subnets=("10.20.0.0/24",),
        tors=(tor("tor-c", v4="10.20.0.1", v6=None),),
    )
    await make_node(ipam, "n1", "10.10.0.11")
    await make_node(ipam, "n2", "10.10.0.12")
    assert ok(await controller.get("/v1/nodes/n1/bgp"))["local_as"] == FIRST
    assert (await controller.delete("/v1/nodes/n1/asn")).status_code == 204
    problem(await controller.delete("/v1/nodes/n1/asn"), 404, "name")
    assert ok(await controller.get("/v1/nodes/n2/bgp"))["local_as"] == FIRST  # lowest free
    await make_node(ipam, "n2", "10.20.0.12", rack="r2")
    moved = ok(await controller.get("/v1/nodes/n2/bgp"))
    assert (moved["fabric"], moved["local_as"]) == ("dc2", FIRST + 100)
    assert ok(await controller.get("/v1/fabrics/dc1/asns"))["items"] == []


async def test_an_exhausted_range_is_a_conflict(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await dual_tor_rack(controller)  # three ASNs
    for n in range(4):
        await make_node(ipam, f"n{n}", f"10.10.0.{11 + n}")
    for n in range(3):
        ok(await controller.get(f"/v1/nodes/n{n}/bgp"))
    found = problem(await controller.get("/v1/nodes/n3/bgp"), 409, "asn_range")
    assert found["type"] == "urn:flatnet:problem:asn-exhausted"


async def test_a_rack_without_its_asn_yet_gives_no_peering(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, db_sessionmaker: Any
) -> None:
    await make_fabric(controller, "default", model="per-rack")
    app = controller._transport.app  # type: ignore[attr-defined]
    await app.state.topology.ensure_rack("r1")  # as the lifecycle loop does from a label
    await make_node(ipam, "n1", "10.10.0.11")
    problem(await controller.get("/v1/nodes/n1/bgp"), 409, "asn")
    rack = ok(await controller.get("/v1/racks/r1"))
    assert (rack["fabric"], rack["asn"], rack["subnets"], rack["tors"]) == ("default", None, [], [])


async def test_ensure_rack_creates_the_default_fabric_once(controller: httpx.AsyncClient) -> None:
    app = controller._transport.app  # type: ignore[attr-defined]
    await app.state.topology.ensure_rack("r7")
    await app.state.topology.ensure_rack("r7")
    await app.state.topology.ensure_rack("r8")
    fabric = ok(await controller.get("/v1/fabrics/default"))
    assert fabric["asn_model"] == "per-node"
    names = [r["name"] for r in ok(await controller.get("/v1/racks"))["items"]]
    assert names == ["r7", "r8"]


@pytest.mark.parametrize(
    ("labels", "detail"),
    [
        pytest.param({}, "no topology.flatnet.io/rack label", id="no-label"),
        pytest.param({RACK_LABEL: "r9"}, "no such rack", id="unknown-rack"),
    ],
)
async def test_a_node_outside_every_rack_is_not_found(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, labels: dict[str, str], detail: str
) -> None:
    await dual_tor_rack(controller)
    ok(await ipam.put("/v1/nodes/n1", json={"node_ip": "10.10.0.11", "labels": labels}), 201)
    found = problem(await controller.get("/v1/nodes/n1/bgp"), 404, RACK_LABEL)
    assert detail in found["detail"]
    problem(await controller.get("/v1/nodes/ghost/bgp"), 404, "name")


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    roles = {"t-admin": "admin", "t-net": "network", "t-aud": "auditor", "t-n1": "node:n1"}
    path.write_text(json.dumps(roles))
    return path


@pytest.fixture
async def authed(
    tokens_file: Path,
    controller_settings: ControllerSettings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    ipam_client: IpamClient,
) -> Any:
    settings = controller_settings.model_copy(update={"auth": "on", "tokens_file": tokens_file})
    app = create_app(settings, sessionmaker=db_sessionmaker, ipam=ipam_client)
    transport = httpx.ASGITransport(app=app)

    def client(token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=transport, base_url="http://controller", headers=headers)

    return client


async def test_roles(authed: Any, ipam: httpx.AsyncClient) -> None:
    async with authed("t-net") as net, authed("t-aud") as aud, authed("t-n1") as n1:
        await dual_tor_rack(net)  # the network role writes topology
        await make_node(ipam, "n1", "10.10.0.11")
        await make_node(ipam, "n2", "10.10.0.12")
        ok(await n1.get("/v1/nodes/n1/bgp"))  # a node reads its own peering
        problem(await n1.get("/v1/nodes/n2/bgp"), 403, None)  # and nobody else's
        problem(await n1.get("/v1/racks/r1"), 403, None)  # nor the topology
        ok(await aud.get("/v1/nodes/n2/bgp"))  # the auditor reads everything
        ok(await aud.get("/v1/racks/r1"))
        problem(
            await aud.post("/v1/racks/r1/tors", json=tor("t3", v4="10.10.0.3", v6=None)), 403, None
        )
        problem(await aud.delete("/v1/nodes/n1/asn"), 403, None)
    async with authed(None) as anonymous, authed("wrong") as stranger:
        problem(await anonymous.get("/v1/racks"), 401, "Authorization")
        problem(await stranger.get("/v1/racks"), 401, "Authorization")
