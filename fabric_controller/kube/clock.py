"""Time as the loops see it. Every sleep and deadline of the Kubernetes side goes through a
``Clock`` so tests can drive grace periods, lease expiry and backoff with a fake one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time (UTC), for timestamps written to the API."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set (True) or ``seconds`` pass on ``clock`` (False)."""
    if event.is_set():
        return True
    waiter = asyncio.create_task(event.wait())
    sleeper = asyncio.create_task(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, sleeper):
            task.cancel()
        for task in (waiter, sleeper):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return event.is_set()


def backoff(*, attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff: ``initial * 2**(attempt-1)``, capped at ``maximum``."""
    exponent = min(max(attempt - 1, 0), 62)
    return float(min(initial * (2**exponent), maximum))
