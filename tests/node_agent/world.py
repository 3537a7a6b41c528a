"""An agent in-process, for tests of its loops: fakes behind IPAM, netlink and the
announcer (:mod:`tests.node_agent.fakes`), a hand-held clock, the real SQLite store.

The ``world`` fixture is registered in ``conftest.py``; a test that leaves an asyncio
task behind fails at teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cni.contract import AddRequest, AttachmentKey, DelRequest, PodRef
from node_agent.config import AgentSettings
from node_agent.daemon import Agent
from node_agent.ipamclient import IpamClient
from node_agent.parts import Kernel, Parts
from node_agent.store import Store
from tests.node_agent.fakes import Clock, FakeIpam, FakeNetlink, RecordingAnnouncer


@dataclass
class World:
    agent: Agent
    ipam: FakeIpam
    netlink: FakeNetlink
    clock: Clock
    announcer: RecordingAnnouncer

    @property
    def parts(self) -> Parts:
        return self.agent.p

    async def add(self, container_id: str, *, pod: str = "") -> list[str]:
        request = AddRequest(
            key=AttachmentKey("net", container_id, "eth0"),
            netns=f"/run/netns/{container_id}",
            pod=PodRef(namespace="ns", name=pod),
        )
        reply = await self.agent.service.add(request)
        return [ip.address.split("/")[0] for ip in reply.ips]

    async def delete(self, container_id: str) -> None:
        await self.agent.service.delete(DelRequest(key=AttachmentKey("net", container_id, "eth0")))

    async def outbox(self) -> list[dict[str, object]]:
        rows = await self.parts.store.transact(lambda q: q.peek(1000))
        return [body for _, body in rows]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    before = asyncio.all_tasks()
    settings = AgentSettings(
        node_name="n1",
        node_ip="192.0.2.1",
        pools=["pods"],
        state_dir=tmp_path,
        socket_path=tmp_path / "agent.sock",
        warm_spare=2,
        block_hold_time=60,
        ip_cooldown=30,
        release_grace=10,
        outbox_linger=0,
        ipam_retry_min=0.01,
        ipam_retry_max=0.02,
        claim_timeout=2,
    )
    fake_ipam, netlink, clock, announcer = FakeIpam(), FakeNetlink(), Clock(), RecordingAnnouncer()
    parts = Parts(
        settings=settings,
        store=Store(settings.database_path),
        ipam=IpamClient(
            base_url="http://ipam",
            node="n1",
            token=None,
            timeout=1,
            transport=fake_ipam.transport(),
        ),
        kernel=Kernel(netlink, workers=2),  # type: ignore[arg-type]
        announcer=announcer,
        clock=clock,
    )
    agent = Agent(parts)
    await parts.store.open()
    await agent.blocks.register()
    yield World(agent, fake_ipam, netlink, clock, announcer)
    await agent.stop()
    leaked = {t for t in asyncio.all_tasks() - before - {asyncio.current_task()} if not t.done()}
    assert not leaked, f"tasks leaked: {leaked}"
