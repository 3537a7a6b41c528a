"""ExaBGP's text API: the commands the speaker writes and the lines it reads back."""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_network

import pytest

from node_agent.bgp import commands
from node_agent.bgp.commands import (
    Ack,
    NotificationEvent,
    OtherEvent,
    Shutdown,
    StateEvent,
    TextLine,
    UpdateEvent,
    parse_line,
)

TOR = ip_address("10.10.0.1")
NH4 = ip_address("10.10.0.11")
NH6 = ip_address("fd00:10::11")
P1 = ip_network("10.244.1.0/26")
P2 = ip_network("10.244.1.64/26")
P6 = ip_network("fd00:244:1::/64")


def test_one_prefix_is_an_announce_route_with_an_explicit_next_hop() -> None:
    assert (
        commands.announce(TOR, [P1], next_hop=NH4)
        == "neighbor 10.10.0.1 announce route 10.244.1.0/26 next-hop 10.10.0.11"
    )


def test_many_prefixes_share_one_announce_attributes_line() -> None:
    assert commands.announce(TOR, [P1, P2], next_hop=NH4) == (
        "neighbor 10.10.0.1 announce attributes next-hop 10.10.0.11 "
        "nlri 10.244.1.0/26 10.244.1.64/26"
    )


def test_ipv6_prefix_over_an_ipv4_session_names_its_ipv6_next_hop() -> None:
    assert (
        commands.announce(TOR, [P6], next_hop=NH6)
        == "neighbor 10.10.0.1 announce route fd00:244:1::/64 next-hop fd00:10::11"
    )


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        pytest.param([P1], "neighbor 10.10.0.1 withdraw route 10.244.1.0/26", id="one"),
        pytest.param(
            [P1, P2],
            "neighbor 10.10.0.1 withdraw attributes nlri 10.244.1.0/26 10.244.1.64/26",
            id="many",
        ),
    ],
)
def test_withdraw(prefixes: list[commands.Prefix], expected: str) -> None:
    assert commands.withdraw(TOR, prefixes) == expected


def test_a_command_never_mixes_families_or_goes_empty() -> None:
    with pytest.raises(ValueError, match="family"):
        commands.announce(TOR, [P1, P6], next_hop=NH4)
    with pytest.raises(ValueError, match="no prefix"):
        commands.withdraw(TOR, [])


def test_end_of_rib_names_the_family_and_refuses_unknown_ones() -> None:
    assert (
        commands.end_of_rib(TOR, "ipv6 unicast") == "neighbor 10.10.0.1 announce eor ipv6 unicast"
    )
    with pytest.raises(ValueError, match="family"):
        commands.end_of_rib(TOR, "l2vpn evpn")


def test_chunks_split_by_family_then_size_in_address_order() -> None:
    blocks = [ip_network(f"10.244.{i}.0/26") for i in (3, 1, 2)] + [P6]
    assert list(commands.chunks(blocks, 2)) == [
        [ip_network("10.244.1.0/26"), ip_network("10.244.2.0/26")],
        [ip_network("10.244.3.0/26")],
        [P6],
    ]
    assert list(commands.chunks([], 5)) == []


def _msg(kind: str, neighbor: dict[str, object]) -> str:
    base = {"address": {"local": "10.10.0.11", "peer": "10.10.0.1"}, "asn": {"local": 65001}}
    return json.dumps({"exabgp": "5.0.0", "type": kind, "neighbor": base | neighbor})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("done\n", Ack(ok=True), id="done"),
        pytest.param("error\n", Ack(ok=False), id="error"),
        pytest.param("shutdown\n", Shutdown(), id="shutdown"),
        pytest.param(
            _msg("state", {"state": "up"}), StateEvent(peer="10.10.0.1", state="up"), id="up"
        ),
        pytest.param(
            _msg("state", {"state": "down", "reason": "notification sent (4,0)"}),
            StateEvent(peer="10.10.0.1", state="down", reason="notification sent (4,0)"),
            id="down-with-reason",
        ),
        pytest.param(
            _msg(
                "notification",
                {"notification": {"code": 6, "subcode": 2, "data": "0x6D61696E74656E616E6365"}},
            ),
            NotificationEvent(peer="10.10.0.1", code=6, subcode=2, text="maintenance"),
            id="shutdown-communication",
        ),
        pytest.param(
            _msg("update", {"message": {"eor": {"afi": "ipv4", "safi": "unicast"}}}),
            UpdateEvent(peer="10.10.0.1", eor="ipv4 unicast"),
            id="eor",
        ),
        pytest.param(
            _msg(
                "update",
                {
                    "message": {
                        "update": {
                            "announce": {"ipv4 unicast": {"10.10.0.1": [{"nlri": "10.0.0.0/8"}]}},
                            "withdraw": {"ipv4 unicast": [{"nlri": "10.1.0.0/16"}]},
                        }
                    }
                },
            ),
            UpdateEvent(peer="10.10.0.1", announced=("10.0.0.0/8",), withdrawn=("10.1.0.0/16",)),
            id="update",
        ),
        pytest.param(_msg("refresh", {}), OtherEvent(kind="refresh", peer="10.10.0.1"), id="other"),
        pytest.param("Peer  AS  up/down\n", TextLine("Peer  AS  up/down"), id="show-output"),
        pytest.param("{not json\n", TextLine("{not json"), id="broken-json"),
        pytest.param("[1, 2]\n", TextLine("[1, 2]"), id="json-not-object"),
    ],
)
def test_parse_line_sorts_every_kind_of_line(line: str, expected: commands.Line) -> None:
    assert parse_line(line) == expected


def test_notification_describes_itself_like_exabgp_does() -> None:
    note = NotificationEvent(peer="10.10.0.1", code=6, subcode=1, text="")
    assert note.describe() == "notification received (6,1)"
    assert NotificationEvent("p", 6, 2, "bye").describe() == "notification received (6,2): bye"


def test_garbage_notification_data_gives_no_text() -> None:
    line = _msg("notification", {"notification": {"code": 6, "subcode": 2, "data": "0xZZ"}})
    parsed = parse_line(line)
    assert isinstance(parsed, NotificationEvent)
    assert parsed.text == ""
