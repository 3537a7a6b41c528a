"""The in-database block search (``ipam_first_free_block``, ``ipam_claim_block``).

Edge cases through the API, then the search function against a brute-force oracle on
random pools: held blocks, reservations, rack subnets and hints.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.ipam_service.factories import claim, make_node, make_pool

RACK = "topology.flatnet.io/rack"


@pytest.mark.parametrize(
    ("cidr", "prefixlen", "expected"),
    [
        pytest.param(
            "fd00:10::/62", 64, ["fd00:10::/64", "fd00:10:0:1::/64", "fd00:10:0:2::/64"], id="ipv6"
        ),
        pytest.param(
            "255.255.255.0/25",
            26,
            ["255.255.255.0/26", "255.255.255.64/26", None],
            id="ipv4-top-of-space",
        ),
        pytest.param(
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/121",
            122,
            [
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/122",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff40/122",
                None,
            ],
            id="ipv6-top-of-space",
        ),
        pytest.param("10.9.0.0/26", 26, ["10.9.0.0/26", None], id="one-block-pool"),
    ],
)
async def test_claims_walk_the_pool_in_order_then_409(
    client: httpx.AsyncClient, cidr: str, prefixlen: int, expected: list[str | None]
) -> None:
    await make_pool(client, cidrs=[cidr], block_prefixlen=prefixlen)
    await make_node(client)
    for want in expected:
        r = await claim(client)
        if want is None:
            assert r.status_code == 409, r.text
            assert r.json()["type"] == "urn:flatnet:problem:pool-exhausted"
        else:
            assert r.status_code == 201, r.text
            assert r.json()["cidr"] == want


async def test_second_cidr_is_used_when_the_first_is_full(client: httpx.AsyncClient) -> None:
    await make_pool(client, cidrs=["10.7.0.0/26", "10.7.8.0/25"])
    await make_node(client)
    got = [(await claim(client)).json()["cidr"] for _ in range(3)]
    assert got == ["10.7.0.0/26", "10.7.8.0/26", "10.7.8.64/26"]


async def test_exhausted_message_names_every_range_searched(client: httpx.AsyncClient) -> None:
    await make_pool(
        client,
        cidrs=["10.8.0.0/25"],
        subnets=[{"cidr": "10.8.0.0/26", "node_selector": {RACK: "r1"}}],
    )
    await make_node(client, "a", "192.0.2.1", **{RACK: "r1"})
    await make_node(client, "b", "192.0.2.2", **{RACK: "r2"})
    assert (await claim(client, "b")).json()["cidr"] == "10.8.0.64/26"
    r = await claim(client, "b")
    assert r.status_code == 409
    assert "searched 10.8.0.0/25" in r.json()["detail"]
    assert (await claim(client, "a")).json()["cidr"] == "10.8.0.0/26"
    r = await claim(client, "a")
    assert "searched 10.8.0.0/26, 10.8.0.0/25" in r.json()["detail"]


async def test_claim_for_a_deleted_node_is_404(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await make_node(client)
    assert (await client.delete("/v1/nodes/node1")).status_code == 200
    r = await claim(client)
    assert r.status_code == 404
    assert r.json()["field"] == "name"


async def test_stale_hint_above_a_hole_is_lowered_by_release(client: httpx.AsyncClient) -> None:
    await make_pool(client, cidrs=["10.5.0.0/24"])
    await make_node(client)
    cidrs = [(await claim(client)).json()["cidr"] for _ in range(4)]
    assert (await claim(client)).status_code == 409
    for cidr in (cidrs[2], cidrs[0]):
        assert (await client.delete(f"/v1/nodes/node1/blocks/{cidr}")).status_code == 200
    assert [(await claim(client)).json()["cidr"] for _ in range(2)] == [cidrs[0], cidrs[2]]


# --- the search function against a brute-force oracle -------------------------------------

SPACE = ipaddress.ip_network("10.64.0.0/24")
BLOCK = 28  # 16 blocks of 16 addresses


@dataclass
class Scenario:
    held: list[int]  # block indexes
    reservations: list[tuple[int, int]]  # address offsets, inclusive
    subnet: tuple[int, int] | None  # block indexes [first, last] of one rack subnet
    hint: int | None  # address offset


def scenario(rng: random.Random) -> Scenario:
    subnet = None
    if rng.random() < 0.5:
        first = rng.randrange(0, 16, 4)
        subnet = (first, first + 3)
    reservations = []
    for _ in range(rng.randrange(3)):
        a = rng.randrange(256)
        reservations.append((a, min(255, a + rng.randrange(40))))
    if rng.random() < 0.3:  # one address on a block edge: the off-by-one trap
        a = rng.randrange(16) * 16 + rng.choice([0, 15])
        reservations.append((a, a))
    return Scenario(
        held=sorted(rng.sample(range(16), rng.randrange(14))),
        reservations=reservations,
        subnet=subnet,
        hint=rng.choice([None, rng.randrange(256)]),
    )


def oracle(s: Scenario, *, shared: bool, span: tuple[int, int]) -> int | None:
    """First free block index of the span at or above the hint, by enumeration."""
    taken = [(b * 16, b * 16 + 15) for b in s.held] + list(s.reservations)
    if shared and s.subnet is not None:
        taken.append((s.subnet[0] * 16, s.subnet[1] * 16 + 15))
    for b in range(span[0], span[1] + 1):
        if s.hint is not None and b * 16 < s.hint:
            continue
        if not any(first <= b * 16 + 15 and last >= b * 16 for first, last in taken):
            return b
    return None


def addr(offset: int) -> str:
    return str(SPACE.network_address + offset)


async def load(conn: AsyncConnection, s: Scenario) -> int:
    pool_id = (
        await conn.execute(
            text(
                "INSERT INTO pools (name, family, block_prefixlen) VALUES ('o', 4, :p) RETURNING id"
            ),
            {"p": BLOCK},
        )
    ).scalar_one()
    node_id = (
        await conn.execute(
            text("INSERT INTO nodes (name, node_ip) VALUES ('o', '192.0.2.99') RETURNING id")
        )
    ).scalar_one()
    for b in s.held:
        await conn.execute(
            text(
                "INSERT INTO blocks (pool_id, node_id, cidr, request_id)"
                " VALUES (:p, :n, CAST(:c AS cidr), :r)"
            ),
            {"p": pool_id, "n": node_id, "c": f"{addr(b * 16)}/{BLOCK}", "r": f"r{b}"},
        )
    for first, last in s.reservations:
        await conn.execute(
            text(
                "INSERT INTO pool_reservations (pool_id, first, last)"
                " VALUES (:p, CAST(:f AS inet), CAST(:l AS inet))"
            ),
            {"p": pool_id, "f": addr(first), "l": addr(last)},
        )
    if s.subnet is not None:
        await conn.execute(
            text(
                "INSERT INTO pool_subnets (pool_id, cidr, node_selector)"
                ' VALUES (:p, CAST(:c AS cidr), \'{"rack": "r1"}\')'
            ),
            {"p": pool_id, "c": f"{addr(s.subnet[0] * 16)}/26"},
        )
    return int(pool_id)


async def search(
    conn: AsyncConnection, s: Scenario, pool_id: int, *, rng: str, shared: bool
) -> int | None:
    found = (
        await conn.execute(
            text(
                "SELECT ipam_first_free_block(:p, CAST(:r AS cidr),"
                " CAST(:h AS inet), :len, :shared)"
            ),
            {
                "p": pool_id,
                "r": rng,
                "h": None if s.hint is None else addr(s.hint),
                "len": BLOCK,
                "shared": shared,
            },
        )
    ).scalar_one()
    if found is None:
        return None
    return (int(found.network_address) - int(SPACE.network_address)) // 16


EDGES = [
    pytest.param(Scenario([], [(15, 15)], None, None), id="reserved-last-address-of-block-0"),
    pytest.param(Scenario([], [(16, 16)], None, None), id="reserved-first-address-of-block-1"),
    pytest.param(Scenario([0], [(31, 32)], None, None), id="reservation-straddles-blocks-1-2"),
    pytest.param(Scenario([1, 2], [], None, 17), id="unaligned-hint-inside-held-block"),
    pytest.param(Scenario([], [], None, 17), id="unaligned-hint-skips-its-block"),
    pytest.param(Scenario([], [], (0, 3), None), id="shared-space-skips-rack-subnet"),
    pytest.param(Scenario(list(range(4, 16)), [], (0, 3), None), id="only-the-subnet-is-free"),
    pytest.param(Scenario([], [(0, 255)], None, None), id="all-reserved"),
]


@pytest.mark.parametrize(
    "s", EDGES + [pytest.param(scenario(random.Random(n)), id=f"random-{n}") for n in range(60)]
)
async def test_search_agrees_with_brute_force(connection: AsyncConnection, s: Scenario) -> None:
    pool_id = await load(connection, s)
    got = await search(connection, s, pool_id, rng=str(SPACE), shared=True)
    assert got == oracle(s, shared=True, span=(0, 15)), s
    if s.subnet is not None:
        sub = f"{addr(s.subnet[0] * 16)}/26"
        got = await search(connection, s, pool_id, rng=sub, shared=False)
        assert got == oracle(s, shared=False, span=s.subnet), s
