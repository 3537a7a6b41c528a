from __future__ import annotations

import httpx

from tests.ipam_service.factories import claim, make_node, make_pool


async def test_claim_returns_first_block_of_pool(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    r = await claim(client)
    assert r.status_code == 201, r.text
    assert r.json()["cidr"] == "10.244.0.0/26"
    r2 = await claim(client)
    assert r2.json()["cidr"] == "10.244.0.64/26"
