"""The Kubernetes adapter against the fake API server, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import pytest

from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.errors import (
    KubeApiError,
    KubeUnavailableError,
    ObjectConflict,
    ObjectNotFound,
    WatchExpiredError,
)
from fabric_controller.kube.objects import (
    LEASES,
    NAMESPACES,
    NODES,
    EventType,
    LeaseRecord,
    Object,
    WatchEvent,
    labels_of,
    resource_version_of,
)
from tests.fabric_controller.kube_fake import FakeKube, serve
from tests.fabric_controller.kube_fixtures import (
    add_namespaces,
    add_nodes,
    drain,
    eventually,
    http_api,
    namespace,
    node,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


class Collector:
    """Consume one watch into a list, in a task the test controls."""

    def __init__(self, api: HttpKubeApi, since: str, resource: object = NODES) -> None:
        self.events: list[WatchEvent] = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run(api, since, resource))

    async def _run(self, api: HttpKubeApi, since: str, resource: object) -> None:
        stream = api.watch(resource, resource_version=since, timeout_seconds=30)  # type: ignore[arg-type]
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    self.events.append(event)
        except Exception as exc:
            self.error = exc

    def types(self) -> list[tuple[str, str]]:
        return [(e.type.value, e.name) for e in self.events]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_list_returns_items_and_the_list_resource_version(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi
) -> None:
    fake, _ = fake_kube
    await add_nodes(kube_api, node("n1", "192.0.2.1"), node("n2", "192.0.2.2", rack="r1"))
    listed = await kube_api.list(NODES)
    assert [item["metadata"]["name"] for item in listed.items] == ["n1", "n2"]
    assert listed.resource_version == str(fake.rv)
    assert listed.items[1]["kind"] == "Node"
    assert labels_of(listed.items[1]) == {"rack": "r1"}


async def test_watch_from_the_list_version_sees_every_later_change_in_order(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi
) -> None:
    fake, _ = fake_kube
    await add_nodes(kube_api, node("a"), node("b"))
    listed = await kube_api.list(NODES)
    watch = Collector(kube_api, listed.resource_version)
    await eventually(lambda: len(fake.watchers) == 1, what="watch open")
    await add_nodes(kube_api, node("c"))
    await kube_api.patch(NODES, "a", {"metadata": {"labels": {"x": "1"}}})
    await kube_api.delete(NODES, "b")
    await eventually(lambda: len(watch.events) == 3, what="three events")
    assert watch.types() == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
    versions = [int(e.resource_version) for e in watch.events]
    assert versions == sorted(versions)
    assert versions[-1] == fake.rv
    fake.end_watches()  # the server ends the watch (timeoutSeconds): the stream just ends
    await asyncio.wait_for(watch.task, 5)
    assert watch.error is None


async def test_watch_replays_retained_history_after_the_given_version(
    kube_api: HttpKubeApi,
) -> None:
    first, *_ = await add_nodes(kube_api, node("a"), node("b"), node("c"))
    await kube_api.delete(NODES, "c")
    watch = Collector(kube_api, resource_version_of(first))
    await eventually(lambda: len(watch.events) == 3, what="replayed events")
    assert watch.types() == [("ADDED", "b"), ("ADDED", "c"), ("DELETED", "c")]
    await watch.stop()


async def test_watch_only_sees_its_own_resource_and_bookmarks_carry_the_latest_version(
    fake_kube: tuple[FakeKube, str], kube_api: HttpKubeApi
) -> None:
    fake, _ = fake_kube
    listed = await kube_api.list(NODES)
    watch = Collector(kube_api, listed.resource_version)
    await eventually(lambda: len(fake.watchers) == 1, what="watch open")
    await add_namespaces(kube_api, namespace("team-a"), namespace("team-b"))
    fake.bookmark()
    await eventually(lambda: len(watch.events) == 1, what="bookmark")
    (bookmark,) = watch.events
    assert bookmark.type is EventType.BOOKMARK
    assert bookmark.resource_version == str(fake.rv) != listed.resource_version
    await watch.stop()


@pytest.mark.parametrize(
    "gone_as_status",
    [pytest.param(False, id="error-event-410"), pytest.param(True, id="http-410")],
)
async def test_watch_from_a_compacted_version_is_410_gone(gone_as_status: bool) -> None:
    fake = FakeKube(window=2, gone_as_status=gone_as_status)
    async with serve(fake) as url:
        api = http_api(url)
        try:
            first, *_ = await add_nodes(api, node("a"), node("b"), node("c"), node("d"))
            stream = api.watch(
                NODES, resource_version=resource_version_of(first), timeout_seconds=5
            )
            with pytest.raises(WatchExpiredError) as info:
                await drain(stream)
            assert info.value.code == 410
            assert info.value.reason == "Expired"
        finally:
            await api.aclose()


async def test_merge_strategic_and_json_patches(kube_api: HttpKubeApi) -> None:
    await add_nodes(kube_api, node("a", rack="r1", zone="z1"))
    merged = await kube_api.patch(NODES, "a", {"metadata": {"labels": {"zone": None, "x": "1"}}})
    assert labels_of(merged) == {"rack": "r1", "x": "1"}
    strategic = await kube_api.patch(
        NODES, "a", {"metadata": {"labels": {"y": "2"}}}, strategy="strategic"
    )
    assert labels_of(strategic) == {"rack": "r1", "x": "1", "y": "2"}
    ops = [
        {"op": "test", "path": "/metadata/labels/rack", "value": "r1"},
        {"op": "replace", "path": "/metadata/labels/rack", "value": "r2"},
        {"op": "remove", "path": "/metadata/labels/x"},
    ]
    patched = await kube_api.patch(NODES, "a", ops, strategy="json")
    assert labels_of(patched) == {"rack": "r2", "y": "2"}
    versions = [resource_version_of(o) for o in (merged, strategic, patched)]
    assert len(set(versions)) == 3


async def test_a_patch_that_changes_nothing_keeps_the_resource_version(
    kube_api: HttpKubeApi,
) -> None:
    (created,) = await add_nodes(kube_api, node("a", rack="r1"))
    same = await kube_api.patch(NODES, "a", {"metadata": {"labels": {"rack": "r1"}}})
    assert resource_version_of(same) == resource_version_of(created)


async def test_patch_with_a_stale_resource_version_is_a_conflict(kube_api: HttpKubeApi) -> None:
    (created,) = await add_nodes(kube_api, node("a"))
    await kube_api.patch(NODES, "a", {"metadata": {"labels": {"x": "1"}}})
    stale = {"metadata": {"resourceVersion": resource_version_of(created), "labels": {"x": "2"}}}
    with pytest.raises(ObjectConflict):
        await kube_api.patch(NODES, "a", stale)


def bad_patch(api: HttpKubeApi, call: str) -> Coroutine[Any, Any, Object]:
    if call == "patch-missing":
        return api.patch(NODES, "nope", {"metadata": {"labels": {"x": "1"}}})
    if call == "bad-json-patch":
        op = {"op": "test", "path": "/metadata/name", "value": "b"}
        return api.patch(NODES, "a", [op], strategy="json")
    headers = {"Content-Type": "text/plain"}
    return api._call("PATCH", NODES.item("a"), content=b"{}", headers=headers)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        pytest.param("patch-missing", 404, id="patch-404"),
        pytest.param("bad-json-patch", 422, id="failed-test-op-422"),
        pytest.param("unknown-type", 415, id="unsupported-media-415"),
    ],
)
async def test_patch_failures_map_to_api_errors(
    kube_api: HttpKubeApi, call: str, code: int
) -> None:
    await add_nodes(kube_api, node("a"))
    with pytest.raises(KubeApiError) as info:
        await bad_patch(kube_api, call)
    assert info.value.code == code
    assert isinstance(info.value, ObjectNotFound) == (code == 404)


async def test_lease_create_get_replace_honour_resource_version(kube_api: HttpKubeApi) -> None:
    ns = "flatnet-system"
    record = LeaseRecord(holder="a", duration_seconds=15, transitions=0)
    with pytest.raises(ObjectNotFound):
        await kube_api.get(LEASES, "leader", namespace=ns)
    created = await kube_api.create(
        LEASES, record.to_object(name="leader", namespace=ns), namespace=ns
    )
    with pytest.raises(ObjectConflict) as exists:
        await kube_api.create(LEASES, record.to_object(name="leader", namespace=ns), namespace=ns)
    assert exists.value.reason == "AlreadyExists"
    read = LeaseRecord.from_object(await kube_api.get(LEASES, "leader", namespace=ns))
    assert read.holder == "a"
    assert read.resource_version == resource_version_of(created)
    mine = LeaseRecord(
        holder="b", duration_seconds=15, transitions=1, resource_version=read.resource_version
    )
    theirs = LeaseRecord(
        holder="c", duration_seconds=15, transitions=1, resource_version=read.resource_version
    )
    await kube_api.replace(
        LEASES, "leader", mine.to_object(name="leader", namespace=ns), namespace=ns
    )
    with pytest.raises(ObjectConflict) as conflict:
        await kube_api.replace(
            LEASES, "leader", theirs.to_object(name="leader", namespace=ns), namespace=ns
        )
    assert conflict.value.reason == "Conflict"
    final = LeaseRecord.from_object(await kube_api.get(LEASES, "leader", namespace=ns))
    assert (final.holder, final.transitions) == ("b", 1)


async def test_cluster_scoped_and_namespaced_paths_are_distinct(kube_api: HttpKubeApi) -> None:
    await add_namespaces(kube_api, namespace("team-a", **{"flatnet.io/pool": "gold"}))
    got = await kube_api.get(NAMESPACES, "team-a")
    assert got["metadata"]["annotations"] == {"flatnet.io/pool": "gold"}
    with pytest.raises(ValueError, match="namespaced"):
        await kube_api.get(LEASES, "x")


async def test_transport_failures_are_kube_unavailable() -> None:
    api = http_api("http://127.0.0.1:9")  # discard port: nothing listens
    try:
        with pytest.raises(KubeUnavailableError):
            await api.list(NODES)
        stream = api.watch(NODES, resource_version="1", timeout_seconds=1)
        with pytest.raises(KubeUnavailableError):
            await drain(stream)
    finally:
        await api.aclose()
