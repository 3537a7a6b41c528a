"""Concurrent writers on separate connections: the database keeps names and ASNs unique."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fabric_controller.config import ControllerSettings
from fabric_controller.database import async_engine, session_factory
from fabric_controller.errors import ControllerError
from fabric_controller.schemas import FabricCreate, RackCreate
from fabric_controller.services.asns import AsnService
from fabric_controller.services.fabrics import FabricService
from fabric_controller.services.racks import RackService
from tests.databases import fresh_database

WRITERS = 8


@pytest.fixture
async def committed(pg_server_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database of its own, whose commits are real."""
    with fresh_database(pg_server_url, prefix="flatnet_ctl_race", migrated=True) as url:
        engine: AsyncEngine = async_engine(url, pool_size=WRITERS, max_overflow=0)
        try:
            yield session_factory(engine)
        finally:
            await engine.dispose()


async def test_concurrent_allocations_get_distinct_asns(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    settings = ControllerSettings(database_url="unused")
    async with committed() as session:
        spec = {
            "name": "dc1",
            "asn_model": "per-node",
            "asn_range": {"first": 64512, "last": 64520},
        }
        await FabricService(session, settings).create(FabricCreate.model_validate(spec))
        await session.commit()

    async def allocate(node: str) -> int:
        async with committed() as session:
            fabric = await FabricService(session, settings).row("dc1")
            asns = await AsnService(session).ensure(fabric, [node])
            await session.commit()
            return asns[node]

    got = await asyncio.gather(*(allocate(f"n{i}") for i in range(WRITERS)))
    assert sorted(got) == list(range(64512, 64512 + WRITERS))
    again = await asyncio.gather(*(allocate(f"n{i}") for i in range(WRITERS)))
    assert again == got  # stable once allocated


async def test_one_of_racing_duplicate_racks_wins(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    settings = ControllerSettings(database_url="unused")
    async with committed() as session:
        await FabricService(session, settings).create(
            FabricCreate(name="dc1", asn_model="per-rack")
        )
        await session.commit()

    async def create(n: int) -> str:
        spec = RackCreate.model_validate(
            {"name": "r1" if n % 2 else f"r{n + 10}", "fabric": "dc1", "asn": 65101}
            | {"subnets": [f"10.{n}.0.0/24"]}
        )
        async with committed() as session:
            try:
                await RackService(session, settings).create(spec)
                await session.commit()
            except ControllerError as exc:
                return exc.slug
            return "created"

    outcomes = await asyncio.gather(*(create(n) for n in range(WRITERS)))
    # every rack wants ASN 65101 in one per-rack fabric: exactly one of all of them wins
    assert outcomes.count("created") == 1
    assert set(outcomes) - {"created"} <= {"asn-conflict", "duplicate"}
