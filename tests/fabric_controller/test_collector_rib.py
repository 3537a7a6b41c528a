"""The collector's RIB fed with recorded ExaBGP 5.0 sessions (and a few made-up lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from ipaddress import ip_address, ip_network

import pytest

from fabric_controller.drift import messages as m
from fabric_controller.drift.rib import Rib, TorView
from fabric_controller.drift.settings import IPNetwork, TorPeer
from tests.fabric_controller.drift_fixtures import FLAP, FLAP_START, POOL4, POOL6, SESSION

TOR = ip_address("10.10.0.1")
TOR1 = TorPeer(name="tor1", asn=65000, addresses=[TOR])


def make_rib(*, stale: float = 120.0, scope: Iterable[IPNetwork] = (POOL4, POOL6)) -> Rib:
    return Rib([TOR1], scope=scope, stale_seconds=stale, sync_timeout=30.0)


def feed(rib: Rib, lines: Iterable[str]) -> float:
    """Apply lines in order; returns the time of the last one."""
    at = 0.0
    for line in lines:
        event = m.parse_line(line, now=at)
        at = getattr(event, "at", at)
        assert rib.apply(event, now=at)
    return at


def view(rib: Rib, now: float) -> TorView:
    (tor,) = rib.snapshot(now=now)
    return tor


def routes(tor: TorView) -> set[tuple[str, int, str]]:
    return {(str(p.prefix), p.path_id, str(p.next_hop)) for p in tor.paths}


SESSION_ROUTES = {
    ("10.244.1.0/26", 2, "10.10.0.11"),
    ("10.244.1.64/26", 2, "10.10.0.11"),
    ("10.244.1.0/26", 5, "10.10.0.12"),
    ("10.244.9.0/26", 5, "10.10.0.12"),
    ("fd00:244:1::/64", 3, "fd00:10::11"),
}


def test_session_builds_every_path_and_completes_both_families() -> None:
    rib = make_rib()
    at = feed(rib, SESSION[:8])
    tor = view(rib, at)
    assert tor.state == "up"
    assert routes(tor) == SESSION_ROUTES
    assert tor.covered == {4: 1795722279.2720907, 6: 1795722279.2726378}
    assert {p.as_path for p in tor.paths} == {(65000, 65001), (65000, 65002)}


def test_route_refresh_answer_keeps_paths_and_first_seen() -> None:
    rib = make_rib()
    feed(rib, SESSION[:8])
    first = {(p.prefix, p.path_id): p.first_seen for p in view(rib, 0).paths}
    at = feed(rib, SESSION[8:17])
    tor = view(rib, at)
    assert routes(tor) == SESSION_ROUTES
    assert {(p.prefix, p.path_id): p.first_seen for p in tor.paths} == first


def test_refresh_sweeps_what_the_tor_did_not_resend() -> None:
    rib = make_rib()
    feed(rib, SESSION[:8])
    # The answer to the IPv4 refresh without node2's update: node2 is gone from the ToR.
    at = feed(rib, [*SESSION[10:12], SESSION[13]])
    assert routes(view(rib, at)) == SESSION_ROUTES - {
        ("10.244.1.0/26", 5, "10.10.0.12"),
        ("10.244.9.0/26", 5, "10.10.0.12"),
    }
    assert view(rib, at).gone == {ip_network("10.244.9.0/26"): 1795722279.3564007}


def test_shutdown_keeps_paths_stale_for_graceful_restart() -> None:
    rib = make_rib(stale=120.0)
    at = feed(rib, SESSION)
    tor = view(rib, at)
    assert tor.state == "down"
    assert tor.covered == {}
    assert len(tor.paths) == 5
    assert all(p.stale_since == at for p in tor.paths)
    assert view(rib, at + 119).paths
    assert view(rib, at + 120).paths == ()


def test_shutdown_without_graceful_restart_clears() -> None:
    rib = make_rib(stale=0.0)
    at = feed(rib, SESSION)
    assert view(rib, at).paths == ()


def test_withdraw_and_reannounce() -> None:
    rib = make_rib()
    feed(rib, FLAP_START)
    before = {p.prefix: p.first_seen for p in view(rib, 0).paths}
    feed(rib, FLAP[:1])
    tor = view(rib, 0)
    assert routes(tor) == {("fd00:244:1::/64", 2, "fd00:10::11")}
    assert tor.gone[ip_network("10.244.1.0/26")] == 1795722018.2933872
    feed(rib, FLAP[1:2])
    tor = view(rib, 0)
    assert len(tor.paths) == 3
    assert tor.gone == {}
    back = {p.prefix: p.first_seen for p in tor.paths}
    assert back[ip_network("10.244.1.0/26")] == 1795722019.3717883
    assert back[ip_network("fd00:244:1::/64")] == before[ip_network("fd00:244:1::/64")]


def test_tor_shutdown_then_reconnect_refreshes_stale_paths() -> None:
    """RFC 8203 shutdown, session back: what the ToR resends is fresh, the rest is swept."""
    rib = make_rib()
    feed(rib, FLAP_START)
    down_at = feed(rib, FLAP[:4])
    tor = view(rib, down_at)
    assert tor.state == "down"
    assert tor.sessions[0].reason == "notification received (6,2)"
    assert all(p.stale_since == down_at for p in tor.paths)
    # Back up; only the IPv4 table and its End-of-RIB so far.
    at = feed(rib, FLAP[4:9])
    tor = view(rib, at)
    assert tor.covered == {4: 1795722028.1669583}
    fresh = {str(p.prefix) for p in tor.paths if p.stale_since is None}
    assert fresh == {"10.244.1.0/26", "10.244.1.64/26"}
    assert [str(p.prefix) for p in tor.paths if p.stale_since] == ["fd00:244:1::/64"]
    at = feed(rib, FLAP[9:])
    assert all(p.stale_since is None for p in view(rib, at).paths)


def test_end_of_rib_drops_stale_paths_not_resent() -> None:
    rib = make_rib()
    feed(rib, FLAP_START)
    feed(rib, FLAP[:4])
    # Reconnect and End-of-RIB for IPv4 without any IPv4 route: they are gone.
    at = feed(rib, [*FLAP[4:7], FLAP[8]])
    assert routes(view(rib, at)) == {("fd00:244:1::/64", 2, "fd00:10::11")}


def test_view_complete_only_after_end_of_rib_or_timeout() -> None:
    rib = make_rib()
    at = feed(rib, SESSION[:3])
    assert view(rib, at).covered == {}
    assert view(rib, at + 29.9).covered == {}
    assert view(rib, at + 30).covered == {4: at + 30, 6: at + 30}


def test_asked_refresh_makes_the_view_incomplete_until_its_end() -> None:
    rib = make_rib()
    at = feed(rib, SESSION[:8])
    rib.refresh_asked(TOR, 4, now=at)
    assert set(view(rib, at).covered) == {6}
    end = feed(rib, SESSION[10:14])
    assert view(rib, end).covered[4] == 1795722279.2720907  # complete since End-of-RIB
    rib.refresh_asked(TOR, 6, now=end)
    assert 6 not in view(rib, end + 1).covered
    assert view(rib, end + 30).covered[6] == end  # no answer: the timeout ends the wait


def test_scope_keeps_only_pool_routes() -> None:
    rib = make_rib(scope=[ip_network("10.244.1.0/24")])
    feed(rib, SESSION[:8])
    assert {str(p.prefix) for p in view(rib, 0).paths} == {"10.244.1.0/26", "10.244.1.64/26"}
    assert rib.set_scope([ip_network("10.244.0.0/16")], now=0.0) is True
    assert rib.set_scope([ip_network("10.244.0.0/16")], now=0.0) is False
    assert rib.set_scope([ip_network("10.244.1.64/26")], now=5.0) is False
    tor = view(rib, 5.0)
    assert {str(p.prefix) for p in tor.paths} == {"10.244.1.64/26"}
    assert tor.gone == {}


def test_next_hop_change_restarts_first_seen() -> None:
    rib = make_rib()
    feed(rib, SESSION[:4])
    moved = json.loads(SESSION[3])
    moved["time"] = 1795722300.0
    announce = moved["neighbor"]["message"]["update"]["announce"]["ipv4 unicast"]
    announce["10.10.0.99"] = announce.pop("10.10.0.11")
    feed(rib, [json.dumps(moved)])
    seen = {(str(p.prefix), str(p.next_hop)): p.first_seen for p in view(rib, 0).paths}
    assert seen == {
        ("10.244.1.0/26", "10.10.0.99"): 1795722300.0,
        ("10.244.1.64/26", "10.10.0.99"): 1795722300.0,
    }


def test_exabgp_exit_takes_every_session_down() -> None:
    rib = make_rib()
    at = feed(rib, SESSION[:8])
    rib.process_lost(now=at + 1, reason="exabgp exited (-9)")
    tor = view(rib, at + 1)
    assert (tor.state, tor.sessions[0].reason) == ("down", "exabgp exited (-9)")
    assert all(p.stale_since == at + 1 for p in tor.paths)


def test_unknown_peer_is_refused() -> None:
    other = SESSION[3].replace('"peer": "10.10.0.1"', '"peer": "10.10.0.2"')
    rib = make_rib()
    assert rib.apply(m.parse_line(other, now=0.0), now=0.0) is False
    assert view(rib, 0).paths == ()


@pytest.mark.parametrize(
    ("addresses", "state"),
    [
        pytest.param(["10.10.0.1"], "up", id="single-session-up"),
        pytest.param(["10.10.0.1", "fd00:10::1"], "partial", id="one-of-two-sessions-up"),
    ],
)
def test_tor_state_sums_its_sessions(addresses: list[str], state: str) -> None:
    tor = TorPeer(name="tor1", asn=65000, addresses=[ip_address(a) for a in addresses])
    rib = Rib([tor], scope=[POOL4], stale_seconds=1, sync_timeout=1)
    at = feed(rib, SESSION[:3])
    assert view(rib, at).state == state
