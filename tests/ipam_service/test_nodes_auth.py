"""Nodes (idempotent registration, deletion with release) and token roles."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.ipam_service.factories import bearer, claim, event, make_node, make_pool


async def test_put_node_is_idempotent_and_updates(client: httpx.AsyncClient) -> None:
    r1 = await client.put("/v1/nodes/n1", json={"node_ip": "192.0.2.1"})
    r2 = await client.put("/v1/nodes/n1", json={"node_ip": "192.0.2.1"})
    assert (r1.status_code, r2.status_code) == (201, 200)
    r3 = await client.put(
        "/v1/nodes/n1", json={"node_ip": "192.0.2.9", "labels": {"a": "b"}, "asn": 65001}
    )
    assert r3.json()["node_ip"] == "192.0.2.9"
    assert r3.json()["asn"] == 65001
    nodes = (await client.get("/v1/nodes")).json()["items"]
    assert [n["name"] for n in nodes] == ["n1"]


async def test_node_ip_of_another_node_is_409(client: httpx.AsyncClient) -> None:
    await make_node(client, "a", "192.0.2.1")
    r = await client.put("/v1/nodes/b", json={"node_ip": "192.0.2.1"})
    assert r.status_code == 409
    assert r.json()["field"] == "node_ip"


async def test_delete_node_releases_blocks_and_closes_ledger(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    cidr = (await claim(client)).json()["cidr"]
    await client.post(
        "/v1/ledger/events",
        json={"node": "node1", "events": [event("allocate", "10.244.0.3", datetime.now(UTC))]},
    )
    r = await client.delete("/v1/nodes/node1", params={"reason": "decommissioned"})
    assert r.status_code == 200
    assert [b["cidr"] for b in r.json()["blocks"]] == [cidr]
    assert (await client.get("/v1/blocks", params={"pool": "pods"})).json()["items"] == []
    assert (await client.get("/v1/audit/ips/10.244.0.3")).json()["owner"] is None
    hist = (await client.get("/v1/audit/ips/10.244.0.3/history")).json()["items"]
    assert hist[0]["close_reason"] == "node deleted: decommissioned"
    assert (await client.get("/v1/nodes/node1")).status_code == 404
    # the freed block goes to the next claimer
    await make_node(client, "node2", "192.0.2.12")
    assert (await claim(client, "node2")).json()["cidr"] == cidr


async def test_node_token_acting_for_another_node_is_403(authed: httpx.AsyncClient) -> None:
    admin = bearer("t-admin")
    assert (
        await authed.post(
            "/v1/pools",
            json={"name": "pods", "cidrs": ["10.244.0.0/16"], "block_prefixlen": 26},
            headers=admin,
        )
    ).status_code == 201
    assert (
        await authed.put("/v1/nodes/node1", json={"node_ip": "192.0.2.1"}, headers=bearer("t-n1"))
    ).status_code == 201
    assert (
        await authed.put("/v1/nodes/node1", json={"node_ip": "192.0.2.1"}, headers=bearer("t-n2"))
    ).status_code == 403
    claim_body = {"pool": "pods", "request_id": "x"}
    r = await authed.post("/v1/nodes/node1/blocks", json=claim_body, headers=bearer("t-n2"))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    r = await authed.post("/v1/nodes/node1/blocks", json=claim_body, headers=bearer("t-n1"))
    assert r.status_code == 201
    cidr = r.json()["cidr"]
    assert (
        await authed.delete(f"/v1/nodes/node1/blocks/{cidr}", headers=bearer("t-n2"))
    ).status_code == 403
    batch = {"node": "node1", "events": [event("allocate", "10.244.0.1", datetime.now(UTC))]}
    assert (
        await authed.post("/v1/ledger/events", json=batch, headers=bearer("t-n2"))
    ).status_code == 403
    assert (
        await authed.post("/v1/ledger/events", json=batch, headers=bearer("t-n1"))
    ).status_code == 200


async def test_auditor_reads_but_never_writes(authed: httpx.AsyncClient) -> None:
    audit = bearer("t-audit")
    assert (await authed.get("/v1/pools", headers=audit)).status_code == 200
    assert (await authed.get("/v1/audit/ips/10.0.0.1", headers=audit)).status_code == 200
    r = await authed.post(
        "/v1/pools",
        json={"name": "x", "cidrs": ["10.0.0.0/8"], "block_prefixlen": 24},
        headers=audit,
    )
    assert r.status_code == 403
    assert (await authed.get("/v1/pools", headers=bearer("t-n1"))).status_code == 403


async def test_missing_or_unknown_token_is_401(authed: httpx.AsyncClient) -> None:
    assert (await authed.get("/v1/pools")).status_code == 401
    r = await authed.get("/v1/pools", headers=bearer("nope"))
    assert r.status_code == 401
    assert r.json()["field"] == "Authorization"
    assert (await authed.get("/healthz")).status_code == 200
