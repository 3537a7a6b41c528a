"""Interop: the cross-node fabric with FRR 8.4 (bgpd + zebra, as the frr user) as the ToR."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flatnet.lab.fabric import Fabric
from flatnet.lab.tor import FrrTor
from tests.lab.fabric_harness import check_block_route, check_cross_node, fabric_up

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def fabric() -> Iterator[Fabric]:
    with fabric_up("frr") as made:
        yield made


def test_the_tor_is_frr_and_established_with_every_session(fabric: Fabric) -> None:
    tor = fabric.lab.tor()
    assert isinstance(tor, FrrTor)
    fabric.wait_converged()
    nodes = {str(a) for agent in fabric.agents.values() for link in agent.node.links
             for a in (link.ipv4.ip, link.ipv6.ip)}  # fmt: skip
    assert tor.established() == nodes


def test_pods_on_different_nodes_reach_each_other_through_an_frr_tor(fabric: Fabric) -> None:
    check_cross_node(fabric)


def test_an_frr_tor_follows_a_block_from_its_first_pod_to_its_return(fabric: Fabric) -> None:
    check_block_route(fabric)
