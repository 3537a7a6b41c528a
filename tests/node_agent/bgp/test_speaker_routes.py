"""The speaker against a real BIRD ToR: announce, withdraw, sync, drain, status, metrics."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_network

import pytest
from prometheus_client import CollectorRegistry

from flatnet.lab import BirdTor, Lab
from node_agent.bgp.settings import BgpSettings
from node_agent.bgp.speaker import ExabgpSpeaker
from node_agent.errors import BgpTimeoutError
from tests.lab.harness import eventually
from tests.node_agent.bgp.fabric import HELD, P4, P6, VIA_NODE1, sessions_up, tor_routes_become


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
async def test_announce_installs_the_block_via_the_node_and_withdraw_removes_it(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tor_kind: str
) -> None:
    lab = make_lab(nodes=1, tor_kind=tor_kind)
    registry = CollectorRegistry()
    speaker = make_speaker(lab, registry=registry)
    await speaker.start()
    await speaker.sync([])
    await speaker.announce(P4)
    await speaker.announce(P6)
    # announce returned: ExaBGP has acknowledged on every session of the family
    assert {p.peer: p.prefixes_acknowledged for p in speaker.status().peers} == {
        "10.10.0.1": 1,
        "fd00:10::1": 1,
    }
    await tor_routes_become(lab, VIA_NODE1)
    await speaker.withdraw(P4)
    await tor_routes_become(lab, {"fd00:244:1::/64": {"fd00:10::11"}})
    await speaker.withdraw(P4)  # withdrawing again is harmless
    assert speaker.status().announced == [str(P6)]
    await eventually(lambda: sessions_up(speaker), "both sessions up")
    assert registry.get_sample_value("flatnet_bgp_session_up", {"peer": "10.10.0.1"}) == 1
    assert registry.get_sample_value("flatnet_bgp_prefixes_desired") == 1
    assert (
        registry.get_sample_value("flatnet_bgp_prefixes_acknowledged", {"peer": "fd00:10::1"}) == 1
    )
    assert registry.get_sample_value("flatnet_bgp_prefixes_sent", {"peer": "10.10.0.1"}) == 0
    assert (registry.get_sample_value("flatnet_bgp_ack_seconds_count") or 0) >= 3


async def test_sync_adds_what_is_missing_and_withdraws_what_is_extra(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1)
    speaker = make_speaker(lab)
    await speaker.start()
    a, b, c = (ip_network(f"10.244.1.{n}/26") for n in (0, 64, 128))
    await speaker.sync([a, b, P6])
    await tor_routes_become(
        lab, {str(a): {"10.10.0.11"}, str(b): {"10.10.0.11"}, str(P6): {"fd00:10::11"}}
    )
    await speaker.sync([b, c])
    await tor_routes_become(lab, {str(b): {"10.10.0.11"}, str(c): {"10.10.0.11"}})
    assert speaker.status().announced == [str(b), str(c)]
    assert {p.peer: p.prefixes_sent for p in speaker.status().peers} == {
        "10.10.0.1": 2,
        "fd00:10::1": 0,
    }


async def test_drain_withdraws_everything_and_nothing_comes_back_after_stop(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=2)
    speaker = make_speaker(lab)
    other = make_speaker(lab, "node2")
    await speaker.start()
    await other.start()
    await speaker.sync(HELD)
    await other.sync([ip_network("10.244.2.0/26")])
    await tor_routes_become(lab, VIA_NODE1 | {"10.244.2.0/26": {"10.10.0.12"}})
    await speaker.drain()
    # withdrawn at once, not left stale for the graceful-restart time
    await tor_routes_become(lab, {"10.244.2.0/26": {"10.10.0.12"}})
    assert speaker.status().announced == []
    await speaker.stop()  # graceful restart at the ToR, but with nothing left to keep
    assert lab.routes() == {"10.244.2.0/26": {"10.10.0.12"}}


async def test_an_announce_while_exabgp_is_away_is_kept_and_replayed(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1)
    speaker = make_speaker(lab, settings=BgpSettings(ack_timeout=0.3, first_sync_timeout=60))
    with pytest.raises(BgpTimeoutError):
        await speaker.announce(P4)  # not started: nothing can acknowledge
    assert speaker.status().announced == [str(P4)]
    await speaker.start()  # no further call: the kept prefix goes out by itself
    await tor_routes_become(lab, {str(P4): {"10.10.0.11"}})


async def test_the_tor_shutting_a_session_down_shows_in_status(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1)
    speaker = make_speaker(lab)
    await speaker.start()
    await speaker.sync(HELD)
    await eventually(lambda: sessions_up(speaker), "sessions up")
    tor = lab.tor()
    assert isinstance(tor, BirdTor)
    tor.birdc("disable", "node1_v4", '"maintenance window"')

    def v4() -> str:
        return next(p.last_error for p in speaker.status().peers if p.peer == "10.10.0.1")

    await eventually(lambda: "maintenance window" in v4(), "the shutdown text in status")
    assert "notification received (6,2)" in v4()
    assert next(p.state for p in speaker.status().peers if p.peer == "10.10.0.1") != "up"
    tor.birdc("enable", "node1_v4")
    await eventually(lambda: sessions_up(speaker), "the session back up")
    await tor_routes_become(lab, VIA_NODE1)


async def test_a_drain_holds_across_sync_announce_and_a_session_flap_until_undrain(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    """What a drained agent keeps doing (reconcile syncs, a claim finishing, a ToR session
    coming back) announces nothing; undrain announces everything the node holds then."""
    lab = make_lab(nodes=2)
    speaker, other = make_speaker(lab), make_speaker(lab, "node2")
    await speaker.start()
    await other.start()
    await speaker.sync(HELD)
    await other.sync([])
    await tor_routes_become(lab, VIA_NODE1)
    await speaker.drain()
    await tor_routes_become(lab, {})
    claimed = ip_network("10.244.1.64/26")
    tor = lab.tor()
    assert isinstance(tor, BirdTor)
    with lab.watch() as watch:
        await speaker.sync(HELD)  # a reconcile pass
        await speaker.announce(claimed)  # a claim that was under way
        tor.birdc("disable", "node1_v4")  # the session-up replay
        await eventually(lambda: not sessions_up(speaker), "the session down")
        tor.birdc("enable", "node1_v4")
        await eventually(lambda: sessions_up(speaker), "the session back up")
        marker = ip_network("10.244.2.0/26")  # node2's: node1's would have come first
        await other.announce(marker)
        await eventually(
            lambda: any(e.prefix == str(marker) for e in watch.events(proto=lab.proto)),
            "node2's marker route",
        )
    changes = [(e.deleted, e.prefix) for e in watch.events(proto=lab.proto)]
    assert changes == [(False, str(marker))], f"route changes at the ToR: {changes}"
    status = speaker.status()
    assert status.drained
    assert status.announced == []
    assert [p.prefixes_sent for p in status.peers] == [0, 0]
    await speaker.undrain()
    assert not speaker.status().drained
    await tor_routes_become(
        lab, VIA_NODE1 | {str(claimed): {"10.10.0.11"}, str(marker): {"10.10.0.12"}}
    )
