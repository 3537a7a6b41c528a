"""Pure block arithmetic for pool usage: how many blocks a pool can hand out. No I/O.

Addresses are handled as integers. An *interval* is an inclusive ``(first, last)``
pair. (The search for a free block runs inside PostgreSQL: ``ipam_first_free_block``,
migration 0002.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ipam_service.schemas import IPNetwork

Interval = tuple[int, int]


def bounds(net: IPNetwork) -> Interval:
    return int(net.network_address), int(net.broadcast_address)


def block_size(*, family: int, prefixlen: int) -> int:
    return 1 << ((32 if family == 4 else 128) - prefixlen)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals."""
    merged: list[Interval] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def blocks_touched(*, span: Interval, size: int, excluded: Sequence[Interval]) -> int:
    """Count the aligned blocks of ``span`` that meet any of ``excluded`` (merged)."""
    lo, hi = span
    count = 0
    last_counted = -1
    for first, last in merge(excluded):
        first, last = max(first, lo), min(last, hi)
        if first > last:
            continue
        first_block = max((first - lo) // size, last_counted + 1)
        last_block = (last - lo) // size
        if last_block >= first_block:
            count += last_block - first_block + 1
            last_counted = last_block
    return count


def usable_blocks(*, cidrs: Sequence[IPNetwork], size: int, excluded: Sequence[Interval]) -> int:
    """Blocks of the pool that are not touched by a reservation."""
    total = 0
    for net in cidrs:
        span = bounds(net)
        whole = (span[1] - span[0] + 1) // size
        total += whole - blocks_touched(span=span, size=size, excluded=excluded)
    return total


def reserved_addresses(*, cidrs: Sequence[IPNetwork], excluded: Sequence[Interval]) -> int:
    total = 0
    for net in cidrs:
        lo, hi = bounds(net)
        for first, last in merge(excluded):
            first, last = max(first, lo), min(last, hi)
            if first <= last:
                total += last - first + 1
    return total
