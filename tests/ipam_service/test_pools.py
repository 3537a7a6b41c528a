"""Pools: lifecycle, usage, and bad input that must leave nothing behind."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ipam_service.factories import claim, make_node, make_pool


async def test_pool_lifecycle_create_get_patch_delete(client: httpx.AsyncClient) -> None:
    created = await make_pool(client, reservations=[{"cidr": "10.244.255.0/24"}])
    assert created["family"] == 4
    assert created["reservations"] == [
        {"first": "10.244.255.0", "last": "10.244.255.255", "description": ""}
    ]
    r = await client.patch("/v1/pools/pods", json={"add_cidrs": ["10.245.0.0/16"]})
    assert r.status_code == 200, r.text
    assert r.json()["cidrs"] == ["10.244.0.0/16", "10.245.0.0/16"]
    assert (await client.get("/v1/pools/pods")).json()["cidrs"][1] == "10.245.0.0/16"
    assert (await client.delete("/v1/pools/pods")).status_code == 204
    assert (await client.get("/v1/pools/pods")).status_code == 404


async def test_ipv6_pool_is_first_class(client: httpx.AsyncClient) -> None:
    await make_pool(client, "v6", cidrs=["fd00:244::/48"], block_prefixlen=64)
    await make_node(client, ip="2001:db8::11")
    r = await claim(client, pool="v6")
    assert r.status_code == 201, r.text
    assert r.json()["cidr"] == "fd00:244::/64"
    usage = (await client.get("/v1/pools/v6/usage")).json()
    assert usage["blocks_total"] == 65536
    assert usage["addresses_total"] == 2**80


async def test_usage_counts_blocks_addresses_and_reservations(client: httpx.AsyncClient) -> None:
    await make_pool(
        client, cidrs=["10.9.0.0/24"], reservations=[{"first": "10.9.0.250", "last": "10.9.0.255"}]
    )
    await make_node(client)
    assert (await claim(client)).status_code == 201
    usage = (await client.get("/v1/pools/pods/usage")).json()
    assert usage == {
        "pool": "pods",
        "family": 4,
        "block_prefixlen": 26,
        "blocks_total": 3,
        "blocks_held": 1,
        "blocks_free": 2,
        "addresses_total": 250,
        "addresses_used": 0,
        "addresses_free": 250,
    }


async def test_list_pools_paginates_with_cursor(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await make_pool(client, f"p{i}", cidrs=[f"10.{i}.0.0/16"])
    names, cursor = [], None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/pools", params=params)).json()
        names += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [f"p{i}" for i in range(5)]


async def test_deleting_pool_with_held_blocks_is_409(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    await claim(client)
    r = await client.delete("/v1/pools/pods")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "held block" in r.json()["detail"]


BAD_POOLS = [
    pytest.param(
        {"cidrs": ["10.0.0.0/33"]}, 422, "cidrs[0]", "not a valid CIDR", id="invalid-cidr"
    ),
    pytest.param({"cidrs": ["banana"]}, 422, "cidrs[0]", "not a CIDR", id="not-a-cidr"),
    pytest.param({"cidrs": ["10.0.0.1/16"]}, 422, "cidrs[0]", "host bits set", id="host-bits"),
    pytest.param(
        {"cidrs": ["fd00::/48"], "block_prefixlen": 26},
        422,
        "block_prefixlen",
        "shorter than the pool prefix",
        id="ipv4-length-on-ipv6-pool",
    ),
    pytest.param(
        {"cidrs": ["10.0.0.0/16"], "block_prefixlen": 64},
        422,
        "block_prefixlen",
        "longer than an IPv4 address",
        id="ipv6-length-on-ipv4-pool",
    ),
    pytest.param(
        {"block_prefixlen": 8},
        422,
        "block_prefixlen",
        "shorter than the pool prefix",
        id="block-shorter-than-pool",
    ),
    pytest.param(
        {"cidrs": ["10.0.0.0/16", "fd00::/48"]}, 422, "cidrs[1]", "IPv6", id="mixed-families"
    ),
    pytest.param(
        {"cidrs": ["10.0.0.0/16", "10.0.128.0/17"]},
        422,
        "cidrs[1]",
        "overlaps",
        id="overlap-within-request",
    ),
    pytest.param(
        {"subnets": [{"cidr": "10.99.0.0/24", "node_selector": {"r": "1"}}]},
        422,
        "subnets[0].cidr",
        "not inside",
        id="subnet-outside-pool",
    ),
    pytest.param(
        {"reservations": [{"first": "10.0.0.9", "last": "10.0.0.1"}]},
        422,
        "reservations[0].first",
        "above last",
        id="reversed-reservation",
    ),
    pytest.param({"name": "Bad_Name"}, 422, "name", "pattern", id="bad-name"),
    pytest.param({"surprise": 1}, 422, "surprise", "Extra inputs", id="unknown-field"),
]


@pytest.mark.parametrize(("patch", "status", "field", "message"), BAD_POOLS)
async def test_bad_pool_gets_problem_naming_field_and_writes_nothing(
    client: httpx.AsyncClient, patch: dict[str, Any], status: int, field: str, message: str
) -> None:
    body = {"name": "bad", "cidrs": ["10.0.0.0/16"], "block_prefixlen": 26} | patch
    r = await client.post("/v1/pools", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["field"] == field
    assert message in problem["detail"]
    assert (await client.get("/v1/pools")).json()["items"] == []


async def test_overlapping_pools_are_refused(client: httpx.AsyncClient) -> None:
    await make_pool(client, "a", cidrs=["10.0.0.0/16"])
    r = await client.post(
        "/v1/pools", json={"name": "b", "cidrs": ["10.0.128.0/17"], "block_prefixlen": 26}
    )
    assert r.status_code == 409
    assert r.json()["field"] == "cidrs[0]"
    assert "pool 'a'" in r.json()["detail"]
    r = await client.patch("/v1/pools/a", json={"add_cidrs": ["10.1.0.0/16", "10.0.5.0/24"]})
    assert r.status_code == 422
    assert r.json()["field"] == "add_cidrs[1]"
    assert (await client.get("/v1/pools/a")).json()["cidrs"] == ["10.0.0.0/16"]


async def test_malformed_json_is_400_with_body_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/pools", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["field"] == "body"
    assert r.json()["type"] == "urn:flatnet:problem:malformed-json"


async def test_unknown_pool_and_node_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/pools/nope")).json()["field"] == "pool"
    await make_pool(client)
    r = await claim(client, node="ghost")
    assert r.status_code == 404
    assert r.json()["field"] == "name"
    await make_node(client)
    r = await claim(client, pool="nope")
    assert r.status_code == 404
    assert r.json()["field"] == "pool"
