"""Lock order across connections: a transaction that locks a node row and a pool row takes
the node first, so block claims, ledger batches and block releases of one node never
deadlock (PostgreSQL would abort one of them: IPAM answered 500 DeadlockDetected).

The interleavings are forced, not hoped for: a third connection holds a row the ledger
batch needs, so that the batch stops there, and the claim or release is started while it
waits; then the third connection lets go. Without the order:

* claim: the batch holds the pool row ``FOR KEY SHARE`` (its lease's foreign key) while it
  waits to update the node row, which the claim holds ``FOR SHARE`` while it waits for the
  pool row ``FOR UPDATE``;
* release: the batch holds a lease row it closed while it waits for the pool row, which
  the release holds ``FOR UPDATE`` while it waits to close that same lease.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, make_sessionmaker
from tests.databases import fresh_database
from tests.ipam_service.factories import claim, event, make_node, make_pool

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIMIT = 30.0
"""Seconds any single step may take before the test gives up (a hang is a failure)."""


@dataclass
class Ipam:
    client: httpx.AsyncClient
    engine: AsyncEngine
    block: str


@pytest.fixture
def committing_db(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, prefix="flatnet_locks", migrated=True) as url:
        yield url


@pytest.fixture
async def ipam(committing_db: str) -> AsyncIterator[Ipam]:
    """The real app on a database it commits to, with one node holding one block."""
    engine = make_engine(committing_db, pool_size=6, max_overflow=0)
    app = create_app(
        IpamSettings(auth="off", database_url="unused"),
        sessionmaker=make_sessionmaker(engine),
        refresh_gauges=False,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ipam") as client:
        await make_pool(client)
        await make_node(client)
        first = await claim(client)
        assert first.status_code == 201, first.text
        yield Ipam(client, engine, first.json()["cidr"])
    await engine.dispose()


async def lock_waiters(engine: AsyncEngine) -> int:
    """Backends of this database waiting for a heavyweight lock (row locks included)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + LIMIT
    for _ in range(10_000):
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def race(
    ipam: Ipam,
    *,
    hold: str,
    body: dict[str, object],
    other: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, httpx.Response]:
    """Stop the ledger batch ``body`` at the lock ``hold`` takes, run ``other``, let both go."""
    async with ipam.engine.connect() as holder:
        await holder.begin()
        await holder.execute(text(hold))
        ledger = asyncio.ensure_future(ipam.client.post("/v1/ledger/events", json=body))
        await until(lambda: _one_waiter(ipam.engine), "the ledger batch to wait for a lock")
        racer = asyncio.ensure_future(other())

        async def racer_done_or_waiting() -> bool:
            return racer.done() or await lock_waiters(ipam.engine) >= 2

        await until(racer_done_or_waiting, "the racer to finish or wait")
        await holder.rollback()
    done = await asyncio.wait_for(asyncio.gather(ledger, racer), timeout=LIMIT)
    return done[0], done[1]


async def _one_waiter(engine: AsyncEngine) -> bool:
    return await lock_waiters(engine) == 1


def allocations(block: str, count: int) -> list[dict[str, Any]]:
    hosts = list(ip_network(block).hosts())[:count]
    return [
        event("allocate", str(ip), T0 + timedelta(seconds=i), container_id=f"c{i}")
        for i, ip in enumerate(hosts)
    ]


def batch(events: list[dict[str, Any]]) -> dict[str, object]:
    return {"node": "node1", "events": events}


async def test_a_claim_racing_a_ledger_batch_of_the_same_node_does_not_deadlock(
    ipam: Ipam,
) -> None:
    ledger, claimed = await race(
        ipam,
        hold="SELECT 1 FROM nodes WHERE name = 'node1' FOR SHARE",  # as a claim in flight
        body=batch(allocations(ipam.block, 3)),
        other=lambda: claim(ipam.client, request_id=uuid.uuid4().hex),
    )
    assert ledger.status_code == 200, ledger.text
    assert ledger.json() == {"applied": 3, "duplicates": 0}
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["cidr"] != ipam.block


async def test_a_block_release_racing_a_ledger_batch_of_the_same_node_does_not_deadlock(
    ipam: Ipam,
) -> None:
    second = (await claim(ipam.client)).json()["cidr"]
    ip = str(next(ip_network(ipam.block).hosts()))
    opened = await ipam.client.post("/v1/ledger/events", json=batch([event("allocate", ip, T0)]))
    assert opened.status_code == 200, opened.text
    # the batch closes a lease of the first block (a row the release closes too), then
    # opens one in the second block, where it stops (the held block row)
    events = [event("release", ip, T0 + timedelta(minutes=1)), *allocations(second, 1)]

    def release() -> Awaitable[httpx.Response]:
        return ipam.client.request(
            "DELETE", f"/v1/nodes/node1/blocks/{ipam.block}", params={"force": "true"}
        )

    ledger, released = await race(
        ipam,
        hold=f"SELECT 1 FROM blocks WHERE cidr = '{second}' FOR UPDATE",
        body=batch(events),
        other=release,
    )
    assert ledger.status_code == 200, ledger.text
    assert released.status_code == 200, released.text
