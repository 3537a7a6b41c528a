"""The agent's loops in-process: outbox, reconcile, block manager, ADD/DEL state machine.

Fakes stand behind the IPAM client's transport and the netlink adapter; the clock
moves by hand; the SQLite store is real. No test may leave an asyncio task behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from node_agent.errors import AttachmentConflict, PoolExhausted
from node_agent.queries import Queries
from node_agent.records import Key, State
from node_agent.store import Store
from tests.node_agent.fakes import link
from tests.node_agent.world import World


async def test_add_claims_a_block_announces_it_and_records_the_allocation(world: World) -> None:
    (address,) = await world.add("c1", pod="web")
    block = next(iter(world.ipam.blocks))
    assert ip_address(address) in ip_network(block)
    assert ("announce", block) in world.announcer.calls
    assert ip_network(block) in world.netlink.blackholes
    (event,) = await world.outbox()
    assert (event["kind"], event["ip"], event["pod_name"]) == ("allocate", address, "web")


async def test_add_of_a_wired_attachment_is_refused_and_del_is_idempotent(world: World) -> None:
    await world.add("c1")
    with pytest.raises(AttachmentConflict):
        await world.add("c1")
    await world.delete("c1")
    await world.delete("c1")
    await world.delete("never-added")
    kinds = [e["kind"] for e in await world.outbox()]
    assert kinds == ["allocate", "release"]


async def test_a_crashed_add_is_rewired_with_the_same_address(world: World) -> None:
    (first,) = await world.add("c1")
    # the agent died between allocating and wiring: the record stays 'allocated'
    await world.parts.store.transact(
        lambda q: q.update_attachment(Key("net", "c1", "eth0"), state=State.ALLOCATED)
    )
    assert await world.add("c1") == [first]


async def test_outbox_waits_for_ipam_and_sends_in_order_without_doubling(world: World) -> None:
    addresses = await world.add("c0")
    world.ipam.down = True
    addresses += [(await world.add(f"c{i}"))[0] for i in (1, 2)]
    await world.delete("c0")
    assert await world.agent.outbox.deliver_once() is None
    events = await world.outbox()
    assert [e["kind"] for e in events] == ["allocate"] * 3 + ["release"]

    world.ipam.down, world.ipam.fail_next = False, 1  # applied, but the reply is lost
    assert await world.agent.outbox.deliver_once() is None
    assert len(await world.outbox()) == 4
    assert await world.agent.outbox.deliver_once() == 4
    assert await world.outbox() == []
    assert len(world.ipam.applied) == 4
    assert len(set(world.ipam.applied)) == 4
    assert world.ipam.ledger_calls == 2
    sent = [e["event_id"] for e in events]
    assert world.ipam.applied == sent, "events were not applied in outbox order"
    assert len(set(addresses)) == 3


async def test_outbox_moves_a_refused_event_to_dead_letters_and_keeps_going(world: World) -> None:
    (bad,) = await world.add("c1")
    await world.add("c2")
    world.ipam.refuse_ips = {bad}
    await world.agent.outbox.deliver_all()
    assert await world.outbox() == []
    assert len(world.ipam.applied) == 1
    dead = await world.parts.store.transact(lambda q: q.dead_letter_count())
    assert dead == 1


async def test_reconcile_releases_a_gone_container_only_after_the_grace_period(
    world: World,
) -> None:
    (address,) = await world.add("c1")
    world.netlink.links.clear()  # the pod's netns was deleted: its veth went with it
    report = await world.agent.reconciler.once()
    assert (report.marked_missing, report.released) == (1, 0)
    world.clock.now += 9
    assert (await world.agent.reconciler.once()).released == 0
    world.clock.now += 1
    assert (await world.agent.reconciler.once()).released == 1
    events = await world.outbox()
    assert [(e["kind"], e["ip"]) for e in events] == [("allocate", address), ("release", address)]
    assert events[1]["reason"] == "reconcile: container gone"


async def test_reconcile_forgets_a_mark_when_the_container_comes_back(world: World) -> None:
    await world.add("c1")
    saved = dict(world.netlink.links)
    world.netlink.links.clear()
    await world.agent.reconciler.once()
    world.netlink.links.update(saved)
    world.clock.now += 100
    report = await world.agent.reconciler.once()
    assert report.released == 0
    (row,) = await world.parts.store.transact(lambda q: q.attachments())
    assert row.missing_since is None


async def test_reconcile_repairs_routes_and_deletes_orphans(world: World) -> None:
    await world.add("c1")
    name = world.netlink.host_ifname("c1", "eth0")
    world.netlink.links[name] = link(name)  # the host route is missing
    world.netlink.links["fn0123456789abc"] = link("fn0123456789abc")
    report = await world.agent.reconciler.once()
    assert (report.routes_repaired, report.orphans_deleted) == (1, 1)
    assert world.netlink.unwired == ["fn0123456789abc"]


async def test_an_empty_block_is_withdrawn_and_returned_after_the_hold_time(world: World) -> None:
    for i in range(20):  # two /28 blocks
        await world.add(f"c{i}")
    for i in range(20):
        await world.delete(f"c{i}")
    await world.agent.outbox.deliver_all()
    world.clock.now += 59
    assert (await world.agent.blocks.tick()).release == ()
    world.clock.now += 31  # hold time and cooldown both over
    plan = await world.agent.blocks.tick()
    (returned,) = plan.release
    assert ("withdraw", str(returned)) in world.announcer.calls
    assert world.ipam.released == [str(returned)]
    assert returned not in world.netlink.blackholes
    blocks = await world.parts.store.transact(lambda q: q.blocks())
    assert [b.cidr for b in blocks] == [c for c in map(ip_network, world.ipam.blocks)]


async def test_a_pending_claim_is_finished_with_the_same_request_id(world: World) -> None:
    await world.parts.store.transact(
        lambda q: q.add_pending_claim(request_id="rid-1", pool="pods", now=world.clock())
    )
    world.ipam.claims["rid-1"] = "10.9.99.0/28"  # IPAM answered; the agent died before recording
    await world.agent.blocks.resume_pending()
    blocks = await world.parts.store.transact(lambda q: (q.blocks(), q.pending_claims()))
    assert [b.cidr for b in blocks[0]] == [ip_network("10.9.99.0/28")]
    assert blocks[1] == []
    assert world.ipam.claim_calls == ["rid-1"]


async def test_concurrent_adds_share_one_claim_and_fail_cleanly_when_ipam_is_down(
    world: World,
) -> None:
    addresses = await asyncio.gather(*(world.add(f"c{i}") for i in range(10)))
    assert len({a for (a,) in addresses}) == 10
    assert len(world.ipam.claim_calls) == 1
    world.ipam.down = True
    with pytest.raises(PoolExhausted):
        await asyncio.gather(*(world.add(f"d{i}") for i in range(10)))


async def test_group_commit_keeps_each_transaction_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.db")
    await store.open()

    def good(i: int) -> Callable[[Queries], int]:
        def tx(q: Queries) -> int:
            q.set_meta(f"k{i}", "v")
            return i

        return tx

    def bad(q: Queries) -> None:
        q.set_meta("half", "written")
        raise ValueError("refused")

    results = await asyncio.gather(
        *(store.transact(good(i)) for i in range(20)), store.transact(bad), return_exceptions=True
    )
    assert results[:20] == list(range(20))
    assert isinstance(results[20], ValueError)
    await store.close()
    reopened = Store(tmp_path / "agent.db")
    await reopened.open()
    found = await reopened.transact(
        lambda q: [q.meta(f"k{i}") for i in range(20)] + [q.meta("half")]
    )
    assert found == ["v"] * 20 + [None]
    await reopened.close()
