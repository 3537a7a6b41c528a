"""A drained agent stays drained: no new pod, no block claim, STATUS not ready, until it is
undrained (in-process, :mod:`tests.node_agent.world`; the routes themselves are checked
against real ToRs in ``bgp/test_speaker_routes.py`` and ``tests/lab/test_fabric_e2e.py``)."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address, ip_network

import pytest

from cni.contract import ERR_TRY_AGAIN_LATER
from node_agent.announcer import NullAnnouncer
from node_agent.cli import render_status
from node_agent.errors import DrainedError
from tests.node_agent.world import World


async def test_a_drained_agent_refuses_new_pods_and_claims_until_undrained(
    world: World,
) -> None:
    await world.add("c1")
    claims = list(world.ipam.claim_calls)
    await world.agent.drain()
    assert ("drain", "") in world.announcer.calls

    with pytest.raises(DrainedError) as refused:
        await world.add("c2")
    assert refused.value.cni_code == ERR_TRY_AGAIN_LATER
    status = await world.agent.service.status()
    assert not status.ready
    assert "drained" in status.reason
    doc = await world.agent.status_document()
    assert (doc["drained"], doc["ready"]) == (True, False)
    assert "DRAINED" in render_status(doc)

    world.parts.settings.warm_spare = 100  # the pool now wants more blocks
    await world.agent.reconciler.once()
    world.agent.blocks.top_up()
    with pytest.raises(DrainedError):
        await world.agent.blocks.claim("pods")
    await asyncio.sleep(0.05)  # give a background claim, were there one, time to be sent
    assert world.ipam.claim_calls == claims
    await world.delete("c1")  # DEL works as usual

    world.parts.settings.warm_spare = 2
    await world.agent.undrain()
    assert [verb for verb, _ in world.announcer.calls[-2:]] == ["undrain", "sync"]
    assert (await world.agent.service.status()).ready
    assert not (await world.agent.status_document())["drained"]
    (second,) = await world.add("c2")
    assert ip_address(second) in ip_network(next(iter(world.ipam.blocks)))


async def test_the_null_announcer_keeps_a_drain_across_announce_and_sync() -> None:
    announcer = NullAnnouncer()
    p1, p2 = ip_network("10.9.0.0/28"), ip_network("10.9.0.16/28")
    await announcer.sync([p1])
    await announcer.drain()
    await announcer.announce(p2)
    await announcer.sync([p1, p2])
    assert announcer.status().announced == []
    assert announcer.status().drained
    await announcer.undrain()
    assert announcer.status().announced == [str(p1), str(p2)]
    assert not announcer.status().drained
