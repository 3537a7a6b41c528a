"""Running loops side by side until a stop event, and cancelling them cleanly (no task is ever
left behind)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished (their errors are dropped)."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_until(stop: asyncio.Event, *coros: Coroutine[Any, Any, None]) -> None:
    """Run ``coros`` concurrently until ``stop`` is set or one of them ends.

    The first error of a loop is re-raised after the others were cancelled and awaited; a loop
    that returns normally ends the group too.
    """
    tasks = [asyncio.create_task(c) for c in coros]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_all([*tasks, stopper])
    for task in tasks:
        if task in done and not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error
