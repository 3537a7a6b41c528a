"""Block claims: topology, idempotency, exhaustion, release, reuse."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.ipam_service.factories import claim, event, make_node, make_pool

RACK = "topology.flatnet.io/rack"


async def test_rack_subnet_comes_first_and_others_stay_out(client: httpx.AsyncClient) -> None:
    await make_pool(
        client,
        cidrs=["10.8.0.0/22"],
        subnets=[{"cidr": "10.8.0.0/25", "node_selector": {RACK: "r1"}}],
    )
    await make_node(client, "a", "192.0.2.1", **{RACK: "r1"})
    await make_node(client, "b", "192.0.2.2", **{RACK: "r2"})
    assert (await claim(client, "a")).json()["cidr"] == "10.8.0.0/26"
    assert (await claim(client, "a")).json()["cidr"] == "10.8.0.64/26"
    # rack r1's aggregate is full: the node overflows into the shared space
    assert (await claim(client, "a")).json()["cidr"] == "10.8.0.128/26"
    # a node of another rack never lands inside r1's subnet
    assert (await claim(client, "b")).json()["cidr"] == "10.8.0.192/26"


async def test_retried_request_id_returns_first_answer(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    first = await claim(client, request_id="boot-1")
    again = await claim(client, request_id="boot-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    blocks = (await client.get("/v1/blocks", params={"node": "node1"})).json()["items"]
    assert len(blocks) == 1


async def test_request_id_reused_for_another_pool_is_409(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_pool(client, "other", cidrs=["10.50.0.0/16"])
    await make_node(client)
    await claim(client, request_id="r1")
    r = await claim(client, pool="other", request_id="r1")
    assert r.status_code == 409
    assert r.json()["field"] == "request_id"


async def test_exhausted_pool_is_409_with_clear_message(client: httpx.AsyncClient) -> None:
    await make_pool(client, cidrs=["10.7.0.0/25"])
    await make_node(client)
    assert (await claim(client)).status_code == 201
    assert (await claim(client)).status_code == 201
    r = await claim(client)
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"] == "urn:flatnet:problem:pool-exhausted"
    assert problem["field"] == "pool"
    assert "no free /26 block" in problem["detail"]


async def test_reservations_are_skipped(client: httpx.AsyncClient) -> None:
    await make_pool(
        client, cidrs=["10.6.0.0/24"], reservations=[{"first": "10.6.0.0", "last": "10.6.0.70"}]
    )
    await make_node(client)
    assert (await claim(client)).json()["cidr"] == "10.6.0.128/26"


async def test_released_block_is_reused_first(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    cidrs = [(await claim(client)).json()["cidr"] for _ in range(3)]
    r = await client.delete(f"/v1/nodes/node1/blocks/{cidrs[1]}")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "released"
    assert (await claim(client)).json()["cidr"] == cidrs[1]
    assert (await claim(client)).json()["cidr"] == "10.244.0.192/26"


async def test_release_refuses_live_owners_unless_forced(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    cidr = (await claim(client)).json()["cidr"]
    batch = {"node": "node1", "events": [event("allocate", "10.244.0.5", datetime.now(UTC))]}
    assert (await client.post("/v1/ledger/events", json=batch)).status_code == 200
    r = await client.delete(f"/v1/nodes/node1/blocks/{cidr}")
    assert r.status_code == 409
    assert "live owners" in r.json()["detail"]
    r = await client.delete(f"/v1/nodes/node1/blocks/{cidr}", params={"force": "true"})
    assert r.status_code == 200
    owner = (await client.get("/v1/audit/ips/10.244.0.5")).json()["owner"]
    assert owner is None
    history = (await client.get("/v1/audit/ips/10.244.0.5/history")).json()["items"]
    assert history[0]["end"] is not None
    assert history[0]["close_reason"].startswith("block released")


async def test_release_of_unknown_block_is_404(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    r = await client.delete("/v1/nodes/node1/blocks/10.244.9.0/26")
    assert r.status_code == 404
    assert r.json()["field"] == "cidr"
    r = await client.delete("/v1/nodes/node1/blocks/10.244.9.1/26")
    assert r.status_code == 422
    assert "host bits" in r.json()["detail"]


async def test_block_listing_filters_by_pool_node_and_state(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client, "a", "192.0.2.1")
    await make_node(client, "b", "192.0.2.2")
    a1 = (await claim(client, "a")).json()["cidr"]
    await claim(client, "b")
    await client.delete(f"/v1/nodes/a/blocks/{a1}")
    held = (await client.get("/v1/blocks", params={"pool": "pods"})).json()["items"]
    assert [b["node"] for b in held] == ["b"]
    gone = (await client.get("/v1/blocks", params={"node": "a", "state": "released"})).json()
    assert [b["cidr"] for b in gone["items"]] == [a1]
