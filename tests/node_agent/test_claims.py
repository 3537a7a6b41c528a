"""Block claims that fail part-way leave nothing behind: the block IPAM gave is recorded
before it is announced, kept (blackhole, announcement) by reconcile, and finished by the
next claim of its pool instead of a second block being claimed.

In-process (:mod:`tests.node_agent.world`): the announcer's announces time out like an
ExaBGP that does not acknowledge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from ipaddress import ip_address, ip_network

import pytest

from node_agent.errors import BgpTimeoutError
from node_agent.records import PendingClaim
from tests.node_agent.world import World


def syncs(world: World) -> list[set[str]]:
    return [set(arg.split(",")) - {""} for verb, arg in world.announcer.calls if verb == "sync"]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Let the block manager's background claim run until ``check`` holds."""
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the background claim did not get there")


async def pending(world: World) -> list[PendingClaim]:
    return await world.parts.store.transact(lambda q: q.pending_claims())


async def test_an_add_whose_announcement_timed_out_is_retried_on_the_same_block(
    world: World,
) -> None:
    world.announcer.time_out = 1
    with pytest.raises(BgpTimeoutError):
        await world.add("c1")
    (block,) = world.ipam.blocks  # IPAM gave one block
    cidr = ip_network(block)
    assert await pending(world) == [PendingClaim(world.ipam.claim_calls[0], "pods", cidr)]
    assert world.netlink.blackholes == {cidr}

    # ExaBGP still does not acknowledge: reconcile keeps the block's blackhole and its
    # announcement, and its attempt to finish the claim fails again
    world.announcer.time_out = 1
    await world.agent.reconciler.once()
    assert world.netlink.blackholes == {cidr}
    assert syncs(world)[-1] == {block}

    async def announced_twice() -> bool:  # the failure is set in the same step
        return world.announcer.calls.count(("announce", block)) == 2

    await until(announced_twice)

    (address,) = await world.add("c1")  # the runtime retries
    assert ip_address(address) in cidr
    assert list(world.ipam.blocks) == [block], "a second block was claimed"
    assert len(world.ipam.claim_calls) == 1, "IPAM was asked again"
    assert await pending(world) == []
    blocks = await world.parts.store.transact(lambda q: q.blocks())
    assert [(b.cidr, b.ready) for b in blocks] == [(cidr, True)]
    assert ("withdraw", block) not in world.announcer.calls
    assert all(block in s for s in syncs(world))
    await world.agent.reconciler.once()
    assert world.netlink.blackholes == {cidr}
    assert syncs(world)[-1] == {block}


async def test_reconcile_finishes_a_claim_whose_announcement_timed_out_without_ipam(
    world: World,
) -> None:
    world.announcer.time_out = 1
    with pytest.raises(BgpTimeoutError):
        await world.add("c1")
    (block,) = world.ipam.blocks
    world.ipam.down = True  # the block is known: finishing it needs no IPAM
    await world.agent.reconciler.once()

    async def finished() -> bool:
        return await pending(world) == []

    await until(finished)
    blocks = await world.parts.store.transact(lambda q: q.blocks())
    assert [str(b.cidr) for b in blocks] == [block]
    (address,) = await world.add("c2")  # from the block, IPAM still down
    assert ip_address(address) in ip_network(block)


async def test_a_claim_ipam_never_answered_is_sent_again_with_the_same_request_id(
    world: World,
) -> None:
    # an earlier claim was recorded, then IPAM could not be reached
    await world.parts.store.transact(
        lambda q: q.add_pending_claim(request_id="rid-1", pool="pods", now=world.clock())
    )
    (address,) = await world.add("c1")
    assert world.ipam.claim_calls == ["rid-1"]
    assert ip_address(address) in ip_network(world.ipam.claims["rid-1"])
    assert await pending(world) == []
