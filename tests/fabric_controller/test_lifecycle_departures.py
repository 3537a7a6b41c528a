"""A node's grace period outlives the leader that started it (``node_departures``).

The departure is kept in the controller's database, so a leader change (failover, a
rolling update of the controller) continues every grace period instead of starting it
again, and a node that came back is forgotten so its next departure starts a full one.
Real IPAM and PostgreSQL, the fake Kubernetes API, a fake clock.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.ipamnodes import IpamNodes
from fabric_controller.kube.lifecycle import Phase
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.models import NodeDeparture
from fabric_controller.services.departures import DepartureLog
from tests.fabric_controller.kube_fixtures import (
    FakeClock,
    add_nodes,
    delete_until_gone,
    eventually,
    node,
    running_lifecycle,
)
from tests.fabric_controller.test_lifecycle_nodes import claim, held, make_pool

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def recorded(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, datetime]:
    async with sessionmaker() as session:
        rows = await session.execute(select(NodeDeparture.node, NodeDeparture.gone_since))
        return {node: since for node, since in rows}


async def test_a_new_leader_releases_at_the_end_of_the_grace_period_the_old_one_started(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_ipam_http: httpx.AsyncClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    grace = kube_settings.grace_period
    ports = LifecyclePorts(IpamNodes(kube_ipam_client), departures=DepartureLog(db_sessionmaker))
    await make_pool(kube_ipam_http)
    await add_nodes(kube_api, node("n1", "192.0.2.1"))
    async with running_lifecycle(
        kube_api, settings=kube_settings, clock=clock, ports=ports
    ) as first:
        await eventually(lambda: first.phase_of("n1") is Phase.PRESENT, what="n1 registered")
        block = await claim(kube_ipam_http, "n1")
        began = clock.monotonic()
        await delete_until_gone(first, kube_api, clock, "n1")
        assert await recorded(db_sessionmaker) == {"n1": clock.now()}
        await clock.advance(grace * 3 / 4)
    # the leader is gone; the next one finds n1 through its orphan sweep
    async with running_lifecycle(  # the same ports: the database is what survives
        kube_api, settings=kube_settings, clock=clock, ports=ports
    ) as second:
        await eventually(lambda: second.phase_of("n1") is Phase.GONE, what="n1 gone again")
        await clock.armed(began + grace, what="the first leader's deadline")
        await clock.advance(grace / 4 - 1)
        assert await held(kube_ipam_http, "n1") == [block]  # not before
        await clock.advance(1)
        await eventually(lambda: second.phase_of("n1") is Phase.CLEAN, what="n1 released")
        assert await held(kube_ipam_http, "n1") == []
        assert await recorded(db_sessionmaker) == {}


async def test_a_node_that_came_back_meanwhile_gets_a_full_grace_period_next_time(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_ipam_http: httpx.AsyncClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A departure recorded by a leader that died before it saw the node return is
    forgotten when the next leader sees the node present."""
    grace = kube_settings.grace_period
    departures = DepartureLog(db_sessionmaker)
    await departures.gone_since("n1", datetime(2029, 1, 1).astimezone())  # long ago
    await make_pool(kube_ipam_http)
    await add_nodes(kube_api, node("n1", "192.0.2.1"))
    async with running_lifecycle(
        kube_api,
        settings=kube_settings,
        clock=clock,
        ports=LifecyclePorts(IpamNodes(kube_ipam_client), departures=departures),
    ) as loop:
        await eventually(lambda: loop.phase_of("n1") is Phase.PRESENT, what="n1 registered")
        assert await recorded(db_sessionmaker) == {}
        block = await claim(kube_ipam_http, "n1")
        await delete_until_gone(loop, kube_api, clock, "n1")  # armed at a full grace period
        await clock.advance(grace - 1)
        assert loop.phase_of("n1") is Phase.GONE
        assert await held(kube_ipam_http, "n1") == [block]
        await add_nodes(kube_api, node("n1", "192.0.2.1"))
        await eventually(lambda: loop.phase_of("n1") is Phase.PRESENT, what="n1 back")
        assert await recorded(db_sessionmaker) == {}
