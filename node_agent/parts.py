"""The adapters one agent is made of, bundled so orchestration code takes one argument.

Built by :mod:`node_agent.daemon` (or by a test, with fakes behind the same
shapes) and shared by the block manager, the outbox, the attachment service and
reconcile. Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from node_agent.announcer import Announcer
from node_agent.config import AgentSettings
from node_agent.health import Health
from node_agent.ipamclient import IpamClient
from node_agent.metrics import Metrics
from node_agent.netlink import Netlink
from node_agent.store import Store

T = TypeVar("T")


class Kernel:
    """Runs the blocking :class:`Netlink` calls on a thread pool of their own."""

    def __init__(self, netlink: Netlink, *, workers: int) -> None:
        self.netlink = netlink
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flatnet-netlink")

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.netlink.close()


@dataclass
class Parts:
    settings: AgentSettings
    store: Store
    ipam: IpamClient
    kernel: Kernel
    announcer: Announcer
    metrics: Metrics = field(default_factory=Metrics)
    health: Health = field(default_factory=Health)
    clock: Callable[[], float] = time.time
    """Wall-clock seconds; stored timestamps (cooldowns, grace periods) use it."""

    @property
    def netlink(self) -> Netlink:
        return self.kernel.netlink
