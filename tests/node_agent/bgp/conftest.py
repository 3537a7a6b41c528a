"""Speakers on real labs: ExaBGP runs in a lab node's namespace, the ToR is BIRD or FRR."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from flatnet.lab import Lab
from node_agent.bgp.settings import BgpPeer, BgpSettings
from node_agent.bgp.speaker import ExabgpSpeaker
from tests.lab.harness import make_lab, processes_mentioning

__all__ = ["make_lab"]

FAST = BgpSettings(restart_backoff_min=0.2, ack_timeout=10.0)
"""Shorter first restart delay than production, so tests do not idle."""


def lab_peers(lab: Lab, node: str, **overrides: Any) -> list[BgpPeer]:
    return [BgpPeer.model_validate(p | overrides) for p in lab.node_peers(node)]


@pytest.fixture
async def make_speaker() -> AsyncIterator[Callable[..., ExabgpSpeaker]]:
    """Factory of (unstarted) speakers for a lab node; all are stopped at teardown, and
    neither a process nor an asyncio task of theirs may outlive ``stop()``."""
    speakers: list[tuple[ExabgpSpeaker, Path]] = []
    tasks_before = asyncio.all_tasks()

    def make(
        lab: Lab,
        node: str = "node1",
        *,
        settings: BgpSettings = FAST,
        registry: CollectorRegistry | None = None,
        peers: list[BgpPeer] | None = None,
        state: str = "agent",
    ) -> ExabgpSpeaker:
        plan = lab.topology.node(node)
        state_dir = lab.directory / f"{node}-{state}"
        speaker = ExabgpSpeaker(
            peers=peers if peers is not None else lab_peers(lab, node),
            settings=settings,
            state_dir=state_dir,
            node_addresses=[plan.links[0].ipv4.ip, plan.links[0].ipv6.ip],
            registry=registry or CollectorRegistry(),
            wrapper=["ip", "netns", "exec", plan.netns],
        )
        speakers.append((speaker, state_dir))
        return speaker

    yield make
    for speaker, _ in speakers:
        await speaker.stop()
    for _, state_dir in speakers:
        assert not processes_mentioning(str(state_dir)), "ExaBGP or its bridge outlived stop()"
    await asyncio.sleep(0)  # let cancelled tasks finish
    leaked = {t for t in asyncio.all_tasks() - tasks_before if t is not asyncio.current_task()}
    assert not leaked, f"tasks left running after stop(): {leaked}"
