"""The pure usage arithmetic."""

from __future__ import annotations

import ipaddress

from ipam_service import allocator

NET = ipaddress.ip_network("10.0.0.0/24")
SPAN = allocator.bounds(NET)
LO = SPAN[0]


def at(offset: int) -> int:
    return LO + offset


def test_usage_subtracts_blocks_touched_by_reservations() -> None:
    reserved = [(at(0), at(0)), (at(60), at(70)), (at(255), at(255))]
    assert allocator.usable_blocks(cidrs=[NET], size=64, excluded=reserved) == 1
    assert allocator.usable_blocks(cidrs=[NET], size=64, excluded=[(at(200), at(210))]) == 3
    assert (
        allocator.reserved_addresses(cidrs=[NET], excluded=[(at(0), at(9)), (at(5), at(19))]) == 20
    )


def test_merge_joins_touching_intervals() -> None:
    assert allocator.merge([(5, 9), (1, 4), (20, 30), (25, 26)]) == [(1, 9), (20, 30)]
