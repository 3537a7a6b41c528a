"""The controller's IPAM adapter against the real IPAM app: paging, upsert, delete, errors."""

from __future__ import annotations

import httpx
import pytest

from fabric_controller.errors import Conflict, InvalidInput, UpstreamError
from fabric_controller.ipamclient import IpamClient
from ipam_service.schemas import NodeUpsert
from tests.fabric_controller.topology_fixtures import RACK_LABEL, claim, make_node, make_pool


async def test_listings_follow_every_page(ipam: httpx.AsyncClient, ipam_client: IpamClient) -> None:
    await make_pool(ipam, "pods", "10.244.0.0/16", prefixlen=26)
    for n in range(5):  # the client asks pages of 2
        await make_node(ipam, f"n{n}", f"10.10.0.{n + 1}", rack="r1" if n % 2 else "r2")
        await claim(ipam, f"n{n}", "pods")
    assert [n.name for n in await ipam_client.list_nodes()] == [f"n{n}" for n in range(5)]
    in_r1 = await ipam_client.list_nodes(label=(RACK_LABEL, "r1"))
    assert [n.name for n in in_r1] == ["n1", "n3"]
    assert all(len(n.blocks) == 1 for n in in_r1)
    assert len(await ipam_client.list_blocks()) == 5
    assert [str(b.cidr) for b in await ipam_client.list_blocks(node="n3")] == ["10.244.0.192/26"]


async def test_upsert_get_and_delete_with_a_reason(
    ipam: httpx.AsyncClient, ipam_client: IpamClient
) -> None:
    await make_pool(ipam, "pods", "10.244.0.0/16", prefixlen=26)
    node = await ipam_client.upsert_node("n1", NodeUpsert(node_ip="10.10.0.11", labels={}))  # type: ignore[arg-type]
    assert node.name == "n1"
    block = await claim(ipam, "n1", "pods")
    assert [str(b.cidr) for b in (await ipam_client.get_node("n1")).blocks] == [block]  # type: ignore[union-attr]
    deleted = await ipam_client.delete_node("n1", reason="node object gone for 300s")
    assert [str(b.cidr) for b in deleted.blocks] == [block]
    assert await ipam_client.get_node("n1") is None
    released = await ipam_client.list_blocks(node="n1", state="released")
    assert released[0].release_reason == "node deleted: node object gone for 300s"


async def test_problems_keep_their_meaning(
    ipam: httpx.AsyncClient, ipam_client: IpamClient
) -> None:
    await make_node(ipam, "n1", "10.10.0.11")
    with pytest.raises(Conflict) as taken:
        await ipam_client.upsert_node("n2", NodeUpsert(node_ip="10.10.0.11"))  # type: ignore[arg-type]
    assert taken.value.field == "node_ip"
    with pytest.raises(InvalidInput):
        await ipam_client.list_blocks(state="lost")


async def test_a_failing_ipam_is_an_upstream_error() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="<html>maintenance</html>")

    client = IpamClient("http://ipam", transport=httpx.MockTransport(broken))
    with pytest.raises(UpstreamError, match="503"):
        await client.list_nodes()
    await client.aclose()
