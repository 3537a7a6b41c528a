"""The node lifecycle loop frees a released node's per-node ASN, and its orphan sweep does not
act on an IPAM list that is older than what the loop did meanwhile.

Fakes behind the loop's ``Protocol``s (IPAM's node registry, the ASN registry, the drift
report) where a test must control *when* an answer comes; the real controller, IPAM and
PostgreSQL where it checks that the ASN is really free again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.ipamnodes import IpamNodes
from fabric_controller.kube.lifecycle import NodeLifecycle, Phase
from fabric_controller.kube.objects import NodeInfo
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.services.registry import TopologyRegistry
from tests.fabric_controller.kube_fixtures import (
    FakeClock,
    add_nodes,
    delete_until_gone,
    eventually,
    node,
    running_lifecycle,
)
from tests.fabric_controller.topology_fixtures import (
    RACK_LABEL,
    make_fabric,
    make_node,
    make_rack,
    ok,
    tor,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
FIRST = 4_200_000_000


@dataclass
class FakeNodes:
    """``NodeRegistry`` over a set of live names. ``names()`` takes its answer when asked and
    hands it over only once ``gate`` is set: an IPAM list still on its way."""

    live: set[str] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    released: list[str] = field(default_factory=list)

    async def register(self, node: NodeInfo) -> bool:
        new = node.name not in self.live
        self.live.add(node.name)
        return new

    async def release(self, name: str, *, reason: str) -> list[str] | None:
        if name not in self.live:
            return None
        self.live.discard(name)
        self.released.append(name)
        return []

    async def names(self) -> list[str]:
        answer = sorted(self.live)
        await self.gate.wait()
        return answer


@dataclass
class FlakyAsns:
    """``AsnRegistry`` whose first ``failures`` calls fail (the database away)."""

    failures: int = 0
    calls: list[str] = field(default_factory=list)

    async def release_asn(self, name: str) -> bool:
        self.calls.append(name)
        if len(self.calls) <= self.failures:
            raise ConnectionError("database unavailable")
        return True


class CleanRoutes:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def routes_of(self, node: str) -> Sequence[str]:
        self.asked.append(node)
        return []


async def release_after_grace(
    lifecycle: NodeLifecycle, api: HttpKubeApi, clock: FakeClock, *names: str
) -> None:
    """Delete the Nodes and run the clock to the end of their grace period."""
    await delete_until_gone(lifecycle, api, clock, *names)
    await clock.advance(lifecycle.settings.grace_period)


async def test_an_ipam_list_older_than_a_release_changes_nothing(
    kube_api: HttpKubeApi, kube_settings: KubeSettings, clock: FakeClock
) -> None:
    """The start-up sweep asks IPAM; meanwhile n1 (listed) and n2 (never registered) are
    released. The late list must neither restart n1's release nor forget n2's verdict."""
    nodes = FakeNodes(live={"n1"})
    await add_nodes(kube_api, node("n1", "192.0.2.1"), node("n2", None))
    async with running_lifecycle(
        kube_api, settings=kube_settings, clock=clock, ports=LifecyclePorts(nodes)
    ) as lifecycle:
        await eventually(lambda: lifecycle.phase_of("n1") is Phase.PRESENT, what="n1 present")
        grace = kube_settings.grace_period
        await release_after_grace(lifecycle, kube_api, clock, "n1", "n2")
        for name in ("n1", "n2"):
            await eventually(lambda n=name: lifecycle.phase_of(n) is Phase.CLEAN, what=name)  # type: ignore[misc]
        nodes.gate.set()  # the list from before the release arrives: n1 still in it
        await clock.armed(grace + kube_settings.resync_period, what="the sweep done")
        assert lifecycle.phase_of("n1") is Phase.CLEAN  # not GONE again
        assert lifecycle.phase_of("n2") is Phase.CLEAN  # not forgotten
        assert nodes.released == ["n1"]
        assert (
            lifecycle.metrics.registry.get_sample_value("flatnet_controller_kube_pending_releases")
            == 0
        )


async def test_the_asn_is_freed_after_the_release_and_retried_when_that_fails(
    kube_api: HttpKubeApi, kube_settings: KubeSettings, clock: FakeClock
) -> None:
    nodes = FakeNodes(live={"n1"})
    nodes.gate.set()
    asns, routes = FlakyAsns(failures=1), CleanRoutes()
    await add_nodes(kube_api, node("n1", "192.0.2.1"))
    async with running_lifecycle(
        kube_api,
        settings=kube_settings,
        clock=clock,
        ports=LifecyclePorts(nodes, asns=asns, routes=routes),
    ) as lifecycle:
        await eventually(lambda: lifecycle.phase_of("n1") is Phase.PRESENT, what="n1 present")
        await delete_until_gone(lifecycle, kube_api, clock, "n1")
        grace = kube_settings.grace_period
        await clock.advance(grace - 1)
        assert asns.calls == []  # not before the grace period ends
        await clock.advance(1)
        await eventually(lambda: asns.calls == ["n1"], what="first attempt")
        assert lifecycle.phase_of("n1") is Phase.RELEASED  # IPAM done, the ASN not yet
        retry = grace + kube_settings.backoff_initial
        await clock.armed(retry, what="retry after the failure")
        await clock.advance(kube_settings.backoff_initial)
        await eventually(lambda: lifecycle.phase_of("n1") is Phase.CLEAN, what="n1 clean")
        assert asns.calls == ["n1", "n1"]
        assert nodes.released == ["n1"]  # IPAM's release is not repeated
        assert routes.asked == ["n1"]  # and the route check still happened


@pytest.fixture
async def topology_api(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    kube_ipam_transport: httpx.ASGITransport,
    secrets_dir: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, TopologyRegistry]]:
    """The controller app and its topology registry, on the test's transaction, reaching
    an IPAM of its own database and connection pool (the loop calls it concurrently)."""
    settings = ControllerSettings(auth="off", database_url="unused", secrets_dir=secrets_dir)
    ipam = IpamClient("http://ipam", transport=kube_ipam_transport)
    app = create_app(settings, sessionmaker=db_sessionmaker, ipam=ipam)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as client:
        yield client, TopologyRegistry(db_sessionmaker, settings)
    await ipam.aclose()


async def test_a_released_node_gives_its_asn_back_to_the_fabric(
    topology_api: tuple[httpx.AsyncClient, TopologyRegistry],
    kube_ipam_http: httpx.AsyncClient,
    kube_ipam_client: IpamClient,
    kube_api: HttpKubeApi,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    """Real controller, IPAM and PostgreSQL: a two-ASN range is full, n1 leaves the cluster,
    its ASN is free again and the next node gets it; freeing twice is harmless."""
    controller, registry = topology_api
    await make_fabric(controller, "dc1", asn_range={"first": FIRST, "last": FIRST + 1})
    await make_rack(controller, "r1", tors=(tor("tor1", 65000),))
    for name, address in (("n1", "10.10.0.11"), ("n2", "10.10.0.12")):
        await make_node(kube_ipam_http, name, address)
        await add_nodes(kube_api, node(name, address, **{RACK_LABEL: "r1"}))
    assert ok(await controller.get("/v1/nodes/n1/bgp"))["local_as"] == FIRST
    assert ok(await controller.get("/v1/nodes/n2/bgp"))["local_as"] == FIRST + 1

    async with running_lifecycle(
        kube_api,
        settings=kube_settings,
        clock=clock,
        ports=LifecyclePorts(IpamNodes(kube_ipam_client), asns=registry),
    ) as lifecycle:
        for name in ("n1", "n2"):
            await eventually(lambda n=name: lifecycle.phase_of(n) is Phase.PRESENT, what=name)  # type: ignore[misc]
        await release_after_grace(lifecycle, kube_api, clock, "n1")
        await eventually(lambda: lifecycle.phase_of("n1") is Phase.CLEAN, what="n1 released")

    assert await kube_ipam_client.get_node("n1") is None
    asns = ok(await controller.get("/v1/fabrics/dc1/asns"))["items"]
    assert [(a["node"], a["asn"]) for a in asns] == [("n2", FIRST + 1)]
    assert await registry.release_asn("n1") is False  # idempotent
    await make_node(kube_ipam_http, "n3", "10.10.0.13")
    assert ok(await controller.get("/v1/nodes/n3/bgp"))["local_as"] == FIRST  # reused
