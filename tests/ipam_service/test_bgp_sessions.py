"""BGP session reports: a node's agent replaces its node's sessions; GET on the node shows them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ipam_service.factories import bearer, make_node


def session(peer: str, state: str = "up", **extra: Any) -> dict[str, Any]:
    return {
        "peer": peer,
        "state": state,
        "last_error": "",
        "prefixes_sent": 2,
        "prefixes_acknowledged": 2,
        "since": "2026-11-28T10:00:00+00:00",
    } | extra


async def test_a_report_replaces_the_sessions_and_the_node_shows_them(
    client: httpx.AsyncClient,
) -> None:
    await make_node(client, "node1", "192.0.2.11")
    first = [session("10.10.0.1"), session("fd00:10::1", "connecting", prefixes_acknowledged=1)]
    r = await client.put("/v1/nodes/node1/bgp-sessions", json=first)
    assert r.status_code == 200, r.text
    assert [(s["peer"], s["state"]) for s in r.json()] == [
        ("10.10.0.1", "up"),
        ("fd00:10::1", "connecting"),
    ]
    node = (await client.get("/v1/nodes/node1")).json()
    assert [s["peer"] for s in node["bgp_sessions"]] == ["10.10.0.1", "fd00:10::1"]
    assert node["bgp_sessions"][1]["prefixes_acknowledged"] == 1
    assert node["bgp_sessions"][0]["reported_at"]

    second = [session("10.10.0.1", "down", last_error="notification received (6,2)")]
    await client.put("/v1/nodes/node1/bgp-sessions", json=second)
    listed = (await client.get("/v1/nodes/node1/bgp-sessions")).json()
    assert [(s["peer"], s["state"], s["last_error"]) for s in listed] == [
        ("10.10.0.1", "down", "notification received (6,2)")
    ]
    assert (await client.put("/v1/nodes/node1/bgp-sessions", json=[])).json() == []
    assert (await client.get("/v1/nodes/node1")).json()["bgp_sessions"] == []


async def test_sessions_of_other_nodes_stay_apart(client: httpx.AsyncClient) -> None:
    await make_node(client, "node1", "192.0.2.11")
    await make_node(client, "node2", "192.0.2.12")
    await client.put("/v1/nodes/node1/bgp-sessions", json=[session("10.10.0.1")])
    await client.put("/v1/nodes/node2/bgp-sessions", json=[session("10.10.0.1", "down")])
    nodes = {n["name"]: n for n in (await client.get("/v1/nodes")).json()["items"]}
    assert [s["state"] for s in nodes["node1"]["bgp_sessions"]] == ["up"]
    assert [s["state"] for s in nodes["node2"]["bgp_sessions"]] == ["down"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([session("10.10.0.1", "established")], "[0].state", id="unknown-state"),
        pytest.param([session("10.10.0.999")], "[0].peer", id="bad-peer"),
        pytest.param([session("10.10.0.1", prefixes_sent=-1)], "[0].prefixes_sent", id="negative"),
        pytest.param([session("10.10.0.1", since="2026-11-28T10:00:00")], "[0].since", id="naive"),
        pytest.param([session("10.10.0.1"), session("10.10.0.1")], "[1].peer", id="twice"),
        pytest.param({"peer": "10.10.0.1"}, "body", id="not-a-list"),
        pytest.param([session("10.10.0.1", extra=1)], "[0].extra", id="unknown-field"),
    ],
)
async def test_a_bad_report_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    await make_node(client, "node1", "192.0.2.11")
    await client.put("/v1/nodes/node1/bgp-sessions", json=[session("10.10.0.9")])
    r = await client.put("/v1/nodes/node1/bgp-sessions", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == field
    listed = (await client.get("/v1/nodes/node1/bgp-sessions")).json()
    assert [s["peer"] for s in listed] == ["10.10.0.9"]


async def test_too_many_sessions_is_422(client: httpx.AsyncClient) -> None:
    await make_node(client, "node1", "192.0.2.11")
    body = [session(f"10.10.{i // 250}.{i % 250 + 1}") for i in range(65)]
    assert (await client.put("/v1/nodes/node1/bgp-sessions", json=body)).status_code == 422


async def test_an_unregistered_or_deleted_node_is_404(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/nodes/ghost/bgp-sessions", json=[session("10.10.0.1")])
    assert r.status_code == 404
    assert r.json()["type"].endswith(":node-not-found")
    await make_node(client, "node1", "192.0.2.11")
    await client.delete("/v1/nodes/node1")
    r = await client.put("/v1/nodes/node1/bgp-sessions", json=[session("10.10.0.1")])
    assert r.status_code == 404
    assert (await client.get("/v1/nodes/node1/bgp-sessions")).status_code == 404


async def test_a_node_token_reports_only_its_own_node(authed: httpx.AsyncClient) -> None:
    for name, ip, token in (("node1", "192.0.2.11", "t-n1"), ("node2", "192.0.2.12", "t-n2")):
        r = await authed.put(f"/v1/nodes/{name}", json={"node_ip": ip}, headers=bearer(token))
        assert r.status_code == 201
    body = [session("10.10.0.1")]
    url = "/v1/nodes/node1/bgp-sessions"
    assert (await authed.put(url, json=body, headers=bearer("t-n2"))).status_code == 403
    assert (await authed.put(url, json=body, headers=bearer("t-audit"))).status_code == 403
    assert (await authed.put(url, json=body, headers=bearer("t-n1"))).status_code == 200
    assert (await authed.put(url, json=body, headers=bearer("t-admin"))).status_code == 200
    assert (await authed.get(url, headers=bearer("t-audit"))).status_code == 200
    assert (await authed.get(url, headers=bearer("t-n2"))).status_code == 403
    assert (await authed.put(url, json=body)).status_code == 401
