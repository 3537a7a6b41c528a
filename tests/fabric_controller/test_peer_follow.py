"""The running agent follows its rack's sessions on the controller (``node_agent.peerwatch``),
against the real controller app and the real IPAM on real PostgreSQL, both in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from node_agent.bgp.settings import BgpPeer
from node_agent.peering import PeeringClient
from node_agent.peerwatch import PeerFollower
from tests.fabric_controller.test_bgp_peering_agent import STATIC, agent, rack
from tests.fabric_controller.topology_fixtures import make_node, ok, tor
from tests.lab.harness import eventually

TOR_B = tor("tor-b", 65001, v4="10.10.0.2", v6="fd00:10::2")


class Speaker:
    """Stands in for ``ExabgpSpeaker.set_peers``: the same contract, with a record."""

    def __init__(self, peers: Sequence[BgpPeer]) -> None:
        self.peers = list(peers)
        self.switches: list[list[str]] = []

    async def set_peers(self, peers: Sequence[BgpPeer]) -> bool:
        if sorted(p.model_dump_json() for p in peers) == sorted(
            p.model_dump_json() for p in self.peers
        ):
            return False
        self.peers = list(peers)
        self.switches.append(sorted(str(p.address) for p in peers))
        return True


@pytest.fixture
async def client(controller_transport: httpx.ASGITransport) -> AsyncIterator[PeeringClient]:
    peering = PeeringClient(
        base_url="http://controller", token=None, timeout=5.0, transport=controller_transport
    )
    yield peering
    await peering.close()


def refreshes(registry: CollectorRegistry, result: str) -> float:
    value = registry.get_sample_value("flatnet_agent_peer_refresh_total", {"result": result})
    return value or 0.0


async def test_added_and_removed_tors_switch_the_speaker_and_nothing_else_does(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, client: PeeringClient, tmp_path: Path
) -> None:
    await rack(controller, tor("tor-a", 65000))
    await make_node(ipam, "n1", "10.10.0.11")
    start = ok(await controller.get("/v1/nodes/n1/bgp"))["peers"]
    speaker = Speaker([BgpPeer.model_validate(p) for p in start])
    registry = CollectorRegistry()
    follower = PeerFollower(
        agent(tmp_path),
        client=client,
        apply=speaker.set_peers,
        current=speaker.peers,
        registry=registry,
    )
    assert not await follower.check_once()  # the sessions in use
    ok(await controller.post("/v1/racks/r1/tors", json=TOR_B), 201)
    assert await follower.check_once()
    assert not await follower.check_once()
    ok(await controller.delete("/v1/racks/r1/tors/tor-a"), 204)
    assert await follower.check_once()
    assert speaker.switches == [["10.10.0.1", "10.10.0.2"], ["10.10.0.2"]]
    assert [str(p.address) for p in follower.current] == ["10.10.0.2"]
    assert (refreshes(registry, "unchanged"), refreshes(registry, "changed")) == (2, 2)

    ok(await controller.delete("/v1/racks/r1/tors/tor-b"), 204)
    assert not await follower.check_once()  # an empty rack does not cut the node off
    assert [str(p.address) for p in speaker.peers] == ["10.10.0.2"]
    assert "no ToR session" in follower.last_error
    assert refreshes(registry, "empty") == 1


async def test_an_unreachable_or_refusing_controller_keeps_the_sessions_in_use(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, client: PeeringClient, tmp_path: Path
) -> None:
    await rack(controller, tor("tor-a", 65000))
    await make_node(ipam, "n1", "10.10.0.11")
    speaker = Speaker([STATIC])
    down = PeeringClient(base_url="http://127.0.0.1:9", token=None, timeout=2.0)
    try:
        follower = PeerFollower(
            agent(tmp_path), client=down, apply=speaker.set_peers, current=[STATIC]
        )
        assert not await follower.check_once()
        assert "ConnectError" in follower.last_error
    finally:
        await down.close()
    unknown = PeerFollower(  # a node IPAM does not know: 404 node-not-found
        agent(tmp_path, node_name="n9"), client=client, apply=speaker.set_peers, current=[STATIC]
    )
    assert not await unknown.check_once()
    assert "node-not-found" in unknown.last_error
    assert speaker.switches == []


async def test_the_loop_asks_every_refresh_interval_and_survives_a_failing_switch(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, client: PeeringClient, tmp_path: Path
) -> None:
    await rack(controller, tor("tor-a", 65000))
    await make_node(ipam, "n1", "10.10.0.11")
    speaker = Speaker([STATIC])
    failures: list[int] = []

    async def flaky(peers: Sequence[BgpPeer]) -> bool:
        if not failures:
            failures.append(1)
            raise RuntimeError("ExaBGP would not start")
        return await speaker.set_peers(peers)

    follower = PeerFollower(
        agent(tmp_path, controller_refresh=0.01), client=client, apply=flaky, current=[STATIC]
    )
    task = asyncio.create_task(follower.run())
    try:
        await eventually(lambda: speaker.switches == [["10.10.0.1"]], "the switch to tor-a")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert failures == [1]
    assert follower.last_error == ""
