"""The hand-encoded rtnetlink messages, read back by an independent decoder (pyroute2's),
and the parsing of what the kernel answers. No kernel here: ``test_netlink.py`` wires
real pods with these messages."""

from __future__ import annotations

import socket
import struct
from ipaddress import ip_address
from typing import Any

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from node_agent.netlink import rtnl

HOST_MAC, POD_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def decoded(cls: Any, request: rtnl.Request, *, seq: int = 7) -> Any:
    msg = cls(rtnl.encode([request], first_seq=seq))
    msg.decode()
    assert msg["header"]["type"] == request.kind
    assert msg["header"]["sequence_number"] == seq
    assert msg["header"]["flags"] == request.flags
    return msg


def test_a_veth_is_created_with_its_peer_in_the_pod_netns_and_echoed() -> None:
    request = rtnl.new_veth(
        ifname="fn0123456789abc", mac=HOST_MAC, peer_ifname="eth0", peer_mac=POD_MAC,
        peer_netns_fd=9, mtu=1450,
    )  # fmt: skip
    msg = decoded(ifinfmsg, request)
    assert request.flags & rtnl.NLM_F_ECHO
    assert request.flags & rtnl.NLM_F_EXCL
    assert (msg["flags"], msg["change"]) == (rtnl.IFF_UP, rtnl.IFF_UP)
    assert msg.get_attr("IFLA_IFNAME") == "fn0123456789abc"
    assert msg.get_attr("IFLA_ADDRESS") == "02:00:00:00:00:01"
    assert msg.get_attr("IFLA_MTU") == 1450
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["flags"] == 0, "the peer cannot come up before the pair is linked"
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_ADDRESS") == "02:00:00:00:00:02"
    assert peer.get_attr("IFLA_MTU") == 1450
    assert peer.get_attr("IFLA_NET_NS_FD") == 9


@pytest.mark.parametrize(
    ("address", "prefixlen", "nodad", "local"),
    [
        pytest.param("10.244.0.5", 32, False, "10.244.0.5", id="ipv4"),
        pytest.param("fd00:244::5", 128, True, None, id="ipv6-nodad"),
    ],
)
def test_an_address_is_added_alone(
    address: str, prefixlen: int, nodad: bool, local: str | None
) -> None:
    request = rtnl.new_address(
        index=3, ifname="eth0", address=ip_address(address), prefixlen=prefixlen, nodad=nodad
    )
    msg = decoded(ifaddrmsg, request)
    assert (msg["index"], msg["prefixlen"]) == (3, prefixlen)
    assert msg["flags"] == (rtnl.IFA_F_NODAD if nodad else 0)
    assert msg.get_attr("IFA_ADDRESS") == address
    assert msg.get_attr("IFA_LOCAL") == local
    assert request.what == f"add {address} to eth0"


def test_the_gateway_neighbour_is_permanent() -> None:
    request = rtnl.permanent_neighbour(
        index=3, ifname="eth0", address=ip_address("169.254.1.1"), mac=HOST_MAC
    )
    msg = decoded(ndmsg, request)
    assert (msg["family"], msg["ifindex"], msg["state"]) == (socket.AF_INET, 3, 0x80)
    assert msg.get_attr("NDA_DST") == "169.254.1.1"
    assert msg.get_attr("NDA_LLADDR") == "02:00:00:00:00:01"
    assert request.flags & rtnl.NLM_F_REPLACE


@pytest.mark.parametrize(
    ("dst", "gateway", "family", "dst_len", "scope"),
    [
        pytest.param("10.244.0.5", None, socket.AF_INET, 32, rtnl.RT_SCOPE_LINK, id="v4-host"),
        pytest.param(None, "169.254.1.1", socket.AF_INET, 0, 0, id="v4-default"),
        pytest.param("fd00:244::5", None, socket.AF_INET6, 128, 0, id="v6-host"),
        pytest.param(None, "fe80::1", socket.AF_INET6, 0, 0, id="v6-default"),
    ],
)
def test_routes_carry_our_protocol_in_the_main_table(
    dst: str | None, gateway: str | None, family: int, dst_len: int, scope: int
) -> None:
    request = rtnl.new_route(
        flags=rtnl.CREATE,
        dst=None if dst is None else ip_address(dst),
        gateway=None if gateway is None else ip_address(gateway),
        oif=4, protocol=241, priority=None if dst else 4,
    )  # fmt: skip
    msg = decoded(rtmsg, request)
    assert (msg["family"], msg["dst_len"], msg["table"]) == (family, dst_len, 254)
    assert (msg["proto"], msg["scope"], msg["type"]) == (241, scope, 1)
    assert msg.get_attr("RTA_DST") == dst
    assert msg.get_attr("RTA_GATEWAY") == gateway
    assert msg.get_attr("RTA_OIF") == 4
    assert msg.get_attr("RTA_PRIORITY") == (None if dst else 4)


def test_a_batch_numbers_its_messages_and_the_answers_are_matched_by_number() -> None:
    batch = [rtnl.set_up("lo"), rtnl.set_alias(5, "net/c1/eth0"), rtnl.delete_link(5)]
    data = rtnl.encode(batch, first_seq=100)
    offsets, seqs = 0, []
    while offsets < len(data):
        length, _, _, seq, _ = struct.unpack_from("=IHHII", data, offsets)
        seqs.append(seq)
        offsets += length
    assert seqs == [100, 101, 102]
    echo = ifinfmsg()
    echo["index"] = 5
    echo["attrs"] = [("IFLA_IFNAME", "fn0"), ("IFLA_LINK", 2)]
    echo["header"]["type"], echo["header"]["sequence_number"] = rtnl.RTM_NEWLINK, 101
    echo.encode()
    ack = struct.pack("=IHHIIi", 36, rtnl.NLMSG_ERROR, 0, 100, 0, 0) + bytes(16)
    refused = struct.pack("=IHHIIi", 36, rtnl.NLMSG_ERROR, 0, 102, 0, -19) + bytes(16)
    answers = list(rtnl.parse(ack + bytes(echo.data) + refused))
    assert [(kind, seq, code) for kind, seq, code, _ in answers] == [
        (rtnl.NLMSG_ERROR, 100, 0),
        (rtnl.RTM_NEWLINK, 101, None),
        (rtnl.NLMSG_ERROR, 102, 19),
    ]
    assert rtnl.link_of(answers[1][3]) == (5, 2)
