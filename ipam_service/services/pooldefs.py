"""Pure validation of pool definitions; every error names its field."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ipam_service.errors import InvalidInput
from ipam_service.schemas import IPNetwork, ReservationIn, SubnetIn

Range = tuple[int, int]


def family_of(cidrs: Sequence[IPNetwork], declared: int | None) -> int:
    family = declared or cidrs[0].version
    for i, net in enumerate(cidrs):
        if net.version != family:
            raise InvalidInput(
                f"{net} is IPv{net.version} but the pool is IPv{family}", field=f"cidrs[{i}]"
            )
    return family


def check_block_prefixlen(*, family: int, block_prefixlen: int, cidrs: Sequence[IPNetwork]) -> None:
    width = 32 if family == 4 else 128
    if block_prefixlen > width:
        raise InvalidInput(
            f"block_prefixlen {block_prefixlen} is longer than an IPv{family} address ({width})",
            field="block_prefixlen",
        )
    for i, net in enumerate(cidrs):
        if block_prefixlen < net.prefixlen:
            raise InvalidInput(
                f"block_prefixlen /{block_prefixlen} is shorter than the pool prefix {net}",
                field="block_prefixlen" if len(cidrs) == 1 else f"cidrs[{i}]",
            )


def check_disjoint(cidrs: Sequence[IPNetwork], *, field: str, offset: int = 0) -> None:
    for i, net in enumerate(cidrs):
        for j in range(i):
            if net.overlaps(cidrs[j]):
                raise InvalidInput(
                    f"{net} overlaps {cidrs[j]} in the same request", field=f"{field}[{i + offset}]"
                )


def _inside(net: IPNetwork, cidrs: Sequence[IPNetwork]) -> bool:
    return any(net.version == c.version and net.subnet_of(c) for c in cidrs)  # type: ignore[arg-type]


def check_subnets(
    subnets: Sequence[SubnetIn],
    *,
    family: int,
    block_prefixlen: int,
    cidrs: Sequence[IPNetwork],
    field: str = "subnets",
) -> None:
    for i, sub in enumerate(subnets):
        where = f"{field}[{i}].cidr"
        if sub.cidr.version != family:
            raise InvalidInput(f"{sub.cidr} is not IPv{family}", field=where)
        if not _inside(sub.cidr, cidrs):
            raise InvalidInput(f"{sub.cidr} is not inside any CIDR of the pool", field=where)
        if sub.cidr.prefixlen > block_prefixlen:
            raise InvalidInput(
                f"{sub.cidr} is smaller than one block (/{block_prefixlen})", field=where
            )
        if not sub.node_selector:
            raise InvalidInput(
                "a subnet needs a non-empty node_selector", field=f"{field}[{i}].node_selector"
            )
    check_disjoint([s.cidr for s in subnets], field=field)


def reservation_range(
    res: ReservationIn, *, index: int, family: int, cidrs: Sequence[IPNetwork]
) -> Range:
    where = f"reservations[{index}]"
    if res.cidr is not None:
        if res.first is not None or res.last is not None:
            raise InvalidInput("give either cidr or first/last, not both", field=where)
        first, last = res.cidr.network_address, res.cidr.broadcast_address
    elif res.first is not None and res.last is not None:
        first, last = res.first, res.last
    else:
        raise InvalidInput("a reservation needs cidr, or both first and last", field=where)
    if first.version != family or last.version != family:
        raise InvalidInput(f"reservation is not IPv{family}", field=where)
    if int(first) > int(last):
        raise InvalidInput(f"first {first} is above last {last}", field=f"{where}.first")
    inside = any(
        int(c.network_address) <= int(first) and int(last) <= int(c.broadcast_address)
        for c in cidrs
    )
    if not inside:
        raise InvalidInput(f"{first}-{last} is not inside one CIDR of the pool", field=where)
    return int(first), int(last)


def address(value: int, family: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value)
