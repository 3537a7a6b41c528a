"""The pure drift classifier: IPAM's view against the ToRs' RIBs, as tables."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from fabric_controller.drift.classifier import DriftKind, IpamView, classify
from fabric_controller.drift.rib import TorView
from tests.fabric_controller.drift_fixtures import (
    T0,
    held,
    ipam,
    node,
    path,
    released,
    tor_view,
)

N1 = node("node1", "10.10.0.11", asn=65001)
N2 = node("node2", "10.10.0.12", asn=65002)
N3 = node("node3", "10.10.0.13", asn=65003)
R1 = node("node1", "10.10.0.11", asn=65010)  # AS per rack: both nodes share 65010
R2 = node("node2", "10.10.0.12", asn=65010)
P1 = "10.244.1.0/26"

Row = tuple[str, str | None, str, str]
"""(kind, node, tor, prefix) of one expected entry."""

CASES = [
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.11"))],
        [],
        id="held-and-carried-is-clean",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1")]),
        [tor_view()],
        [("missing", "node1", "tor1", P1)],
        id="held-not-carried-is-missing",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1")]),
        [tor_view(covered={})],
        [],
        id="missing-not-judged-while-the-view-is-incomplete",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held("fd00:244:1::/64", "node1")]),
        [tor_view(covered={4: T0})],
        [],
        id="missing-judged-per-family",
    ),
    pytest.param(
        ipam(nodes=[N1, N2]),
        [tor_view(path("10.244.7.0/26", "10.10.0.12", as_path=(65000, 65002)))],
        [("rogue", "node2", "tor1", "10.244.7.0/26")],
        id="never-allocated-is-rogue-with-the-announcer",
    ),
    pytest.param(
        ipam(nodes=[N1, N2], blocks=[held(P1, "node1")]),
        [
            tor_view(
                path(P1, "10.10.0.11", path_id=2),
                path(P1, "10.10.0.12", as_path=(65000, 65002), path_id=5),
            )
        ],
        [("rogue", "node2", "tor1", P1)],
        id="second-path-from-a-non-holder-is-rogue",
    ),
    pytest.param(
        ipam(nodes=[N1, N2], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.12", as_path=(65000, 65002)))],
        [("missing", "node1", "tor1", P1), ("rogue", "node2", "tor1", P1)],
        id="hijacked-block-is-rogue-and-missing",
    ),
    pytest.param(
        ipam(nodes=[N1]),
        [tor_view(path("10.244.7.0/26", "10.10.0.99", as_path=(65000, 65099)))],
        [("rogue", None, "tor1", "10.244.7.0/26")],
        id="unknown-announcer-is-rogue-without-node",
    ),
    pytest.param(
        ipam(nodes=[N1], releases=[released(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.11"))],
        [("stale", "node1", "tor1", P1)],
        id="released-block-still-announced-is-stale",
    ),
    pytest.param(
        ipam(nodes=[N1], releases=[released("10.244.3.0/26", "node3")]),
        [tor_view(path("10.244.3.0/26", "10.10.0.13", as_path=(65000, 65003)))],
        [("stale", "node3", "tor1", "10.244.3.0/26")],
        id="deleted-node-found-by-its-released-blocks",
    ),
    pytest.param(
        ipam(nodes=[N1], former=[N3]),
        [tor_view(path("10.244.8.0/26", "10.10.0.13", as_path=(65000, 65003)))],
        [("stale", "node3", "tor1", "10.244.8.0/26")],
        id="deleted-node-still-announcing-is-stale",
    ),
    pytest.param(
        ipam(nodes=[N1, N2], blocks=[held(P1, "node2")], releases=[released(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.11"), path(P1, "10.10.0.12", as_path=(65000, 65002)))],
        [("stale", "node1", "tor1", P1)],
        id="former-holder-of-a-reclaimed-block-is-stale",
    ),
    pytest.param(
        ipam(nodes=[N1, N2], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.12", as_path=(65000, 65001)))],
        [("next-hop-mismatch", "node1", "tor1", P1)],
        id="origin-as-names-the-node-next-hop-is-another",
    ),
    pytest.param(
        ipam(nodes=[R1, R2], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.50", as_path=(65000, 65010)))],
        [("next-hop-mismatch", "node1", "tor1", P1)],
        id="unknown-next-hop-on-a-held-block-is-mismatch",
    ),
    pytest.param(
        ipam(nodes=[R1, R2], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.12", as_path=(65000, 65010)))],
        [("missing", "node1", "tor1", P1), ("rogue", "node2", "tor1", P1)],
        id="shared-asn-falls-back-to-the-next-hop",
    ),
    pytest.param(
        ipam(nodes=[node("node1", "10.10.0.11", asn=65000)], blocks=[held(P1, "node1")]),
        [tor_view(path(P1, "10.10.0.11", as_path=(65000,)))],
        [],
        id="ibgp-node-sharing-the-tor-asn",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held("fd00:244:1::/64", "node1")]),
        [tor_view(path("fd00:244:1::/64", "fd00:10::11"))],
        [],
        id="ipv6-next-hop-unchecked-without-an-ipv6-node-address",
    ),
    pytest.param(
        ipam(
            nodes=[node("node1", "10.10.0.11", asn=65001, more="fd00:10::11")],
            blocks=[held("fd00:244:1::/64", "node1")],
        ),
        [tor_view(path("fd00:244:1::/64", "fd00:10::99"))],
        [("next-hop-mismatch", "node1", "tor1", "fd00:244:1::/64")],
        id="ipv6-next-hop-checked-with-an-ipv6-node-address",
    ),
    pytest.param(
        ipam(nodes=[N1]),
        [tor_view(path("192.168.0.0/24", "10.10.0.11"))],
        [],
        id="outside-the-pools-is-ignored",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held("10.244.1.0/26", "node1")]),
        [tor_view(path("10.244.1.0/27", "10.10.0.11"), path(P1, "10.10.0.11"))],
        [("rogue", "node1", "tor1", "10.244.1.0/27")],
        id="more-specific-of-an-own-block-is-rogue",
    ),
]


@pytest.mark.parametrize(("view", "tors", "expected"), CASES)
def test_classify(view: IpamView, tors: list[TorView], expected: list[Row]) -> None:
    rows = [(e.kind.value, e.node, e.tor, str(e.prefix)) for e in classify(view, tors)]
    assert sorted(rows, key=str) == sorted(expected, key=str)


RACKS = [
    pytest.param("r1", ["tor1"], id="node-in-rack-r1-expected-on-r1-only"),
    pytest.param("r9", ["tor1", "tor2"], id="rack-without-tors-expected-everywhere"),
    pytest.param(None, ["tor1", "tor2"], id="node-without-rack-expected-everywhere"),
]


@pytest.mark.parametrize(("rack", "missing_on"), RACKS)
def test_missing_follows_the_racks(rack: str | None, missing_on: list[str]) -> None:
    view = ipam(nodes=[node("node1", "10.10.0.11", rack=rack)], blocks=[held(P1, "node1")])
    tors = [tor_view(name="tor1", rack="r1"), tor_view(name="tor2", rack="r2")]
    assert [e.tor for e in classify(view, tors)] == missing_on


def test_transit_path_on_another_racks_tor_is_not_a_mismatch() -> None:
    """tor2 learned node1's block through the spine: its next hop is not node1."""
    view = ipam(
        nodes=[node("node1", "10.10.0.11", asn=65001, rack="r1")], blocks=[held(P1, "node1")]
    )
    tors = [
        tor_view(path(P1, "10.10.0.11"), name="tor1", rack="r1"),
        tor_view(
            path(P1, "10.20.0.1", as_path=(65200, 65100, 65000, 65001), tor="tor2"),
            name="tor2",
            rack="r2",
        ),
    ]
    assert classify(view, tors) == []


SINCE = [
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1", at=T0 - 100)]),
        tor_view(covered={4: T0 - 5000}),
        T0 - 100,
        id="missing-since-the-claim",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1", at=T0 - 9000)]),
        tor_view(covered={4: T0 - 5000}),
        T0 - 5000,
        id="missing-since-the-view-was-complete",
    ),
    pytest.param(
        ipam(nodes=[N1], blocks=[held(P1, "node1", at=T0 - 9000)]),
        tor_view(covered={4: T0 - 5000}, gone={P1: T0 - 42}),
        T0 - 42,
        id="missing-since-withdrawn",
    ),
    pytest.param(
        ipam(nodes=[N1], releases=[released(P1, "node1", at=T0 - 60)]),
        tor_view(path(P1, "10.10.0.11", seen=T0 - 3000)),
        T0 - 60,
        id="stale-since-the-release",
    ),
    pytest.param(
        ipam(nodes=[N1, N2]),
        tor_view(path("10.244.7.0/26", "10.10.0.12", as_path=(65000, 65002), seen=T0 - 7)),
        T0 - 7,
        id="rogue-since-first-seen",
    ),
]


@pytest.mark.parametrize(("view", "tor", "since"), SINCE)
def test_since(view: IpamView, tor: TorView, since: float) -> None:
    (entry,) = classify(view, [tor])
    assert entry.since == since


def test_entry_names_the_next_hops() -> None:
    view = ipam(nodes=[N1, N2], blocks=[held(P1, "node1")])
    (entry,) = classify(view, [tor_view(path(P1, "10.10.0.12", path_id=9))])
    assert entry.kind is DriftKind.NEXT_HOP_MISMATCH
    assert entry.next_hop == ip_address("10.10.0.12")
    assert entry.expected_next_hop == ip_address("10.10.0.11")
    assert (entry.path_id, entry.as_path) == (9, (65000, 65001))
    assert entry.prefix == ip_network(P1)


def test_one_entry_per_identity_with_the_earliest_start() -> None:
    """The same rogue path on two sessions (or path ids) of one ToR is one entry."""
    view = ipam(nodes=[N1, N2])
    tor = tor_view(
        path("10.244.7.0/26", "10.10.0.12", as_path=(65000, 65002), path_id=1, seen=T0 - 5),
        path("10.244.7.0/26", "10.10.0.12", as_path=(65000, 65002), path_id=2, seen=T0 - 50),
    )
    (entry,) = classify(view, [tor])
    assert (entry.kind, entry.since) == (DriftKind.ROGUE, T0 - 50)
