"""List-then-watch: resourceVersion, bookmarks, 410 Gone -> relist without missing events,
backoff on failures and resync, against the fake API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.objects import NAMESPACES, NODES, EventType, WatchEvent
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.watching import Watcher
from tests.fabric_controller.kube_fake import FakeKube
from tests.fabric_controller.kube_fixtures import (
    FakeClock,
    add_namespaces,
    add_nodes,
    eventually,
    namespace,
    node,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Running:
    def __init__(self, watcher: Watcher, events: list[WatchEvent]) -> None:
        self.watcher = watcher
        self.events = events

    def seen(self) -> list[tuple[str, str]]:
        return [(e.type.value, e.name) for e in self.events]


@pytest.fixture
async def running(
    kube_api: HttpKubeApi, kube_settings: KubeSettings, clock: FakeClock
) -> AsyncIterator[Running]:
    events: list[WatchEvent] = []
    watcher = Watcher(kube_api, NODES, settings=kube_settings, clock=clock, deliver=events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        yield Running(watcher, events)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def test_initial_list_then_live_events(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi, running: Running
) -> None:
    fake, _ = fake_kube
    await eventually(running.watcher.synced.is_set, what="synced")
    await eventually(lambda: len(fake.watchers) == 1, what="watching")
    await add_nodes(kube_api, node("a"))
    await kube_api.delete(NODES, "a")
    await eventually(lambda: len(running.events) == 2, what="events")
    assert running.seen() == [("ADDED", "a"), ("DELETED", "a")]
    assert running.watcher.cache == {}
    assert running.watcher.resource_version == str(fake.rv)


async def test_410_gone_relists_and_hands_over_every_missed_change(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi, running: Running
) -> None:
    fake, _ = fake_kube
    await add_nodes(kube_api, node("keep"), node("change"), node("vanish"))
    await eventually(lambda: len(running.events) == 3, what="initial events")
    # open a gap: the watch ends, changes happen, history is compacted, then it reconnects
    fake.watch_gate.clear()
    fake.end_watches()
    await eventually(lambda: not fake.watchers, what="watch ended")
    await kube_api.patch(NODES, "change", {"metadata": {"labels": {"x": "1"}}})
    await kube_api.delete(NODES, "vanish")
    await add_nodes(kube_api, node("new"))
    fake.compact()
    fake.watch_gate.set()
    await eventually(lambda: running.watcher.lists == 2, what="relist")
    await eventually(lambda: len(running.events) == 6, what="missed changes")
    assert sorted(running.seen()[3:]) == [
        ("ADDED", "new"),
        ("DELETED", "vanish"),
        ("MODIFIED", "change"),
    ]
    assert sorted(running.watcher.cache) == ["change", "keep", "new"]
    # and the watch goes on from the relist's version
    await eventually(lambda: len(fake.watchers) == 1, what="watching again")
    await kube_api.delete(NODES, "keep")
    await eventually(lambda: running.seen()[-1] == ("DELETED", "keep"), what="live again")
    assert fake.count("GET", "/api/v1/nodes", watch=False) == 2


async def test_bookmarks_keep_a_quiet_watch_resumable_past_compaction(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi, running: Running
) -> None:
    fake, _ = fake_kube
    await eventually(lambda: len(fake.watchers) == 1, what="watching")
    listed_at = running.watcher.resource_version
    await add_namespaces(kube_api, namespace("a"), namespace("b"))  # other resources move on
    fake.bookmark()
    await eventually(lambda: running.watcher.resource_version == str(fake.rv), what="bookmark")
    assert running.watcher.resource_version != listed_at
    fake.watch_gate.clear()
    fake.end_watches()
    await eventually(lambda: not fake.watchers, what="watch ended")
    fake.compact()
    fake.watch_gate.set()
    await eventually(lambda: len(fake.watchers) == 1, what="watching again")
    assert running.watcher.lists == 1  # resumed from the bookmark: no relist
    assert running.events == []  # bookmarks are not handed to handlers


async def test_failed_watches_back_off_on_the_clock(
    fake_kube: tuple[FakeKube, str], running: Running, clock: FakeClock
) -> None:
    fake, _ = fake_kube
    await eventually(lambda: len(fake.watchers) == 1, what="watching")
    fake.fail_watches = 500
    fake.end_watches()
    await eventually(lambda: running.watcher.failures == 1, what="first failure")
    await clock.advance(0.9)  # backoff 1s not over yet
    assert running.watcher.failures == 1
    await clock.advance(0.2)
    await eventually(lambda: running.watcher.failures == 2, what="second failure")
    await clock.advance(1.5)  # the backoff doubled to 2s
    assert running.watcher.failures == 2
    fake.fail_watches = None
    await clock.advance(0.6)
    await eventually(lambda: len(fake.watchers) == 1, what="watching again")
    assert running.watcher.lists == 1


async def test_resync_hands_over_the_cache_again(
    kube_api: HttpKubeApi, running: Running, clock: FakeClock, kube_settings: KubeSettings
) -> None:
    await add_nodes(kube_api, node("a"), node("b"))
    await eventually(lambda: len(running.events) == 2, what="initial events")
    await clock.advance(kube_settings.resync_period)
    await eventually(lambda: len(running.events) == 4, what="resync")
    assert sorted(running.seen()[2:]) == [("MODIFIED", "a"), ("MODIFIED", "b")]


async def test_the_same_watcher_serves_namespaces(
    kube_api: HttpKubeApi, kube_settings: KubeSettings, clock: FakeClock
) -> None:
    await add_namespaces(kube_api, namespace("team-a"))
    events: list[WatchEvent] = []
    watcher = Watcher(
        kube_api, NAMESPACES, settings=kube_settings, clock=clock, deliver=events.append
    )
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await eventually(lambda: len(events) == 1, what="namespace listed")
    assert events[0].type is EventType.ADDED
    stop.set()
    await asyncio.wait_for(task, 10)
