"""Fixtures and helpers of the Kubernetes tests: a fake clock, the fake API server on a
loopback port, adapters pointed at it, a guard against leaked asyncio tasks, and a real IPAM
(on real PostgreSQL) served in-process.

Test modules import the fixtures they use by name (``from ...kube_fixtures import ...``);
PostgreSQL itself is ``pg_server_url`` from the package's ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.lifecycle import NodeLifecycle, Phase
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import NAMESPACES, NODES, Object, WatchEvent
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.settings import KubeSettings
from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, make_sessionmaker
from tests.databases import fresh_database
from tests.fabric_controller.kube_fake import FakeKube, serve


class FakeClock:
    """A ``Clock`` that moves only when the test says so."""

    def __init__(self, start: datetime = datetime(2030, 1, 1, tzinfo=UTC)) -> None:
        self._start = start
        self._t = 0.0
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    def monotonic(self) -> float:
        return self._t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), future))
        await future

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def sleeping_until(self, deadline: float) -> bool:
        """Whether some task sleeps on this clock until ``deadline`` (fake seconds)."""
        return any(abs(d - deadline) < 1e-9 for d, _, f in self._sleepers if not f.done())

    async def armed(self, deadline: float, *, what: str) -> None:
        """Wait (real time, bounded) until a task sleeps until ``deadline``.

        A handler's re-check (say, at the end of a grace period) goes to sleep only after
        the handler has returned, a few event-loop turns after the state a test can see
        has changed. :meth:`advance` wakes only sleepers already registered: advancing in
        that window leaves the re-check asleep until ``deadline`` *plus* the advance, and
        the test waits for it in vain. Call this first, with the deadline the code under
        test must have set, then ``advance``.
        """
        await eventually(
            lambda: self.sleeping_until(deadline), what=f"{what} (sleep until {deadline:g})"
        )

    async def advance(self, seconds: float, *, settle: float = 0.05) -> None:
        """Move time on, waking sleepers in deadline order; let woken tasks run (and do their
        loopback I/O) for up to ``settle`` real seconds between wake-ups."""
        target = self._t + seconds
        for _ in range(100_000):
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, future = heapq.heappop(self._sleepers)
            self._t = max(self._t, deadline)
            if not future.done():
                future.set_result(None)
                await asyncio.sleep(settle)
        self._t = target
        await asyncio.sleep(settle)


async def eventually(
    condition: Callable[[], bool], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Wait (real time, bounded) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def settled(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Like :func:`eventually` for a check that must ask (IPAM, say) rather than look."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test when it leaves asyncio tasks running."""
    before = set(asyncio.all_tasks())
    yield
    leaked: set[asyncio.Task[Any]] = set()
    for _ in range(100):
        current = asyncio.current_task()
        leaked = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
        if not leaked:
            return
        await asyncio.sleep(0.02)
    names = sorted(t.get_name() for t in leaked)
    for task in leaked:  # do not let them disturb the next tests
        task.cancel()
    pytest.fail(f"the test leaked asyncio tasks: {names}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kube_settings() -> KubeSettings:
    return KubeSettings(
        enabled=True,
        watch_timeout=30,
        watch_backoff_initial=1.0,
        watch_backoff_max=4.0,
        resync_period=3600.0,
        lease_duration=15.0,
        renew_deadline=10.0,
        retry_period=2.0,
        backoff_initial=1.0,
        backoff_max=8.0,
        retry_limit=4,
        worker_idle_timeout=600.0,
        grace_period=60.0,
        route_check_interval=5.0,
        route_check_attempts=3,
    )


@pytest.fixture
async def fake_kube(no_leaked_tasks: None) -> AsyncIterator[tuple[FakeKube, str]]:
    fake = FakeKube(window=50)
    async with serve(fake) as url:
        yield fake, url


@pytest.fixture
async def kube_api(fake_kube: tuple[FakeKube, str]) -> AsyncIterator[HttpKubeApi]:
    _, url = fake_kube
    api = http_api(url)
    try:
        yield api
    finally:
        await api.aclose()


async def drain(stream: AsyncGenerator[WatchEvent, None]) -> list[WatchEvent]:
    """Read a watch to its end."""
    async with contextlib.aclosing(stream):
        return [event async for event in stream]


def http_api(url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> HttpKubeApi:
    http = httpx.AsyncClient(base_url=url, transport=transport)
    return HttpKubeApi(http, request_timeout=5.0, watch_read_slack=5.0)


def node(name: str, ip: str | None = "192.0.2.10", **labels: str) -> Object:
    obj: Object = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    obj["metadata"]["labels"] = dict(labels)
    obj["status"] = {"addresses": [] if ip is None else [{"type": "InternalIP", "address": ip}]}
    return obj


def namespace(name: str, **annotations: str) -> Object:
    meta = {"name": name, "annotations": dict(annotations)}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


async def add_nodes(api: HttpKubeApi, *objs: Object) -> list[Object]:
    return [await api.create(NODES, obj) for obj in objs]


async def add_namespaces(api: HttpKubeApi, *objs: Object) -> list[Object]:
    return [await api.create(NAMESPACES, obj) for obj in objs]


# -- the node lifecycle loop ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_lifecycle(
    api: HttpKubeApi,
    *,
    settings: KubeSettings,
    clock: FakeClock,
    ports: LifecyclePorts,
) -> AsyncIterator[NodeLifecycle]:
    """One leader term of the loop, running (its Node watch synced) until the block ends."""
    lifecycle = NodeLifecycle(
        api,
        settings=settings,
        clock=clock,
        metrics=KubeMetrics(),
        ports=ports,
    )
    task = asyncio.create_task(lifecycle.run())
    try:
        await eventually(lifecycle.watcher.synced.is_set, what="node watch synced")
        yield lifecycle
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def delete_until_gone(
    lifecycle: NodeLifecycle, api: HttpKubeApi, clock: FakeClock, *names: str
) -> None:
    """Delete the Nodes; wait until each is GONE and the re-check at the end of its grace
    period is armed (so the test may advance the clock to it)."""
    deadline = clock.monotonic() + lifecycle.settings.grace_period
    for name in names:
        await api.delete(NODES, name)
    for name in names:
        await eventually(lambda n=name: lifecycle.phase_of(n) is Phase.GONE, what=f"{name} gone")  # type: ignore[misc]
    await clock.armed(deadline, what="re-check at the end of the grace")


# -- a real IPAM on real PostgreSQL, in-process ----------------------------------------------


@pytest.fixture(scope="session")
def kube_ipam_template(pg_server_url: str) -> Iterator[str]:
    """A database at schema head that each test copies (CREATE DATABASE ... TEMPLATE)."""
    with fresh_database(pg_server_url, prefix="flatnet_kube_tmpl", migrated=True) as url:
        yield url


@pytest.fixture
def kube_ipam_database(pg_server_url: str, kube_ipam_template: str) -> Iterator[str]:
    with fresh_database(
        pg_server_url, prefix="flatnet_kube", migrated=False, template=kube_ipam_template
    ) as url:
        yield url


@pytest.fixture
async def kube_ipam_transport(kube_ipam_database: str) -> AsyncIterator[httpx.ASGITransport]:
    """The real IPAM app (auth off) on its own database, reached in-process."""
    engine = make_engine(kube_ipam_database, pool_size=4, max_overflow=4)
    app = create_app(
        IpamSettings(auth="off", database_url="unused"),
        sessionmaker=make_sessionmaker(engine),
        refresh_gauges=False,
    )
    try:
        yield httpx.ASGITransport(app=app)
    finally:
        await engine.dispose()


@pytest.fixture
async def kube_ipam_http(
    kube_ipam_transport: httpx.ASGITransport,
) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client of that IPAM, for test setup and checks."""
    async with httpx.AsyncClient(transport=kube_ipam_transport, base_url="http://ipam") as client:
        yield client


@pytest.fixture
async def kube_ipam_client(kube_ipam_transport: httpx.ASGITransport) -> AsyncIterator[IpamClient]:
    """The controller's IPAM client, talking to the same in-process IPAM."""
    client = IpamClient("http://ipam", transport=kube_ipam_transport)
    try:
        yield client
    finally:
        await client.aclose()
