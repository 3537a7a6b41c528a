"""The per-key engine: one worker per key, latest event wins, retries with bounded
exponential backoff, TemporaryError(delay) / PermanentError, scheduled re-checks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from fabric_controller.kube.errors import PermanentError, TemporaryError
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import EventType, WatchEvent
from fabric_controller.kube.queueing import KeyedQueue
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fixtures import FakeClock, eventually

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")

Handler = Callable[[str, WatchEvent], Awaitable[float | None]]


def ev(name: str, version: int, kind: EventType = EventType.MODIFIED) -> WatchEvent:
    return WatchEvent(kind, {"metadata": {"name": name, "resourceVersion": str(version)}})


class Recorder:
    """A handler that records (clock time, key, version) and runs a script per call."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str, str]] = []
        self.script: list[BaseException | float | None] = []
        self.active: set[str] = set()
        self.overlaps = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, key: str, event: WatchEvent) -> float | None:
        if key in self.active:
            self.overlaps += 1
        self.active.add(key)
        try:
            self.calls.append((self.clock.monotonic(), key, event.resource_version))
            if self.gate is not None:
                await self.gate.wait()
            step = self.script.pop(0) if self.script else None
            if isinstance(step, BaseException):
                raise step
            return step
        finally:
            self.active.discard(key)


@pytest.fixture
async def engine(
    clock: FakeClock, kube_settings: KubeSettings
) -> AsyncIterator[tuple[KeyedQueue, Recorder, KubeMetrics]]:
    recorder = Recorder(clock)
    metrics = KubeMetrics()
    queue = KeyedQueue(recorder, name="test", settings=kube_settings, clock=clock, metrics=metrics)
    try:
        yield queue, recorder, metrics
    finally:
        await queue.close()


def runs(metrics: KubeMetrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "flatnet_controller_kube_handler_runs_total", {"queue": "test", "outcome": outcome}
    )
    return value or 0.0


async def test_one_worker_per_key_and_the_latest_event_wins(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics],
) -> None:
    queue, recorder, _ = engine
    recorder.gate = asyncio.Event()
    queue.submit(ev("a", 1))
    queue.submit(ev("b", 1))
    await eventually(lambda: len(recorder.calls) == 2, what="both keys started")
    assert recorder.active == {"a", "b"}  # different keys run side by side
    queue.submit(ev("a", 2))
    queue.submit(ev("a", 3))  # coalesces with 2: only the latest state matters
    await asyncio.sleep(0.05)
    assert len(recorder.calls) == 2  # a is still busy with version 1
    recorder.gate.set()
    await eventually(lambda: len(recorder.calls) == 3, what="a again")
    await asyncio.sleep(0.05)
    assert [(k, v) for _, k, v in recorder.calls] == [("a", "1"), ("b", "1"), ("a", "3")]
    assert recorder.overlaps == 0


async def test_temporary_errors_back_off_exponentially_and_give_up_at_the_limit(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics], clock: FakeClock
) -> None:
    queue, recorder, metrics = engine
    recorder.script = [TemporaryError("ipam down")] * 10
    queue.submit(ev("a", 1))
    await eventually(lambda: len(recorder.calls) == 1, what="first run")
    for _ in range(8):
        await clock.advance(1.0)
    await clock.advance(30.0)
    # retry_limit=4: runs at 0, 1, 1+2, 1+2+4, then it waits for a new event
    assert [t for t, _, _ in recorder.calls] == [0.0, 1.0, 3.0, 7.0]
    assert runs(metrics, "gave_up") == 1
    queue.submit(ev("a", 2))  # a new event gets a fresh budget
    await eventually(lambda: len(recorder.calls) == 5, what="new event handled")


async def test_backoff_is_capped(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics],
    clock: FakeClock,
    kube_settings: KubeSettings,
) -> None:
    queue, recorder, _ = engine
    kube_settings.retry_limit = 7
    recorder.script = [RuntimeError("boom")] * 6  # unexpected errors back off the same way
    queue.submit(ev("a", 1))
    await eventually(lambda: len(recorder.calls) == 1, what="first run")
    for _ in range(60):
        await clock.advance(1.0, settle=0.005)
    times = [t for t, _, _ in recorder.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # backoff_max=8


async def test_temporary_error_with_a_delay_and_permanent_error(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics], clock: FakeClock
) -> None:
    queue, recorder, metrics = engine
    recorder.script = [TemporaryError("later", delay=7.0), PermanentError("never")]
    queue.submit(ev("a", 1))
    await eventually(lambda: len(recorder.calls) == 1, what="first run")
    await clock.advance(6.5)
    assert len(recorder.calls) == 1
    await clock.advance(0.5)
    await eventually(lambda: len(recorder.calls) == 2, what="retry after delay")
    await clock.advance(100.0)
    assert len(recorder.calls) == 2  # permanent: no retry until a new event
    assert runs(metrics, "permanent") == 1


async def test_requeue_after_runs_again_unless_a_new_event_comes_first(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics], clock: FakeClock
) -> None:
    queue, recorder, metrics = engine
    recorder.script = [30.0, None, 30.0]
    queue.submit(ev("a", 1))
    await eventually(lambda: len(recorder.calls) == 1, what="first run")
    await clock.advance(30.0)
    await eventually(lambda: len(recorder.calls) == 2, what="scheduled re-check")
    assert recorder.calls[1][2] == "1"  # the same event looked at again
    queue.submit(ev("a", 2))
    await eventually(lambda: len(recorder.calls) == 3, what="third run")
    queue.submit(ev("a", 3))  # interrupts the 30s wait at once
    await eventually(lambda: len(recorder.calls) == 4, what="interrupted wait")
    assert clock.monotonic() == 30.0
    assert runs(metrics, "requeued") == 2


async def test_idle_workers_exit_and_close_cancels_running_handlers(
    engine: tuple[KeyedQueue, Recorder, KubeMetrics],
    clock: FakeClock,
    kube_settings: KubeSettings,
) -> None:
    queue, recorder, _ = engine
    queue.submit(ev("a", 1))
    await eventually(lambda: len(recorder.calls) == 1, what="run")
    assert queue.keys() == ["a"]
    await clock.advance(kube_settings.worker_idle_timeout)
    await eventually(lambda: queue.keys() == [], what="idle worker gone")
    recorder.gate = asyncio.Event()  # never set: the handler hangs
    queue.submit(ev("b", 1))
    await eventually(lambda: recorder.active == {"b"}, what="hanging handler")
    await queue.close()
    assert recorder.active == set()
    queue.submit(ev("c", 1))  # ignored once closed
    assert queue.keys() == []
