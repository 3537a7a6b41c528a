"""The ToR's import policy against a node that announces what it should not.

A bare ExaBGP (no agent code) plays node2 and announces a mix of good and bad routes;
the ToR must install exactly the good ones. Each case ends with one more good route,
which the ToR processes after the bad ones, so "not installed" is decided, not timed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from flatnet.lab import BareExabgp, BirdTor, Lab, LabSettings
from tests.lab.harness import LIMIT, wait_for

GOOD = {"10.244.2.0/26", "fd00:244:2::/64"}
BAD = [
    ("10.244.2.64/27", "self", "longer than the pool's blocks"),
    ("10.244.0.0/16", "self", "the whole pool"),
    ("10.99.0.0/26", "self", "outside every pool"),
    ("10.244.3.0/26", "10.10.0.11", "another node as next hop"),
    ("fd00:244:2:1::/80", "self", "IPv6 longer than the pool's blocks"),
    ("fd00:999::/64", "self", "IPv6 outside every pool"),
    ("fd00:244:3::/64", "fd00:10::11", "IPv6 with another node as next hop"),
]
LAST = {"10.244.2.192/26", "fd00:244:2:ff::/64"}


@pytest.fixture
def bare_speakers() -> Iterator[list[BareExabgp]]:
    speakers: list[BareExabgp] = []
    yield speakers
    for speaker in speakers:
        speaker.stop()


def announce(bare: BareExabgp, prefix: str, next_hop: str) -> None:
    peer = "fd00:10::1" if ":" in prefix else "10.10.0.1"
    bare.send(f"neighbor {peer} announce route {prefix} next-hop {next_hop}")


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
def test_the_tor_installs_only_pool_blocks_announced_by_their_node(
    make_lab: Callable[..., Lab], bare_speakers: list[BareExabgp], tor_kind: str
) -> None:
    lab = make_lab(nodes=2, tor_kind=tor_kind)
    bare = lab.bare_speaker("node2")
    bare_speakers.append(bare)
    bare.start()
    bare.wait_up(2, limit=LIMIT)
    for prefix in sorted(GOOD):
        announce(bare, prefix, "self")
    for prefix, next_hop, _why in BAD:
        announce(bare, prefix, next_hop)
    for prefix in sorted(LAST):
        announce(bare, prefix, "self")
    wait_for(lambda: set(lab.routes()) >= LAST, "the last good routes")
    routes = lab.routes()
    assert set(routes) == GOOD | LAST
    assert routes["10.244.2.0/26"] == {"10.10.0.12"}
    assert routes["fd00:244:2::/64"] == {"fd00:10::12"}
    acks = [ln.text for ln in bare.lines() if ln.direction == "IN" and ln.text in {"done", "error"}]
    assert acks == ["done"] * (len(GOOD) + len(BAD) + len(LAST))  # ExaBGP sent them all
    tor = lab.tor()
    if isinstance(tor, BirdTor):  # BIRD keeps what it rejected ('import keep filtered')
        assert tor.filtered() >= {prefix for prefix, _, _ in BAD}


def test_bird_blocks_prefixes_beyond_the_import_limit(
    make_lab: Callable[..., Lab], bare_speakers: list[BareExabgp]
) -> None:
    lab = make_lab(settings=LabSettings(import_limit=3), nodes=1)
    bare = lab.bare_speaker("node1")
    bare_speakers.append(bare)
    bare.start()
    bare.wait_up(2, limit=LIMIT)
    blocks = [f"10.244.1.{64 * i}/26" for i in range(4)] + ["10.244.2.0/26"]
    for prefix in blocks:
        announce(bare, prefix, "self")
    wait_for(lambda: len(lab.routes()) >= 3, "three routes")
    # and one more after the others: still three, the session stays up
    announce(bare, "fd00:244:1::/64", "self")
    wait_for(lambda: "fd00:244:1::/64" in lab.routes(), "the IPv6 route (its own limit)")
    assert len([p for p in lab.routes() if "." in p]) == 3
    assert "10.10.0.11" in lab.tor().established()
