"""Leader election on a coordination.k8s.io Lease in the fake API server: acquire, renew,
conflicts on resourceVersion, release, expiry measured on the follower's own clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.leader import LeaderElector
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import LEASES, LeaseRecord
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fake import FakeKube
from tests.fabric_controller.kube_fixtures import FakeClock, eventually, http_api

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def lease(api: HttpKubeApi, settings: KubeSettings) -> LeaseRecord:
    obj = await api.get(LEASES, settings.lease_name, namespace=settings.lease_namespace)
    return LeaseRecord.from_object(obj)


def elector(
    api: HttpKubeApi, settings: KubeSettings, clock: FakeClock, identity: str
) -> LeaderElector:
    return LeaderElector(
        api, settings=settings, clock=clock, metrics=KubeMetrics(), identity=identity
    )


@pytest.fixture
async def two_apis(fake_kube: tuple[FakeKube, str]) -> AsyncIterator[tuple[HttpKubeApi, ...]]:
    _, url = fake_kube
    apis = (http_api(url), http_api(url))
    try:
        yield apis
    finally:
        for api in apis:
            await api.aclose()


async def test_first_attempt_creates_the_lease_with_every_field(
    kube_api: HttpKubeApi, kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(kube_api, kube_settings, clock, "a")
    assert await a.try_acquire_or_renew()
    record = await lease(kube_api, kube_settings)
    assert record.holder == "a"
    assert record.duration_seconds == 15
    assert record.acquire_time == record.renew_time == clock.now()
    assert record.transitions == 0
    await clock.advance(2)
    assert await a.try_acquire_or_renew()
    renewed = await lease(kube_api, kube_settings)
    assert renewed.acquire_time == record.acquire_time  # same term
    assert renewed.renew_time == clock.now()
    assert int(renewed.resource_version) > int(record.resource_version)


async def test_two_replicas_racing_for_a_missing_lease_get_exactly_one_leader(
    two_apis: tuple[HttpKubeApi, ...], kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(two_apis[0], kube_settings, clock, "a")
    b = elector(two_apis[1], kube_settings, clock, "b")
    results = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(results) == [False, True]


class Interleaved:
    """Delegates to ``api``, but runs ``before_write`` right before its next replace: the
    window between reading the Lease and writing it back, where another replica may act."""

    def __init__(self, api: HttpKubeApi, before_write: Callable[[], Awaitable[object]]) -> None:
        self.api = api
        self.before_write: Callable[[], Awaitable[object]] | None = before_write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    async def replace(self, *args: Any, **kwargs: Any) -> Any:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            await hook()
        return await self.api.replace(*args, **kwargs)


async def test_a_takeover_racing_a_renewal_loses_on_resource_version(
    two_apis: tuple[HttpKubeApi, ...], kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(two_apis[0], kube_settings, clock, "a")
    assert await a.try_acquire_or_renew()
    b = elector(two_apis[1], kube_settings, clock, "b")
    assert not await b.try_acquire_or_renew()
    await clock.advance(16)  # b now believes a's lease expired ...
    b.api = Interleaved(two_apis[1], a.try_acquire_or_renew)
    assert not await b.try_acquire_or_renew()  # ... but a renewed between b's read and write
    assert b.api.before_write is None
    record = await lease(two_apis[0], kube_settings)
    assert (record.holder, record.transitions) == ("a", 0)


async def test_follower_takes_over_only_after_the_lease_expires_on_its_own_clock(
    two_apis: tuple[HttpKubeApi, ...], kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(two_apis[0], kube_settings, clock, "a")
    b = elector(two_apis[1], kube_settings, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b sees a's lease at t=0
    await clock.advance(14)
    assert not await b.try_acquire_or_renew()
    await clock.advance(1)
    assert await b.try_acquire_or_renew()
    record = await lease(two_apis[1], kube_settings)
    assert (record.holder, record.transitions) == ("b", 1)
    assert record.acquire_time == clock.now()
    assert not await a.try_acquire_or_renew()  # a sees b's fresh lease


async def test_leader_steps_down_when_another_holder_shows_up(
    two_apis: tuple[HttpKubeApi, ...], kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(two_apis[0], kube_settings, clock, "a")
    stop = asyncio.Event()
    working = asyncio.Event()

    async def work() -> None:
        working.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(a.run(work, stop))
    try:
        await eventually(working.is_set, what="leading")
        record = await lease(two_apis[1], kube_settings)
        intruder = LeaseRecord(
            holder="intruder",
            duration_seconds=15,
            renew_time=clock.now(),
            transitions=record.transitions + 1,
            resource_version=record.resource_version,
        )
        obj = intruder.to_object(name=kube_settings.lease_name, namespace="flatnet-system")
        await two_apis[1].replace(LEASES, kube_settings.lease_name, obj, namespace="flatnet-system")
        await clock.advance(kube_settings.retry_period)
        await eventually(lambda: not a.is_leader(), what="stepped down")
    finally:
        stop.set()
        await clock.advance(kube_settings.retry_period)
        await asyncio.wait_for(task, 10)
    assert (await lease(two_apis[1], kube_settings)).holder == "intruder"  # not released by a


async def test_stopping_the_leader_releases_the_lease_for_a_quick_handover(
    two_apis: tuple[HttpKubeApi, ...], kube_settings: KubeSettings, clock: FakeClock
) -> None:
    a = elector(two_apis[0], kube_settings, clock, "a")
    b = elector(two_apis[1], kube_settings, clock, "b")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()

    async def idle() -> None:
        await asyncio.Event().wait()

    task_a = asyncio.create_task(a.run(idle, stop_a))
    await eventually(a.is_leader, what="a leads")
    task_b = asyncio.create_task(b.run(idle, stop_b))
    try:
        await eventually(lambda: b.observed is not None, what="b follows")
        stop_a.set()
        await asyncio.wait_for(task_a, 10)
        released = await lease(two_apis[1], kube_settings)
        assert released.holder == ""
        await clock.advance(kube_settings.retry_period)  # one retry, not a lease duration
        await eventually(b.is_leader, what="b leads")
        taken = await lease(two_apis[1], kube_settings)
        assert (taken.holder, taken.transitions) == ("b", 1)
    finally:
        stop_a.set()
        stop_b.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task_b, 10)
