"""The lab's plan: names and addresses, pure."""

from __future__ import annotations

import pytest

from flatnet.lab import LabSettings
from flatnet.lab import topology as topo

SETTINGS = LabSettings()


def test_nodes_and_tor_get_the_documented_addresses() -> None:
    plan = topo.plan(SETTINGS, prefix="flab", nodes=2)
    [tor] = plan.tors
    assert (tor.netns, str(tor.ipv4), str(tor.ipv6), tor.asn) == (
        "flab-tor1",
        "10.10.0.1/24",
        "fd00:10::1/64",
        65000,
    )
    node2 = plan.node("node2")
    [link] = node2.links
    assert (node2.netns, node2.asn, link.ifname, link.tor_ifname) == (
        "flab-node2",
        65002,
        "eth0",
        "node2",
    )
    assert (str(link.ipv4), str(link.ipv6)) == ("10.10.0.12/24", "fd00:10::12/64")


def test_a_dual_homed_node_has_one_uplink_per_tor() -> None:
    plan = topo.plan(SETTINGS, prefix="flab", nodes=1, tors=2)
    node = plan.node("node1")
    assert [(lk.tor, lk.ifname, str(lk.ipv4)) for lk in node.links] == [
        (1, "eth0", "10.10.0.11/24"),
        (2, "eth1", "10.10.1.11/24"),
    ]
    assert str(plan.tor(2).ipv6) == "fd00:10:0:1::1/64"


def test_prefixes_are_unique_per_lab() -> None:
    prefixes = {topo.new_prefix(SETTINGS) for _ in range(50)}
    assert len(prefixes) == 50
    assert all(p.startswith("fl") and len(p) == 8 for p in prefixes)


def test_the_plan_round_trips_through_json() -> None:
    plan = topo.plan(SETTINGS, prefix="flab", nodes=3, tors=2)
    assert topo.Topology.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        pytest.param({"nodes": 0}, "nodes", id="no-nodes"),
        pytest.param({"nodes": 1, "tors": 3}, "tors", id="too-many-tors"),
        pytest.param({"nodes": 250}, "does not fit", id="too-many-nodes"),
    ],
)
def test_impossible_plans_are_refused(kw: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        topo.plan(SETTINGS, prefix="flab", **kw)
