"""Deleting a node records why: in every released block and every closed ledger entry."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.ipam_service.factories import claim, event, make_node, make_pool


async def released_reasons(client: httpx.AsyncClient, node: str) -> list[str]:
    r = await client.get("/v1/blocks", params={"node": node, "state": "released"})
    return [b["release_reason"] for b in r.json()["items"]]


@pytest.mark.parametrize(
    ("params", "recorded"),
    [
        pytest.param(
            {"reason": "kubernetes Node gone for 300s (fabric controller)"},
            "node deleted: kubernetes Node gone for 300s (fabric controller)",
            id="given",
        ),
        pytest.param({}, "node deleted: deleted by operator", id="default"),
    ],
)
async def test_the_reason_lands_in_blocks_and_ledger(
    client: httpx.AsyncClient, params: dict[str, str], recorded: str
) -> None:
    await make_pool(client)
    await make_node(client)
    first = (await claim(client)).json()["cidr"]
    second = (await claim(client)).json()["cidr"]
    ip = first.replace("0/26", "7")
    batch = {"node": "node1", "events": [event("allocate", ip, datetime.now(UTC))]}
    assert (await client.post("/v1/ledger/events", json=batch)).status_code == 200
    r = await client.delete("/v1/nodes/node1", params=params)
    assert r.status_code == 200
    assert sorted(b["cidr"] for b in r.json()["blocks"]) == sorted([first, second])
    assert await released_reasons(client, "node1") == [recorded, recorded]
    history = (await client.get(f"/v1/audit/ips/{ip}/history")).json()["items"]
    assert history[0]["close_reason"] == recorded


async def test_a_second_delete_is_404_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    await claim(client)
    assert (await client.delete("/v1/nodes/node1", params={"reason": "first"})).status_code == 200
    again = await client.delete("/v1/nodes/node1", params={"reason": "second"})
    assert again.status_code == 404
    assert await released_reasons(client, "node1") == ["node deleted: first"]


async def test_an_overlong_reason_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    await make_node(client)
    r = await client.delete("/v1/nodes/node1", params={"reason": "x" * 257})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "reason"
    assert (await client.get("/v1/nodes/node1")).status_code == 200  # nothing half-done
