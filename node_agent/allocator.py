"""Choosing pod addresses from the node's blocks, and deciding when blocks come and go.

Pure: no I/O, no clock. Callers pass ``now`` (seconds, wall clock, as stored in
the agent's database) so tests drive time by hand.

Address choice (:func:`pick_address`):

* blocks of the pool that are ``ready`` only (a block being returned is not);
* the fullest block first, so that lightly used blocks drain and can go back to
  IPAM; ties by address;
* inside a block, the lowest address that is neither in use nor cooling down. The
  block's first address is never handed out: it is the IPv4 network address that
  some middleboxes still drop, and the IPv6 subnet-router anycast address.

Block decisions (:func:`plan_blocks`), per pool:

* ``claim`` when fewer than ``warm_spare`` addresses are free (counting cooling
  ones as unavailable), so that ADDs rarely wait for IPAM;
* ``release`` a block that has been empty for ``hold_time`` seconds, as long as
  the pool keeps at least ``warm_spare`` free addresses without it (and at least
  one address); blocks of pools not served any more only need the hold time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from node_agent.podnet import IPAddress, IPNetwork

MAX_SCAN = 1 << 16
"""Upper bound on addresses examined per block; a huge IPv6 block stops there."""


@dataclass(frozen=True)
class BlockUsage:
    """One held block as the allocator sees it."""

    cidr: IPNetwork
    pool: str
    used: frozenset[IPAddress] = frozenset()
    ready: bool = True
    """False while the block is being returned to IPAM."""
    empty_since: float | None = None
    """When the block last became empty (``None`` while it has allocations)."""

    @property
    def capacity(self) -> int:
        """Addresses the allocator may hand out (all but the first)."""
        return min(max(self.cidr.num_addresses - 1, 0), MAX_SCAN)


@dataclass(frozen=True)
class BlockPlan:
    """What the block manager should do for the pools it serves."""

    claim: tuple[str, ...] = ()
    release: tuple[IPNetwork, ...] = ()
    free: Mapping[str, int] = field(default_factory=dict)
    """Free, non-cooling addresses per pool."""


def cooling_set(cooling: Mapping[IPAddress, float], *, now: float) -> frozenset[IPAddress]:
    """Addresses whose cooldown has not ended at ``now``."""
    return frozenset(ip for ip, until in cooling.items() if until > now)


def _candidates(cidr: IPNetwork) -> Iterable[IPAddress]:
    first, count = cidr.network_address, cidr.num_addresses
    start = 1 if count > 1 else 0
    for offset in range(start, min(count, MAX_SCAN + start)):
        yield first + offset


def free_in(block: BlockUsage, cooling: frozenset[IPAddress]) -> int:
    """Addresses of ``block`` available now."""
    if not block.ready:
        return 0
    taken = sum(1 for ip in block.used | cooling if ip in block.cidr and ip != _first(block))
    return max(block.capacity - taken, 0)


def _first(block: BlockUsage) -> IPAddress | None:
    return block.cidr.network_address if block.cidr.num_addresses > 1 else None


def pick_address(
    blocks: Sequence[BlockUsage], *, pool: str, cooling: frozenset[IPAddress]
) -> IPAddress | None:
    """The address to hand out next from ``pool``, or ``None`` when there is none."""
    mine = [b for b in blocks if b.pool == pool and b.ready]
    mine.sort(key=lambda b: (-len(b.used), b.cidr.version, int(b.cidr.network_address)))
    for block in mine:
        if free_in(block, cooling) == 0:
            continue
        for candidate in _candidates(block.cidr):
            if candidate not in block.used and candidate not in cooling:
                return candidate
    return None


def plan_blocks(
    blocks: Sequence[BlockUsage],
    *,
    pools: Iterable[str],
    cooling: frozenset[IPAddress],
    warm_spare: int,
    hold_time: float,
    now: float,
) -> BlockPlan:
    """Claims and releases that keep each pool at ``warm_spare`` free addresses."""
    claims: list[str] = []
    served = list(pools)
    # Blocks of a pool the agent no longer serves (or adopted without a known
    # pool) take no allocation; they go back once empty for the hold time.
    releases: list[IPNetwork] = [
        b.cidr
        for b in blocks
        if b.pool not in served
        and b.ready
        and not b.used
        and b.empty_since is not None
        and now - b.empty_since >= hold_time
    ]
    free: dict[str, int] = {}
    for pool in served:
        mine = [b for b in blocks if b.pool == pool and b.ready]
        available = sum(free_in(b, cooling) for b in mine)
        free[pool] = available
        if available < warm_spare or not mine:
            claims.append(pool)
            continue
        for block in sorted(mine, key=lambda b: (b.cidr.version, -int(b.cidr.network_address))):
            if block.used or block.empty_since is None or now - block.empty_since < hold_time:
                continue
            left = available - free_in(block, cooling)
            if left >= warm_spare and left > 0:
                releases.append(block.cidr)
                available = left
    return BlockPlan(claim=tuple(claims), release=tuple(releases), free=free)


def block_of(address: IPAddress, blocks: Iterable[BlockUsage]) -> BlockUsage | None:
    """The held block containing ``address``."""
    for block in blocks:
        if address in block.cidr:
            return block
    return None
