"""The generated ToR config, loaded unchanged in real BIRD 2 and FRR 8.4, enforces what it says.

A rack of four nodes in network namespaces. Each node's ExaBGP takes its sessions from
``GET /v1/nodes/{name}/bgp`` (MD5 included); the ToR runs ``GET /v1/racks/r1/tor-config``.
Then the nodes announce:

* node1: its own block (accepted); node2's block, a /27 of its own block, an unallocated
  block, and its second block with node2 as next hop (all refused);
* node2: its own block (accepted);
* node3, an IPv6 node: its own /64 (accepted) and an unallocated /64 (refused);
* node4: holds one block more than the max-prefix limit and announces them all (session
  reset: both daemons count accepted routes; BIRD counts refused ones too). The reset
  holds the node off, except for FRR's dynamic neighbours: FRR deletes a dynamic
  neighbour when it resets it, restart timer included, so the node may reconnect at
  once; there the reset is seen in bgpd's log instead.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from flatnet.lab import BareExabgp, LabSettings
from tests.fabric_controller import torconfig_lab as lab
from tests.fabric_controller.topology_fixtures import (
    claim,
    make_fabric,
    make_node,
    make_pool,
    make_rack,
    ok,
    tor,
)

pytestmark = pytest.mark.privileged

PASSWORD = "s3cret-md5"
MAX_PREFIXES = 8
SETTLE = 40.0
"""Upper bound for sessions to come up and updates to be judged (a bound, not a timing claim)."""


async def build_rack(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, secrets_dir: Path, *, peering: str
) -> dict[str, list[str]]:
    """Topology in the controller, pools/nodes/blocks in IPAM; returns each node's blocks."""
    (secrets_dir / "tor-md5").write_text(PASSWORD + "\n")
    bgp = {"md5_secret_ref": "tor-md5", "max_prefixes": MAX_PREFIXES}
    await make_fabric(
        controller, "dc1", asn_range={"first": 4_200_000_001, "last": 4_200_000_100}, bgp=bgp
    )
    await make_rack(controller, "r1", tors=(tor("tor1", 65000),), peering=peering)
    await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
    await make_pool(ipam, "pods6", "fd00:244::/48", prefixlen=64)
    addresses = {
        "node1": "10.10.0.11",
        "node2": "10.10.0.12",
        "node3": "fd00:10::13",
        "node4": "10.10.0.14",
    }
    blocks: dict[str, list[str]] = {}
    for name, address in addresses.items():
        await make_node(ipam, name, address)
        pool = "pods6" if ":" in address else "pods4"
        blocks[name] = [await claim(ipam, name, pool)]
    blocks["node1"].append(await claim(ipam, "node1", "pods4"))
    for _ in range(MAX_PREFIXES):
        blocks["node4"].append(await claim(ipam, "node4", "pods4"))
    return blocks


def announce(bare: BareExabgp, prefix: str, next_hop: str = "self") -> None:
    bare.send(f"announce route {prefix} next-hop {next_hop}")


def first_half(block: str) -> str:
    return str(next(ip_network(block).subnets(prefixlen_diff=1)))


@pytest.mark.parametrize("peering", ["static", "dynamic"])
@pytest.mark.parametrize("daemon", ["bird", "frr"])
async def test_generated_config_refuses_rogue_and_accepts_rightful_routes(
    controller: httpx.AsyncClient,
    ipam: httpx.AsyncClient,
    secrets_dir: Path,
    daemon: str,
    peering: str,
) -> None:
    lab.need_tor_daemon(daemon)
    blocks = await build_rack(controller, ipam, secrets_dir, peering=peering)
    response = await controller.get("/v1/racks/r1/tor-config", params={"format": daemon})
    config = response.text
    assert response.status_code == 200, config
    assert PASSWORD in config  # the ToR needs the MD5 secret itself
    peerings = {n: ok(await controller.get(f"/v1/nodes/{n}/bgp")) for n in blocks}

    with lab.lab_root() as root:
        settings = LabSettings(state_root=root, name_prefix="tc")
        with lab.rack(settings, nodes=4) as plan:
            tor_daemon = lab.start_tor(daemon, config, plan=plan, settings=settings)
            speakers: dict[str, BareExabgp] = {}
            try:
                for name, peering_answer in peerings.items():
                    speakers[name] = lab.speaker(
                        peering_answer, node=plan.node(name), password=PASSWORD, settings=settings
                    )
                for bare in speakers.values():
                    bare.wait_up(1, limit=SETTLE)
                check_enforcement(tor_daemon, speakers, blocks, settings, peering=peering)
            finally:
                for bare in speakers.values():
                    bare.stop()
                tor_daemon.stop()


def announce_all(speakers: dict[str, BareExabgp], blocks: dict[str, list[str]]) -> set[str]:
    """Every announcement of the scenario; returns the prefixes the ToR must refuse."""
    own1, second1 = blocks["node1"]
    announce(speakers["node1"], own1)
    announce(speakers["node1"], blocks["node2"][0])  # another node's block
    announce(speakers["node1"], first_half(own1))  # not the exact length
    announce(speakers["node1"], "10.244.255.0/26")  # never allocated
    announce(speakers["node1"], second1, next_hop="10.10.0.12")  # its own, node2 as next hop
    announce(speakers["node2"], blocks["node2"][0])
    announce(speakers["node3"], blocks["node3"][0])
    announce(speakers["node3"], "fd00:244:ffff::/64")  # never allocated (IPv6)
    for block in blocks["node4"]:  # one more than the limit: the session is reset
        announce(speakers["node4"], block)
    rogue = {blocks["node2"][0], first_half(own1), "10.244.255.0/26", second1}
    return rogue | {"fd00:244:ffff::/64"}


def check_enforcement(
    tor_daemon: lab.BirdTor | lab.FrrTor,
    speakers: dict[str, BareExabgp],
    blocks: dict[str, list[str]],
    settings: LabSettings,
    *,
    peering: str,
) -> None:
    own1 = blocks["node1"][0]
    rogue = announce_all(speakers, blocks)
    expected = {
        own1: {"10.10.0.11"},
        blocks["node2"][0]: {"10.10.0.12"},
        blocks["node3"][0]: {"fd00:10::13"},
    }
    sticky = not (isinstance(tor_daemon, lab.FrrTor) and peering == "dynamic")

    def judged() -> bool:
        routes = lab.fib(tor_daemon, settings)
        if not rogue <= lab.refused(tor_daemon):
            return False
        if sticky:
            return routes == expected and "10.10.0.14" not in tor_daemon.established()
        others = {p: hops for p, hops in routes.items() if hops != {"10.10.0.14"}}
        reset = "MAXPFXEXCEED: No. of IPv4 Unicast prefix received from 10.10.0.14"
        return others == expected and reset in lab.frr_log(tor_daemon)

    lab.wait_for(
        judged,
        limit=SETTLE,
        what=lambda: (
            f"fib={lab.fib(tor_daemon, settings)} refused={lab.refused(tor_daemon)}"
            f" established={tor_daemon.established()}"
        ),
    )
    up = tor_daemon.established()
    assert {"10.10.0.11", "10.10.0.12", "fd00:10::13"} <= up  # refusals kept the sessions
