"""The pure allocator and block planner, driven by a hand-held clock."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from node_agent.allocator import BlockUsage, cooling_set, free_in, pick_address, plan_blocks
from node_agent.records import Key


def block(
    cidr: str, *used: str, pool: str = "pods", ready: bool = True, empty_since: float | None = None
) -> BlockUsage:
    return BlockUsage(
        cidr=ip_network(cidr),
        pool=pool,
        used=frozenset(ip_address(u) for u in used),
        ready=ready,
        empty_since=empty_since,
    )


NONE: frozenset = frozenset()


def test_first_address_of_a_block_is_never_handed_out() -> None:
    assert pick_address([block("10.0.0.0/30")], pool="pods", cooling=NONE) == ip_address("10.0.0.1")
    assert pick_address([block("fd00::/126")], pool="pods", cooling=NONE) == ip_address("fd00::1")
    assert free_in(block("10.0.0.0/30"), NONE) == 3


def test_lowest_free_address_of_the_fullest_block_comes_first() -> None:
    blocks = [block("10.0.0.0/29", "10.0.0.1"), block("10.0.1.0/29", "10.0.1.1", "10.0.1.3")]
    assert pick_address(blocks, pool="pods", cooling=NONE) == ip_address("10.0.1.2")


def test_cooling_addresses_are_skipped_until_their_cooldown_ends() -> None:
    cooling = {ip_address("10.0.0.1"): 130.0, ip_address("10.0.0.2"): 90.0}
    now = 100.0
    resting = cooling_set(cooling, now=now)
    assert resting == {ip_address("10.0.0.1")}
    assert pick_address([block("10.0.0.0/29")], pool="pods", cooling=resting) == ip_address(
        "10.0.0.2"
    )
    later = cooling_set(cooling, now=130.0)
    assert pick_address([block("10.0.0.0/29")], pool="pods", cooling=later) == ip_address(
        "10.0.0.1"
    )


@pytest.mark.parametrize(
    "blocks",
    [
        pytest.param([block("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.3")], id="full"),
        pytest.param([block("10.0.0.0/29", ready=False)], id="releasing"),
        pytest.param([block("10.0.0.0/29", pool="other")], id="other-pool"),
        pytest.param([], id="no-block"),
    ],
)
def test_no_address_when_nothing_is_free_for_the_pool(blocks: list[BlockUsage]) -> None:
    assert pick_address(blocks, pool="pods", cooling=NONE) is None


def test_plan_claims_below_the_warm_spare_and_for_a_pool_without_blocks() -> None:
    blocks = [block("10.0.0.0/29", *(f"10.0.0.{i}" for i in range(1, 6)))]  # 2 free
    plan = plan_blocks(
        blocks, pools=["pods", "v6"], cooling=NONE, warm_spare=3, hold_time=60, now=0
    )
    assert plan.claim == ("pods", "v6")
    assert plan.free == {"pods": 2, "v6": 0}


def test_plan_returns_an_empty_block_only_after_the_hold_time() -> None:
    blocks = [block("10.0.0.0/29", "10.0.0.1"), block("10.0.1.0/29", empty_since=100.0)]
    kwargs = {"pools": ["pods"], "cooling": NONE, "warm_spare": 2, "hold_time": 60.0}
    assert plan_blocks(blocks, now=159.0, **kwargs).release == ()
    assert plan_blocks(blocks, now=160.0, **kwargs).release == (ip_network("10.0.1.0/29"),)


def test_plan_keeps_an_empty_block_the_warm_spare_needs() -> None:
    full = block("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.3")
    empty = block("10.0.1.0/29", empty_since=0.0)
    plan = plan_blocks(
        [full, empty], pools=["pods"], cooling=NONE, warm_spare=1, hold_time=1, now=100
    )
    assert plan.release == ()
    # and the last block of a pool stays even with no warm spare asked for
    plan = plan_blocks([empty], pools=["pods"], cooling=NONE, warm_spare=0, hold_time=1, now=100)
    assert plan.release == ()


def test_plan_returns_blocks_of_pools_no_longer_served() -> None:
    orphan = block("10.0.2.0/29", pool="", empty_since=0.0)
    busy = block("10.0.3.0/29", "10.0.3.1", pool="gone")
    plan = plan_blocks(
        [orphan, busy], pools=["pods"], cooling=NONE, warm_spare=0, hold_time=10, now=10
    )
    assert plan.release == (ip_network("10.0.2.0/29"),)


def test_attachment_key_round_trips_through_the_veth_alias() -> None:
    key = Key("flatnet", "c0ffee", "eth0")
    assert Key.from_alias(key.alias()) == key
    assert Key.from_alias("not-ours") is None
