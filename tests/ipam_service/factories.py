"""Factory helpers that drive the real API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_pool(client: httpx.AsyncClient, name: str = "pods", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "cidrs": ["10.244.0.0/16"], "block_prefixlen": 26}
    body.update(extra)
    r = await client.post("/v1/pools", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def make_node(
    client: httpx.AsyncClient, name: str = "node1", ip: str = "192.0.2.11", **labels: str
) -> dict[str, Any]:
    r = await client.put(f"/v1/nodes/{name}", json={"node_ip": ip, "labels": labels})
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


async def claim(
    client: httpx.AsyncClient,
    node: str = "node1",
    pool: str = "pods",
    request_id: str | None = None,
) -> httpx.Response:
    body = {"pool": pool, "request_id": request_id or uuid.uuid4().hex}
    return await client.post(f"/v1/nodes/{node}/blocks", json=body)


def event(
    kind: str,
    ip: str,
    at: datetime,
    *,
    container_id: str = "c1",
    ifname: str = "eth0",
    pod: tuple[str, str] = ("default", "web-1"),
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "kind": kind,
        "ip": ip,
        "at": at.isoformat(),
        "container_id": container_id,
        "ifname": ifname,
        "pod_namespace": pod[0],
        "pod_name": pod[1],
        "pod_uid": f"uid-{pod[1]}",
    }
