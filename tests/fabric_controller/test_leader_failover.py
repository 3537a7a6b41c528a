"""Two controller replicas against one fake API server: only the Lease holder runs the node
lifecycle loop; when the leader is cut off from the API, it stops its loop before the other
replica takes over, so handlers of the two replicas never run at the same time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import pytest

from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.errors import TemporaryError
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import LEASES, LeaseRecord, NodeInfo
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.runner import LifecycleRunner
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fake import FakeKube
from tests.fabric_controller.kube_fixtures import FakeClock, add_nodes, eventually, http_api, node

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Partition(httpx.AsyncBaseTransport):
    """A transport that can be cut: every new request then fails to connect."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.cut = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.cut:
            raise httpx.ConnectError("network partition", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Calls:
    """Every handler call of every replica, in order, with the active set at that moment."""

    clock: FakeClock
    log: list[tuple[float, str, str]] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    overlaps: int = 0


class RecordingRegistry:
    """``NodeRegistry`` of one replica; the node "flaky" always fails (so retries are in flight
    all the time)."""

    def __init__(self, replica: str, calls: Calls) -> None:
        self.replica = replica
        self.calls = calls
        self.registered: set[str] = set()

    async def register(self, node: NodeInfo) -> bool:
        if self.calls.active - {self.replica}:
            self.calls.overlaps += 1
        self.calls.active.add(self.replica)
        try:
            self.calls.log.append((self.calls.clock.monotonic(), self.replica, node.name))
            await asyncio.sleep(0.005)  # widen the window an overlap would need
            if node.name == "flaky":
                raise TemporaryError("IPAM says no")
            self.registered.add(node.name)
            return True
        finally:
            self.calls.active.discard(self.replica)

    async def release(self, name: str, *, reason: str) -> list[str] | None:
        return None

    async def names(self) -> list[str]:
        return sorted(self.registered)


@dataclass
class Replica:
    name: str
    transport: Partition
    api: HttpKubeApi
    registry: RecordingRegistry
    runner: LifecycleRunner

    def leading(self) -> bool:
        return self.runner.elector.is_leader()


async def test_failover_keeps_the_lifecycle_loop_single_active(
    fake_kube: tuple[FakeKube, str],
    kube_api: HttpKubeApi,
    clock: FakeClock,
    kube_settings: KubeSettings,
) -> None:
    fake, url = fake_kube
    kube_settings.retry_limit = 1000
    calls = Calls(clock)
    replicas = []
    for name in ("a", "b"):
        transport = Partition()
        api = http_api(url, transport=transport)
        registry = RecordingRegistry(name, calls)
        runner = LifecycleRunner(
            api,
            settings=kube_settings,
            ports=LifecyclePorts(registry),
            clock=clock,
            metrics=KubeMetrics(),
            identity=name,
        )
        replicas.append(Replica(name, transport, api, registry, runner))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.runner.run(stop)) for r in replicas]
    try:
        await eventually(lambda: sum(r.leading() for r in replicas) == 1, what="one leader")
        leader, follower = sorted(replicas, key=lambda r: not r.leading())
        await add_nodes(kube_api, node("n1", "192.0.2.1"), node("flaky", "192.0.2.9"))
        await eventually(lambda: "n1" in leader.registry.registered, what="leader registers")
        for _ in range(5):  # renewals keep the term going; the follower only watches
            await clock.advance(kube_settings.retry_period)
        assert leader.leading()
        assert not follower.leading()
        assert follower.registry.registered == set()

        leader.transport.cut = True  # the leader loses the API: no renewal, no watch
        fake.end_watches()
        await add_nodes(kube_api, node("n2", "192.0.2.2"))
        history: list[tuple[float, bool, bool]] = []
        for _ in range(20):
            await clock.advance(kube_settings.retry_period)
            history.append((clock.monotonic(), leader.leading(), follower.leading()))
            if follower.leading():
                break
        assert follower.leading()
        assert not leader.leading()
        assert leader.runner.lifecycle is None  # its loop (queue, watcher) is gone
        stepped_down = min(t for t, old, _ in history if not old)
        took_over = min(t for t, _, new in history if new)
        assert took_over - stepped_down >= (
            kube_settings.lease_duration - kube_settings.renew_deadline - kube_settings.retry_period
        )
        await eventually(
            lambda: follower.registry.registered == {"n1", "n2"}, what="new leader catches up"
        )
        for _ in range(3):
            await clock.advance(kube_settings.backoff_max)  # the new leader retries "flaky"

        leader.transport.cut = False  # the old leader comes back: it stays a follower
        for _ in range(5):
            await clock.advance(kube_settings.retry_period)
        assert not leader.leading()
        assert follower.leading()
    finally:
        stop.set()
        await clock.advance(kube_settings.retry_period)
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        for r in replicas:
            await r.api.aclose()

    assert calls.overlaps == 0
    order = [replica for _, replica, _ in calls.log]
    switch = order.index(follower.name)
    assert set(order[:switch]) == {leader.name}  # every call of the old leader came first,
    assert set(order[switch:]) == {follower.name}  # then only the new leader's
    last_old = max(t for t, r, _ in calls.log if r == leader.name)
    first_new = min(t for t, r, _ in calls.log if r == follower.name)
    assert last_old < first_new
    final = LeaseRecord.from_object(
        await kube_api.get(LEASES, kube_settings.lease_name, namespace="flatnet-system")
    )
    assert final.holder == ""  # released on stop
    assert final.transitions == 1
