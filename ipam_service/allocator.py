"""Pure block arithmetic: find the first free aligned block, count usage. No I/O.

Addresses are handled as integers. An *interval* is an inclusive ``(first, last)``
pair. The search walks candidate blocks upward from a start point and jumps past
each occupied interval, so it touches only the intervals it meets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ipam_service.schemas import IPNetwork

Interval = tuple[int, int]


def bounds(net: IPNetwork) -> Interval:
    return int(net.network_address), int(net.broadcast_address)


def block_size(*, family: int, prefixlen: int) -> int:
    return 1 << ((32 if family == 4 else 128) - prefixlen)


def align_up(value: int, size: int) -> int:
    return -(-value // size) * size


def to_network(first: int, *, family: int, prefixlen: int) -> IPNetwork:
    address = ipaddress.IPv4Address(first) if family == 4 else ipaddress.IPv6Address(first)
    return ipaddress.ip_network(f"{address}/{prefixlen}")


@dataclass(frozen=True)
class ScanResult:
    """``found`` is the first address of a free block; otherwise ``resume_at`` says where
    to continue with the next page of occupied intervals (``None``: range exhausted)."""

    found: int | None
    resume_at: int | None


def scan(
    *,
    span: Interval,
    size: int,
    start: int,
    occupied: Sequence[Interval],
    horizon: int | None,
) -> ScanResult:
    """Find the first block of ``size`` in ``span`` at or above ``start`` that meets none of
    ``occupied`` (sorted by first address).

    ``horizon``: when the page of occupied intervals was cut short, the first address of
    its last interval; candidates from there on are unknown and the scan asks to resume.
    """
    lo, hi = span
    candidate = align_up(max(lo, start), size)
    for first, last in occupied:
        if horizon is not None and candidate >= horizon:
            return ScanResult(None, candidate)
        if candidate + size - 1 > hi:
            return ScanResult(None, None)
        if last < candidate:
            continue
        if first > candidate + size - 1:
            return ScanResult(candidate, None)
        candidate = align_up(last + 1, size)
    if horizon is not None and candidate >= horizon:
        return ScanResult(None, candidate)
    if candidate + size - 1 > hi:
        return ScanResult(None, None)
    return ScanResult(candidate, None)


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
