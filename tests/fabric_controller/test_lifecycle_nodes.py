"""The node lifecycle loop end to end: Nodes in the fake API server, the real IPAM on real
PostgreSQL, a fake clock for the grace period."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.ipamnodes import IpamNodes
from fabric_controller.kube.lifecycle import NodeLifecycle, Phase
from fabric_controller.kube.objects import NODES
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fixtures import (
    FakeClock,
    add_nodes,
    delete_until_gone,
    eventually,
    node,
    running_lifecycle,
    settled,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
RACK = "topology.flatnet.io/rack"


class Racks:
    """``RackRegistry`` that remembers what it was asked to create."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def ensure_rack(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)


class Routes:
    """``RouteReport`` scripted per check: each call pops the next answer."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def routes_of(self, node: str) -> Sequence[str]:
        self.asked.append(node)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@dataclass
class Loop:
    lifecycle: NodeLifecycle
    racks: Racks

    def phase(self, name: str) -> Phase | None:
        return self.lifecycle.phase_of(name)

    def sample(self, metric: str, **labels: str) -> float:
        return self.lifecycle.metrics.registry.get_sample_value(metric, labels) or 0.0


@contextlib.asynccontextmanager
async def running(
    api: HttpKubeApi,
    ipam: IpamClient,
    *,
    settings: KubeSettings,
    clock: FakeClock,
    routes: Routes | None = None,
) -> AsyncIterator[Loop]:
    """The loop on the real IPAM, with a rack registry that remembers."""
    racks = Racks()
    async with running_lifecycle(
        api,
        settings=settings,
        clock=clock,
        ports=LifecyclePorts(IpamNodes(ipam), racks=racks, routes=routes),
    ) as lifecycle:
        yield Loop(lifecycle, racks)


async def make_pool(ipam: httpx.AsyncClient) -> None:
    body = {"name": "pods", "cidrs": ["10.244.0.0/16"], "block_prefixlen": 26}
    assert (await ipam.post("/v1/pools", json=body)).status_code == 201


async def claim(ipam: httpx.AsyncClient, name: str) -> str:
    body = {"pool": "pods", "request_id": uuid.uuid4().hex}
    r = await ipam.post(f"/v1/nodes/{name}/blocks", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["cidr"])


async def held(ipam: httpx.AsyncClient, name: str) -> list[str]:
    r = await ipam.get("/v1/blocks", params={"node": name, "state": "held"})
    return [b["cidr"] for b in r.json()["items"]]


async def allocate(ipam: httpx.AsyncClient, name: str, ip: str) -> None:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "kind": "allocate",
        "ip": ip,
        "at": datetime.now(UTC).isoformat(),
        "container_id": "c1",
        "ifname": "eth0",
    }
    r = await ipam.post("/v1/ledger/events", json={"node": name, "events": [event]})
    assert r.status_code == 200, r.text


async def test_nodes_are_registered_with_their_ip_labels_and_rack(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    await add_nodes(kube_api, node("n1", "192.0.2.1", **{RACK: "r1"}), node("n2", None))
    async with running(kube_api, kube_ipam_client, settings=kube_settings, clock=clock) as loop:
        await eventually(lambda: loop.phase("n1") is Phase.PRESENT, what="n1 registered")
        n1 = await kube_ipam_client.get_node("n1")
        assert n1 is not None
        assert str(n1.node_ip) == "192.0.2.1"
        assert n1.labels == {RACK: "r1"}
        assert loop.racks.names == ["r1"]
        assert await kube_ipam_client.get_node("n2") is None  # no InternalIP yet
        patch = {"status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.2"}]}}
        await kube_api.patch(NODES, "n2", patch)
        await kube_api.patch(NODES, "n1", {"metadata": {"labels": {RACK: "r2", "gpu": "yes"}}})
        await eventually(lambda: loop.phase("n2") is Phase.PRESENT, what="n2 registered")
        await eventually(lambda: loop.racks.names == ["r1", "r2"], what="rack r2")

        async def relabelled() -> bool:  # the rack is ensured first, IPAM is told after
            n1 = await kube_ipam_client.get_node("n1")
            assert n1 is not None
            return n1.labels == {RACK: "r2", "gpu": "yes"}

        await settled(relabelled, what="n1's new labels in IPAM")


async def test_a_deleted_node_keeps_its_blocks_until_the_grace_period_ends(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_ipam_http: httpx.AsyncClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    await make_pool(kube_ipam_http)
    await add_nodes(kube_api, node("n1", "192.0.2.1"), node("n2", "192.0.2.2"))
    async with running(kube_api, kube_ipam_client, settings=kube_settings, clock=clock) as loop:
        await eventually(lambda: loop.phase("n1") is Phase.PRESENT, what="n1 registered")
        await eventually(lambda: loop.phase("n2") is Phase.PRESENT, what="n2 registered")
        blocks = [await claim(kube_ipam_http, "n1"), await claim(kube_ipam_http, "n1")]
        other = await claim(kube_ipam_http, "n2")
        await allocate(kube_ipam_http, "n1", blocks[0].replace("0/26", "5"))

        await delete_until_gone(loop.lifecycle, kube_api, clock, "n1")
        assert loop.sample("flatnet_controller_kube_pending_releases") == 1
        await clock.advance(kube_settings.grace_period - 1)
        assert loop.phase("n1") is Phase.GONE
        assert sorted(await held(kube_ipam_http, "n1")) == sorted(blocks)  # not before

        await clock.advance(1)
        await eventually(lambda: loop.phase("n1") is Phase.CLEAN, what="n1 released")
        assert await held(kube_ipam_http, "n1") == []
        assert await held(kube_ipam_http, "n2") == [other]  # nobody else's
        assert await kube_ipam_client.get_node("n1") is None
        released = await kube_ipam_client.list_blocks(node="n1", state="released")
        assert sorted(str(b.cidr) for b in released) == sorted(blocks)
        reason = "node deleted: kubernetes Node deleted and gone for 60s (fabric controller)"
        assert [b.release_reason for b in released] == [reason, reason]
        ip = blocks[0].replace("0/26", "5")
        history = (await kube_ipam_http.get(f"/v1/audit/ips/{ip}/history")).json()["items"]
        assert history[0]["end"] is not None
        assert history[0]["close_reason"] == reason
        assert loop.sample("flatnet_controller_kube_nodes_released_total") == 1
        assert loop.sample("flatnet_controller_kube_pending_releases") == 0


async def test_a_node_back_before_the_grace_period_cancels_the_release(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_ipam_http: httpx.AsyncClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    await make_pool(kube_ipam_http)
    await add_nodes(kube_api, node("n1", "192.0.2.1"))
    async with running(kube_api, kube_ipam_client, settings=kube_settings, clock=clock) as loop:
        await eventually(lambda: loop.phase("n1") is Phase.PRESENT, what="n1 registered")
        block = await claim(kube_ipam_http, "n1")
        await delete_until_gone(loop.lifecycle, kube_api, clock, "n1")
        await clock.advance(kube_settings.grace_period / 2)
        await add_nodes(kube_api, node("n1", "192.0.2.1"))  # rebooted and re-joined
        await eventually(lambda: loop.phase("n1") is Phase.PRESENT, what="n1 back")
        await clock.advance(kube_settings.grace_period * 2)
        assert loop.phase("n1") is Phase.PRESENT
        assert await held(kube_ipam_http, "n1") == [block]
        assert loop.sample("flatnet_controller_kube_releases_cancelled_total") == 1
        assert loop.sample("flatnet_controller_kube_nodes_released_total") == 0


async def test_an_ipam_node_without_a_node_object_is_released_after_the_grace_period(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_ipam_http: httpx.AsyncClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    await make_pool(kube_ipam_http)
    r = await kube_ipam_http.put("/v1/nodes/ghost", json={"node_ip": "192.0.2.66"})
    assert r.status_code == 201
    block = await claim(kube_ipam_http, "ghost")
    async with running(kube_api, kube_ipam_client, settings=kube_settings, clock=clock) as loop:
        await eventually(lambda: loop.phase("ghost") is Phase.GONE, what="orphan found")
        await clock.armed(kube_settings.grace_period, what="re-check at the end of the grace")
        await clock.advance(kube_settings.grace_period - 1)
        assert await held(kube_ipam_http, "ghost") == [block]
        await clock.advance(1)
        await eventually(lambda: loop.phase("ghost") is Phase.CLEAN, what="orphan released")
        assert await held(kube_ipam_http, "ghost") == []
        (released,) = await kube_ipam_client.list_blocks(node="ghost", state="released")
        assert "no kubernetes Node object for 60s" in released.release_reason


async def test_a_node_ipam_never_knew_is_done_after_its_grace_period(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
) -> None:
    routes = Routes(["should not be asked"])
    await add_nodes(kube_api, node("bare", None))  # never got an address: never registered
    async with running(
        kube_api, kube_ipam_client, settings=kube_settings, clock=clock, routes=routes
    ) as loop:
        await delete_until_gone(loop.lifecycle, kube_api, clock, "bare")
        await clock.advance(kube_settings.grace_period)
        await eventually(lambda: loop.phase("bare") is Phase.CLEAN, what="done")
        assert routes.asked == []
        assert loop.sample("flatnet_controller_kube_nodes_released_total") == 0


async def recheck_routes(
    loop: Loop, clock: FakeClock, settings: KubeSettings, *, start: float
) -> None:
    """Advance to each scheduled route re-check while n1 stays RELEASED (bounded by the
    attempts), each time only once the loop has gone to sleep until that re-check."""
    deadline = start
    for _ in range(settings.route_check_attempts):
        deadline += settings.route_check_interval

        def scheduled(at: float = deadline) -> bool:
            return loop.phase("n1") is not Phase.RELEASED or clock.sleeping_until(at)

        await eventually(scheduled, what=f"route re-check at {deadline:g}")
        if loop.phase("n1") is not Phase.RELEASED:
            return
        await clock.advance(settings.route_check_interval)


@pytest.mark.parametrize(
    ("answers", "phase", "checks", "lingering"),
    [
        pytest.param(
            (["10.244.0.0/26 on tor1 (stale)"], []), Phase.CLEAN, 2, 0.0, id="withdrawn-later"
        ),
        pytest.param(
            (["10.244.0.0/26 on tor1 (stale)", "10.244.0.64/26 on tor2 (stale)"],),
            Phase.LINGERING,
            3,
            2.0,
            id="still-announced",
        ),
    ],
)
async def test_after_release_the_drift_report_must_show_the_routes_gone(
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
    kube_settings: KubeSettings,
    clock: FakeClock,
    answers: tuple[list[str], ...],
    phase: Phase,
    checks: int,
    lingering: float,
) -> None:
    routes = Routes(*answers)
    await add_nodes(kube_api, node("n1", "192.0.2.1"))
    async with running(
        kube_api, kube_ipam_client, settings=kube_settings, clock=clock, routes=routes
    ) as loop:
        await eventually(lambda: loop.phase("n1") is Phase.PRESENT, what="n1 registered")
        await delete_until_gone(loop.lifecycle, kube_api, clock, "n1")
        await clock.advance(kube_settings.grace_period)
        await eventually(lambda: loop.phase("n1") is Phase.RELEASED, what="released")
        await recheck_routes(loop, clock, kube_settings, start=kube_settings.grace_period)
        await eventually(lambda: loop.phase("n1") is phase, what=str(phase))
        assert routes.asked == ["n1"] * checks
        for _ in range(2):  # and no check after the verdict
            await clock.advance(kube_settings.route_check_interval)
        assert routes.asked == ["n1"] * checks
        metric = "flatnet_controller_kube_lingering_routes"
        assert loop.sample(metric, node="n1") == lingering
