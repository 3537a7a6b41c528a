"""The pure block search and usage arithmetic."""

from __future__ import annotations

import ipaddress

import pytest

from ipam_service import allocator

NET = ipaddress.ip_network("10.0.0.0/24")
SPAN = allocator.bounds(NET)
LO = SPAN[0]


def at(offset: int) -> int:
    return LO + offset


@pytest.mark.parametrize(
    ("occupied", "expected"),
    [
        pytest.param([], at(0), id="empty"),
        pytest.param([(at(0), at(63))], at(64), id="after-first"),
        pytest.param([(at(0), at(63)), (at(128), at(191))], at(64), id="gap"),
        pytest.param([(at(0), at(5))], at(64), id="unaligned-reservation"),
        pytest.param([(at(0), at(255))], None, id="full"),
        pytest.param([(at(10), at(200))], None, id="straddles-all-but-none-free"),
    ],
)
def test_scan_finds_first_free_aligned_block(
    occupied: list[tuple[int, int]], expected: int | None
) -> None:
    result = allocator.scan(span=SPAN, size=64, start=LO, occupied=occupied, horizon=None)
    assert result.found == expected


def test_scan_asks_to_resume_past_a_cut_page() -> None:
    page = [(at(0), at(63)), (at(64), at(127))]
    result = allocator.scan(span=SPAN, size=64, start=LO, occupied=page, horizon=at(64))
    assert result == allocator.ScanResult(None, at(64))


def test_scan_respects_start() -> None:
    assert allocator.scan(span=SPAN, size=64, start=at(65), occupied=[], horizon=None).found == at(
        128
    )


def test_usage_subtracts_blocks_touched_by_reservations() -> None:
    reserved = [(at(0), at(0)), (at(60), at(70)), (at(255), at(255))]
    assert allocator.usable_blocks(cidrs=[NET], size=64, excluded=reserved) == 1
    assert allocator.usable_blocks(cidrs=[NET], size=64, excluded=[(at(200), at(210))]) == 3
    assert (
        allocator.reserved_addresses(cidrs=[NET], excluded=[(at(0), at(9)), (at(5), at(19))]) == 20
    )


def test_merge_joins_touching_intervals() -> None:
    assert allocator.merge([(5, 9), (1, 4), (20, 30), (25, 26)]) == [(1, 9), (20, 30)]
