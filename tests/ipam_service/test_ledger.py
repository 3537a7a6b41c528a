"""The ownership ledger: batches, idempotency, one owner, point-in-time audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.ipam_service.factories import claim, event, make_node, make_pool

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def node_with_block(client: httpx.AsyncClient) -> str:
    await make_pool(client)
    await make_node(client)
    return str((await claim(client)).json()["cidr"])


async def post(client: httpx.AsyncClient, *events: dict[str, object]) -> httpx.Response:
    return await client.post("/v1/ledger/events", json={"node": "node1", "events": list(events)})


async def owner_of(client: httpx.AsyncClient, ip: str, at: datetime) -> str | None:
    """The pod name of the owner of ``ip`` at ``at``, as the point-in-time audit answers."""
    body = (await client.get(f"/v1/audit/ips/{ip}", params={"at": at.isoformat()})).json()
    return None if body["owner"] is None else str(body["owner"]["pod_name"])


async def test_point_in_time_owner_across_reallocation(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    ip = "10.244.0.7"
    r = await post(
        client,
        event("allocate", ip, T0, container_id="c1", pod=("shop", "web-1")),
        event("release", ip, T0 + timedelta(minutes=10), container_id="c1"),
        event("allocate", ip, T0 + timedelta(minutes=20), container_id="c2", pod=("shop", "db-0")),
    )
    assert r.json() == {"applied": 3, "duplicates": 0}

    assert await owner_of(client, ip, T0 - timedelta(seconds=1)) is None
    assert await owner_of(client, ip, T0) == "web-1"
    assert await owner_of(client, ip, T0 + timedelta(minutes=9, seconds=59)) == "web-1"
    assert await owner_of(client, ip, T0 + timedelta(minutes=10)) is None
    assert await owner_of(client, ip, T0 + timedelta(minutes=15)) is None
    assert await owner_of(client, ip, T0 + timedelta(minutes=20)) == "db-0"
    assert await owner_of(client, ip, T0 + timedelta(days=300)) == "db-0"
    history = (await client.get(f"/v1/audit/ips/{ip}/history")).json()["items"]
    assert [(h["pod_name"], h["end"] is None) for h in history] == [
        ("web-1", False),
        ("db-0", True),
    ]
    pods = (
        await client.get("/v1/audit/pods", params={"namespace": "shop", "name": "web-1"})
    ).json()
    assert [p["ip"] for p in pods["items"]] == [ip]


async def test_owner_at_a_handover_instant_is_the_new_owner(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    ip, neighbour = "10.244.0.8", "10.244.0.9"
    handover = T0 + timedelta(minutes=10)
    r = await post(
        client,
        event("allocate", ip, T0, container_id="c1", pod=("shop", "web-1")),
        event("allocate", neighbour, T0 + timedelta(minutes=5), container_id="c9"),
        event("release", ip, handover, container_id="c1"),
        event("allocate", ip, handover, container_id="c2", pod=("shop", "web-2")),
    )
    assert r.status_code == 200, r.text

    assert await owner_of(client, ip, handover - timedelta(microseconds=1)) == "web-1"
    assert await owner_of(client, ip, handover) == "web-2"
    assert await owner_of(client, ip, T0 + timedelta(minutes=7)) == "web-1"


async def test_retried_batch_changes_nothing(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    batch = [event("allocate", "10.244.0.8", T0), event("release", "10.244.0.8", T0 + timedelta(1))]
    assert (await post(client, *batch)).json() == {"applied": 2, "duplicates": 0}
    assert (await post(client, *batch)).json() == {"applied": 0, "duplicates": 2}
    history = (await client.get("/v1/audit/ips/10.244.0.8/history")).json()["items"]
    assert len(history) == 1


async def test_second_live_owner_is_refused(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    await post(client, event("allocate", "10.244.0.9", T0, container_id="a"))
    r = await post(
        client,
        event("allocate", "10.244.0.10", T0, container_id="ok"),
        event("allocate", "10.244.0.9", T0 + timedelta(minutes=1), container_id="b"),
    )
    assert r.status_code == 409
    assert r.json()["field"] == "events[1].ip"
    # all or nothing: the good event of the refused batch was not kept
    assert (await client.get("/v1/audit/ips/10.244.0.10")).json()["owner"] is None
    owner = (await client.get("/v1/audit/ips/10.244.0.9")).json()["owner"]
    assert owner["container_id"] == "a"


async def test_address_outside_node_blocks_is_rejected(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    r = await post(client, event("allocate", "10.244.200.1", T0))
    assert r.status_code == 422
    assert r.json()["field"] == "events[0].ip"
    assert "not inside a block held by node" in r.json()["detail"]


async def test_oversized_batch_is_413(client: httpx.AsyncClient, node_with_block: str) -> None:
    events = [event("release", "10.244.0.1", T0) for _ in range(1001)]
    r = await post(client, *events)
    assert r.status_code == 413
    assert r.json()["field"] == "events"


async def test_oversized_body_is_413_before_parsing(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/pools", content=b"x" * (5 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_naive_timestamps_are_refused(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    e = event("allocate", "10.244.0.11", T0)
    e["at"] = "2026-01-01T12:00:00"
    r = await post(client, e)
    assert r.status_code == 422
    assert r.json()["field"] == "events[0].at"
    r = await client.get("/v1/audit/ips/10.244.0.11", params={"at": "2026-01-01T12:00:00"})
    assert r.status_code == 422
    assert r.json()["field"] == "at"


async def test_export_streams_csv_and_ndjson(
    client: httpx.AsyncClient, node_with_block: str
) -> None:
    await post(
        client,
        event("allocate", "10.244.0.1", T0, container_id="x"),
        event("allocate", "10.244.0.2", T0 + timedelta(hours=2), container_id="y"),
    )
    since, until = T0 - timedelta(minutes=1), T0 + timedelta(hours=1)
    r = await client.get(
        "/v1/audit/export", params={"since": since.isoformat(), "until": until.isoformat()}
    )
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["container_id"] for row in rows] == ["x"]
    r = await client.get("/v1/audit/export", params={"format": "csv"})
    lines = r.text.splitlines()
    assert lines[0].startswith("ip,pool,block,node")
    assert len(lines) == 3
