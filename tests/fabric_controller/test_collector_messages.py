"""ExaBGP 5.0 API lines (recorded against BIRD) -> typed events."""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_network

import pytest

from fabric_controller.drift import messages as m
from fabric_controller.drift.errors import MessageError
from tests.fabric_controller.drift_fixtures import FLAP, SESSION

TOR = ip_address("10.10.0.1")


def test_session_start_in_order() -> None:
    events = [m.parse_line(line, now=0.0) for line in SESSION]
    assert [type(e).__name__ for e in events[:8]] == [
        "State",
        "Negotiated",
        "State",
        "Update",
        "Update",
        "EndOfRib",
        "Update",
        "EndOfRib",
    ]
    assert events[0] == m.State(TOR, 1795722279.215518, "connected")
    assert events[1] == m.Negotiated(TOR, 1795722279.2269914, frozenset({4, 6}), add_path=True)
    assert isinstance(events[2], m.State)
    assert events[2].state == "up"


def test_add_path_announcements() -> None:
    node1 = m.parse_line(SESSION[3], now=0.0)
    node2 = m.parse_line(SESSION[4], now=0.0)
    assert isinstance(node1, m.Update)
    assert isinstance(node2, m.Update)
    assert node1.as_path == (65000, 65001)
    assert node1.announced == (
        m.Announce(ip_network("10.244.1.0/26"), 2, ip_address("10.10.0.11")),
        m.Announce(ip_network("10.244.1.64/26"), 2, ip_address("10.10.0.11")),
    )
    # The same block from node2 is a second path (path-id 5), not a replacement.
    assert node2.announced[0] == m.Announce(
        ip_network("10.244.1.0/26"), 5, ip_address("10.10.0.12")
    )


def test_ipv6_announcement_and_end_of_rib() -> None:
    update = m.parse_line(SESSION[6], now=0.0)
    assert isinstance(update, m.Update)
    assert update.announced == (
        m.Announce(ip_network("fd00:244:1::/64"), 3, ip_address("fd00:10::11")),
    )
    assert m.parse_line(SESSION[7], now=0.0) == m.EndOfRib(TOR, 1795722279.2726378, 6)


# FRR 8.4 on the ToR, IPv6 session to the collector: a global and a link-local next hop
# (RFC 2545), which ExaBGP 5.0.15 lists as two next hops of one NLRI (recorded in the lab).
FRR_LINK_LOCAL = '{ "exabgp": "5.0.0", "time": 1795724989.2343152, "host" : "vm", "pid" : 1839, "ppid" : 1585, "counter": 4, "type": "update", "neighbor": { "address": { "local": "fd00:10::100", "peer": "fd00:10::1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 4200000003]}} }, "announce": { "ipv6 unicast": { "fd00:10::13": [ { "nlri": "fd00:244::/64", "path-information": "0.0.0.2" } ], "fe80::48b7:43ff:fed8:be02": [ { "nlri": "fd00:244::/64", "path-information": "0.0.0.2" } ] } } } }, "negotiated": { "message_size": 65535, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv6 unicast"]} }  } }'  # noqa: E501


def test_a_link_local_twin_of_a_global_next_hop_is_dropped() -> None:
    update = m.parse_line(FRR_LINK_LOCAL, now=0.0)
    assert isinstance(update, m.Update)
    assert update.announced == (
        m.Announce(ip_network("fd00:244::/64"), 2, ip_address("fd00:10::13")),
    )


def test_a_link_local_next_hop_alone_is_kept() -> None:
    line = _update({"announce": {"ipv6 unicast": {"fe80::1": [{"nlri": "fd00:244:5::/64"}]}}})
    update = m.parse_line(line, now=0.0)
    assert isinstance(update, m.Update)
    assert update.announced == (
        m.Announce(ip_network("fd00:244:5::/64"), 0, ip_address("fe80::1")),
    )


def test_acks_and_refresh_markers() -> None:
    assert m.parse_line(SESSION[8], now=0.0) == m.Ack("done")
    assert m.parse_line(SESSION[10], now=0.0) == m.Refresh(TOR, 1795722279.3126304, 4, "begin")
    assert m.parse_line(SESSION[13], now=0.0) == m.Refresh(TOR, 1795722279.3564007, 4, "end")


def test_shutdown_lines() -> None:
    assert m.parse_line(SESSION[17], now=0.0) == m.State(
        TOR, 1795722285.2888718, "down", "stop, message [shutting down]"
    )
    # ExaBGP's own goodbye has no neighbour: nothing to act on.
    assert m.parse_line(SESSION[18], now=0.0) == m.Ignored("notification")


def test_withdraw_and_notification() -> None:
    withdraw = m.parse_line(FLAP[0], now=0.0)
    assert isinstance(withdraw, m.Update)
    assert withdraw.announced == ()
    assert withdraw.withdrawn == (
        m.Withdraw(ip_network("10.244.1.0/26"), 3),
        m.Withdraw(ip_network("10.244.1.64/26"), 3),
    )
    note = m.parse_line(FLAP[2], now=0.0)
    assert note == m.Notification(
        TOR, 1795722022.3014944, 6, 2, 'Shutdown Communication: "maintenance"'
    )
    down = m.parse_line(FLAP[3], now=0.0)
    assert isinstance(down, m.State)
    assert down.reason == "notification received (6,2)"


def _update(body: dict[str, object]) -> str:
    return json.dumps(
        {
            "exabgp": "5.0.0",
            "type": "update",
            "neighbor": {
                "address": {"local": "10.10.0.100", "peer": "10.10.0.1"},
                "direction": "receive",
                "message": {"update": body},
            },
        }
    )


def test_exabgp_42_list_as_path_and_no_path_id() -> None:
    line = _update(
        {
            "attribute": {"as-path": [65000, 65003]},
            "announce": {"ipv4 unicast": {"10.10.0.13": [{"nlri": "10.244.3.0/26"}]}},
        }
    )
    update = m.parse_line(line, now=5.0)
    assert isinstance(update, m.Update)
    assert update.at == 5.0
    assert update.as_path == (65000, 65003)
    assert update.announced == (
        m.Announce(ip_network("10.244.3.0/26"), 0, ip_address("10.10.0.13")),
    )


def test_as_path_segments_flattened_in_order() -> None:
    line = _update(
        {
            "attribute": {
                "as-path": {
                    "1": {"element": "as-sequence", "value": [65003]},
                    "0": {"element": "as-sequence", "value": [65000, 65100]},
                }
            },
            "announce": {"ipv4 unicast": {"10.10.0.13": [{"nlri": "10.244.3.0/26"}]}},
        }
    )
    update = m.parse_line(line, now=0.0)
    assert isinstance(update, m.Update)
    assert update.as_path == (65000, 65100, 65003)


def test_other_families_are_ignored() -> None:
    line = _update(
        {"announce": {"l2vpn evpn": {"10.10.0.13": [{"nlri": "x"}]}}, "withdraw": {"ipv4 flow": []}}
    )
    update = m.parse_line(line, now=0.0)
    assert isinstance(update, m.Update)
    assert (update.announced, update.withdrawn) == ((), ())


BAD = [
    pytest.param("{not json", id="not-json"),
    pytest.param("[1, 2]", id="not-an-object"),
    pytest.param(
        _update({"announce": {"ipv4 unicast": {"10.10.0.13": [{"nlri": "10.244.3.1/26"}]}}}),
        id="host-bits-set",
    ),
    pytest.param(
        _update({"announce": {"ipv4 unicast": {"not-an-ip": [{"nlri": "10.244.3.0/26"}]}}}),
        id="bad-next-hop",
    ),
    pytest.param(
        '{"type": "state", "neighbor": {"address": {"peer": "10.10.0.1"}}}',
        id="state-without-state",
    ),
]


@pytest.mark.parametrize("line", BAD)
def test_unreadable_lines_raise_message_error(line: str) -> None:
    with pytest.raises(MessageError):
        m.parse_line(line, now=0.0)
