"""Switching a running speaker to other ToR sessions (``ExabgpSpeaker.set_peers``).

The fabric controller changed the node's rack: a ToR was added or taken away. The ToR
that stays must see no route change; a new ToR gets the routes; a ToR that is no longer
a peer drops them at once (an explicit withdraw), not when its restart timer of 120 s ends.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_network
from pathlib import Path

import pytest

from flatnet.lab import Lab
from node_agent.bgp.settings import BgpPeer
from node_agent.bgp.speaker import ExabgpSpeaker
from node_agent.errors import BgpConfigError
from tests.lab.harness import eventually
from tests.node_agent.bgp.conftest import lab_peers
from tests.node_agent.bgp.fabric import (
    HELD,
    VIA_NODE1,
    assert_hitless,
    sessions_up,
    tor_routes_become,
)

MARKER = ip_network("10.244.1.192/26")
VIA_UPLINK2 = {"10.244.1.0/26": {"10.10.1.11"}, "fd00:244:1::/64": {"fd00:10:0:1::11"}}
WITHDRAW_LIMIT = 20.0
"""Well below the ToR's graceful-restart time (120 s): only a withdraw is this fast."""


def tor1_only(peers: list[BgpPeer]) -> list[BgpPeer]:
    return [p for p in peers if str(p.address) in {"10.10.0.1", "fd00:10::1"}]


async def test_a_tor_added_to_the_rack_gets_the_routes_and_the_other_sees_no_change(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1, tors=2)
    both = lab_peers(lab, "node1")
    speaker = make_speaker(lab, peers=tor1_only(both))
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    assert lab.routes(2) == {}
    assert not await speaker.set_peers(list(reversed(tor1_only(both))))  # same sessions

    async def add_tor2() -> ExabgpSpeaker:
        assert await speaker.set_peers(both)
        await eventually(lambda: len(speaker.status().peers) == 4 and sessions_up(speaker), "4 up")
        await tor_routes_become(lab, VIA_UPLINK2, tor=2)
        return speaker

    await assert_hitless(lab, add_tor2, marker=MARKER)
    assert speaker.status().announced == sorted(str(p) for p in [*HELD, MARKER])


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
async def test_a_tor_taken_away_drops_the_routes_at_once_and_the_other_sees_no_change(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tor_kind: str
) -> None:
    lab = make_lab(nodes=1, tors=2, tor_kind=tor_kind)
    both = lab_peers(lab, "node1")
    speaker = make_speaker(lab, peers=both)
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    await tor_routes_become(lab, VIA_UPLINK2, tor=2)

    async def remove_tor2() -> ExabgpSpeaker:
        assert await speaker.set_peers(tor1_only(both))
        await eventually(lambda: lab.routes(2) == {}, "ToR 2 to drop", limit=WITHDRAW_LIMIT)
        await eventually(lambda: sessions_up(speaker), "the sessions to ToR 1")
        return speaker

    await assert_hitless(lab, remove_tor2, marker=MARKER)
    assert {p.peer for p in speaker.status().peers} == {"10.10.0.1", "fd00:10::1"}
    assert lab.routes(2) == {}


async def test_a_switch_that_failed_is_tried_again_with_the_same_sessions(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tmp_path: Path
) -> None:
    lab = make_lab(nodes=1)
    speaker = make_speaker(lab)
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    password = tmp_path / "md5"
    keyed = [p.model_copy(update={"md5_password_file": password}) for p in lab_peers(lab, "node1")]
    with pytest.raises(BgpConfigError):  # the password file is not there yet
        await speaker.set_peers(keyed)
    assert speaker.status().pid is None
    password.write_text("secret\n")
    assert await speaker.set_peers(keyed)  # not "already in use": the last launch failed
    assert speaker.status().pid is not None
    assert not await speaker.set_peers(keyed)
