"""Factories for topology tests: fabrics and racks through the controller API, pools,
nodes and blocks through the real IPAM API. Each asserts the call succeeded."""

from __future__ import annotations

from typing import Any

import httpx

RACK_LABEL = "topology.flatnet.io/rack"


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201)), response.text
    return response.json() if response.content else None


async def make_fabric(
    controller: httpx.AsyncClient, name: str = "dc1", *, model: str = "per-node", **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "asn_model": model} | fields
    return ok(await controller.post("/v1/fabrics", json=body), 201)  # type: ignore[no-any-return]


def tor(
    name: str = "tor1",
    asn: int = 65000,
    v4: str | None = "10.10.0.1",
    v6: str | None = "fd00:10::1",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "asn": asn}
    if v4:
        spec["address_v4"] = v4
    if v6:
        spec["address_v6"] = v6
    return spec


async def make_rack(
    controller: httpx.AsyncClient,
    name: str = "r1",
    *,
    fabric: str = "dc1",
    subnets: tuple[str, ...] = ("10.10.0.0/24", "fd00:10::/64"),
    tors: tuple[dict[str, Any], ...] = (),
    **fields: Any,
) -> dict[str, Any]:
    body = {"name": name, "fabric": fabric, "subnets": list(subnets), "tors": list(tors)} | fields
    return ok(await controller.post("/v1/racks", json=body), 201)  # type: ignore[no-any-return]


async def make_pool(
    ipam: httpx.AsyncClient, name: str, cidr: str, *, prefixlen: int
) -> dict[str, Any]:
    body = {"name": name, "cidrs": [cidr], "block_prefixlen": prefixlen}
    return ok(await ipam.post("/v1/pools", json=body), 201)  # type: ignore[no-any-return]


async def make_node(
    ipam: httpx.AsyncClient, name: str, node_ip: str, *, rack: str | None = "r1"
) -> dict[str, Any]:
    labels = {RACK_LABEL: rack} if rack else {}
    body = {"node_ip": node_ip, "labels": labels}
    return ok(await ipam.put(f"/v1/nodes/{name}", json=body), 200, 201)  # type: ignore[no-any-return]


async def claim(ipam: httpx.AsyncClient, node: str, pool: str) -> str:
    block = ok(await ipam.post(f"/v1/nodes/{node}/blocks", json={"pool": pool}), 201)
    return str(block["cidr"])


async def release(ipam: httpx.AsyncClient, node: str, cidr: str) -> None:
    ok(await ipam.delete(f"/v1/nodes/{node}/blocks/{cidr}", params={"force": "true"}), 200)
