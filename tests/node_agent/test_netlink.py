"""The netlink adapter against the real kernel, in throwaway namespaces.

Every test builds the adapter with ``host_netns`` set to a test-made "node"
namespace; nothing is added to the namespace the test runner lives in.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest

from node_agent.errors import (
    LinkConflict,
    LinkNotFound,
    NamespaceNotFound,
    NetlinkError,
    PodCheckError,
)
from node_agent.netlink import DEFAULT_ROUTE_PROTOCOL, Netlink
from node_agent.podnet import IPAddress, PodWiring
from tests.need import need_binary
from tests.node_agent.conftest import NODE_V4, NODE_V6, Netns, icmp_echo

pytestmark = pytest.mark.privileged

PROTO = str(DEFAULT_ROUTE_PROTOCOL)


@pytest.fixture
def nl(node: Netns) -> Iterator[Netlink]:
    with Netlink(host_netns=node.path) as adapter:
        adapter.enable_forwarding()
        yield adapter


def wire(
    nl: Netlink, pod: Netns, *addrs: str, key: str = "", ifname: str = "eth0", mtu: int = 1400
) -> PodWiring:
    return nl.wire_pod(
        netns=pod.path,
        ifname=ifname,
        host_ifname=nl.host_ifname(key or pod.name, ifname),
        addresses=[ip_address(a) for a in addrs],
        mtu=mtu,
    )


def our_links(node: Netns) -> set[str]:
    return {name for name in node.link_names() if name.startswith("fn")}


def our_routes(node: Netns) -> str:
    return node.ip("route", "show", "proto", PROTO) + node.ip("-6", "route", "show", "proto", PROTO)


def test_two_dual_stack_pods_reach_each_other_and_the_node(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    a, b = make_netns(), make_netns()
    wire(nl, a, "10.244.0.2", "fd00:244::2")
    wire(nl, b, "10.244.0.3", "fd00:244::3")

    assert icmp_echo(a.path, "10.244.0.3")
    assert icmp_echo(a.path, "fd00:244::3")
    assert icmp_echo(b.path, "10.244.0.2")
    assert icmp_echo(b.path, "fd00:244::2")
    assert icmp_echo(a.path, str(NODE_V4))
    assert icmp_echo(a.path, str(NODE_V6))
    assert icmp_echo(node.path, "10.244.0.3")
    assert icmp_echo(node.path, "fd00:244::3")


def test_pod_gets_single_addresses_and_link_local_default_routes(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    wired = wire(nl, pod, "10.244.0.2", "fd00:244::2")

    assert "inet 10.244.0.2/32" in pod.ip("addr", "show", "eth0")
    assert "inet6 fd00:244::2/128" in pod.ip("addr", "show", "eth0")
    assert "default via 169.254.1.1 dev eth0" in pod.ip("route")
    assert "169.254.1.1 dev eth0 proto 241 scope link" in pod.ip("route")
    assert "default via fe80::1 dev eth0" in pod.ip("-6", "route")
    assert f"lladdr {wired.host_mac} PERMANENT" in pod.ip("neigh", "show", "169.254.1.1")
    assert f"10.244.0.2 dev {wired.host_ifname} proto 241 scope link" in node.ip("route")
    assert f"fd00:244::2 dev {wired.host_ifname} proto 241" in node.ip("-6", "route")
    assert wired.mac in pod.ip("link", "show", "eth0")
    assert ",UP," in pod.ip("link", "show", "lo")


def test_mtu_is_set_on_both_ends(nl: Netlink, node: Netns, make_netns: Callable[[], Netns]) -> None:
    pod = make_netns()
    wired = wire(nl, pod, "10.244.0.2", mtu=1360)

    assert " mtu 1360 " in pod.ip("link", "show", "eth0")
    assert " mtu 1360 " in node.ip("link", "show", wired.host_ifname)


def test_ipv4_only_pod_gets_no_ipv6_gateway(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    wired = wire(nl, pod, "10.244.0.2")

    assert "fe80::1" not in node.ip("-6", "addr", "show", wired.host_ifname)
    assert "default" not in pod.ip("-6", "route")
    assert icmp_echo(pod.path, str(NODE_V4))


def test_unwire_twice_succeeds_and_leaves_nothing(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    wired = wire(nl, pod, "10.244.0.2", "fd00:244::2")

    assert nl.unwire_pod(wired.host_ifname) is True
    assert nl.unwire_pod(wired.host_ifname) is False
    assert our_links(node) == set()
    assert our_routes(node) == ""
    assert "eth0" not in pod.link_names()


def test_unwire_succeeds_after_the_pod_netns_is_deleted(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    wired = wire(nl, pod, "10.244.0.2")
    subprocess.run(["ip", "netns", "del", pod.name], check=True, timeout=10)

    nl.unwire_pod(wired.host_ifname)

    assert our_links(node) == set()
    assert our_routes(node) == ""


def test_unwire_needs_no_netns_and_tolerates_unknown_names(nl: Netlink) -> None:
    assert nl.unwire_pod(nl.host_ifname("never-wired", "eth0")) is False


def test_rewire_of_the_same_key_replaces_the_stale_veth(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    first = wire(nl, pod, "10.244.0.2", key="c1")
    second = wire(nl, pod, "10.244.0.2", key="c1")

    assert second.host_ifname == first.host_ifname
    assert our_links(node) == {first.host_ifname}
    assert icmp_echo(pod.path, str(NODE_V4))


def test_existing_ifname_in_pod_is_a_conflict_and_nothing_is_left(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    pod.ip("link", "add", "eth0", "type", "veth", "peer", "name", "other0")

    with pytest.raises(LinkConflict, match="eth0"):
        wire(nl, pod, "10.244.0.2")

    assert our_links(node) == set()
    assert our_routes(node) == ""
    assert {"eth0", "other0"} <= pod.link_names()


def test_failure_midway_rolls_back_veth_and_routes(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    # IPv6 disabled for new links in the pod makes the wiring fail after the
    # veth exists and the pod end has its IPv4 address and routes.
    subprocess.run(
        ["ip", "netns", "exec", pod.name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        check=True,
        timeout=10,
    )

    with pytest.raises(NetlinkError, match=re.escape("add fd00:244::2 to eth0")):
        wire(nl, pod, "10.244.0.2", "fd00:244::2")

    assert our_links(node) == set()
    assert our_routes(node) == ""
    assert "eth0" not in pod.link_names()


def test_missing_netns_raises_namespace_not_found(nl: Netlink, node: Netns) -> None:
    missing = f"/run/netns/fntest-{os.getpid()}-absent"

    with pytest.raises(NamespaceNotFound):
        nl.wire_pod(
            netns=missing,
            ifname="eth0",
            host_ifname=nl.host_ifname("x", "eth0"),
            addresses=[IPv4Address("10.244.0.2")],
            mtu=1400,
        )
    assert our_links(node) == set()


def test_the_node_netns_itself_is_refused_as_a_pod_netns(nl: Netlink, node: Netns) -> None:
    with pytest.raises(NetlinkError, match="node's own network namespace"):
        nl.wire_pod(
            netns=node.path,
            ifname="eth0",
            host_ifname=nl.host_ifname("hostnet", "eth0"),
            addresses=[IPv4Address("10.244.0.2")],
            mtu=1400,
        )
    assert our_links(node) == set()
    assert "eth0" not in node.link_names()


def test_proc_pid_netns_path_is_accepted(nl: Netlink, node: Netns) -> None:
    need_binary("unshare")
    proc = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    try:
        path = f"/proc/{proc.pid}/ns/net"
        _await_own_netns(path)
        wired = nl.wire_pod(
            netns=path,
            ifname="eth0",
            host_ifname=nl.host_ifname("proc", "eth0"),
            addresses=[IPv4Address("10.244.0.9")],
            mtu=1400,
        )
        assert icmp_echo(path, str(NODE_V4))
        nl.check_pod(
            netns=path, ifname="eth0", host_ifname=wired.host_ifname, addresses=wired.addresses
        )
    finally:
        proc.kill()
        proc.wait(timeout=10)
    nl.unwire_pod(wired.host_ifname)
    assert our_links(node) == set()


def _await_own_netns(path: str) -> None:
    """Wait until ``unshare`` has left our netns, so the test never wires the host."""
    ours = os.stat("/proc/self/ns/net").st_ino
    for _ in range(200):
        try:
            if os.stat(path).st_ino != ours:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"{path} never left the test's netns")


def test_list_pod_links_finds_pods_and_their_routes(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    a, b = make_netns(), make_netns()
    wa = wire(nl, a, "10.244.0.2", "fd00:244::2")
    wb = wire(nl, b, "10.244.0.3")
    node.ip("link", "add", "notours0", "type", "veth", "peer", "name", "notours1")

    links = {link.host_ifname: link for link in nl.list_pod_links()}

    assert set(links) == {wa.host_ifname, wb.host_ifname}
    assert links[wa.host_ifname].addresses == (ip_address("10.244.0.2"), ip_address("fd00:244::2"))
    assert links[wb.host_ifname].addresses == (ip_address("10.244.0.3"),)
    assert links[wa.host_ifname].mac == wa.host_mac
    assert links[wa.host_ifname].ifindex == wa.host_ifindex
    assert links[wa.host_ifname].peer_ifindex == wa.ifindex
    assert links[wa.host_ifname].peer_netnsid is not None
    assert links[wa.host_ifname].up


def test_check_pod_fails_without_host_route_and_passes_after_repair(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pod = make_netns()
    w = wire(nl, pod, "10.244.0.2", "fd00:244::2")
    check = {"netns": pod.path, "ifname": "eth0", "host_ifname": w.host_ifname}
    nl.check_pod(**check, addresses=w.addresses, mac=w.mac)

    node.ip("route", "del", "10.244.0.2/32", "dev", w.host_ifname)
    with pytest.raises(PodCheckError, match=re.escape("host route 10.244.0.2/32")):
        nl.check_pod(**check, addresses=w.addresses)

    nl.ensure_host_route(host_ifname=w.host_ifname, address=IPv4Address("10.244.0.2"))
    nl.ensure_host_route(host_ifname=w.host_ifname, address=IPv4Address("10.244.0.2"))
    nl.check_pod(**check, addresses=w.addresses)


def test_check_pod_reports_every_fault(nl: Netlink, make_netns: Callable[[], Netns]) -> None:
    pod = make_netns()
    w = wire(nl, pod, "10.244.0.2")
    addresses: list[IPAddress] = [IPv4Address("10.244.0.2"), IPv6Address("fd00:244::2")]

    with pytest.raises(PodCheckError) as caught:
        nl.check_pod(
            netns=pod.path, ifname="eth0", host_ifname=w.host_ifname, addresses=addresses,
            mac="02:00:00:00:00:01",
        )  # fmt: skip
    message = str(caught.value)
    assert "MAC" in message
    assert "fd00:244::2/128 missing" in message
    assert "default route via fe80::1" in message

    with pytest.raises(PodCheckError, match="eth1 not found"):
        nl.check_pod(netns=pod.path, ifname="eth1", host_ifname=w.host_ifname, addresses=addresses)


def test_ensure_host_route_without_veth_is_link_not_found(nl: Netlink) -> None:
    with pytest.raises(LinkNotFound):
        nl.ensure_host_route(host_ifname="fn0000000000000", address=IPv4Address("10.244.0.2"))


def test_blackholes_are_idempotent_and_only_ours_are_listed(nl: Netlink, node: Netns) -> None:
    v4, v6 = ip_network("10.244.1.0/26"), ip_network("fd00:244:1::/112")
    node.ip("route", "add", "blackhole", "10.99.0.0/24", "proto", "static")

    nl.ensure_blackhole(v6)
    nl.ensure_blackhole(v4)
    nl.ensure_blackhole(v4)
    assert nl.list_blackholes() == [v4, v6]
    assert "blackhole 10.244.1.0/26 proto 241" in node.ip("route")

    nl.remove_blackhole(v4)
    nl.remove_blackhole(v4)
    assert nl.list_blackholes() == [v6]
    assert "10.99.0.0/24" in node.ip("route")


def test_sync_blackholes_adds_missing_and_deletes_extra(nl: Netlink) -> None:
    keep, drop, add = (ip_network(n) for n in ("10.1.0.0/26", "10.2.0.0/26", "fd00:3::/112"))
    nl.ensure_blackhole(keep)
    nl.ensure_blackhole(drop)

    diff = nl.sync_blackholes([keep, add])

    assert (diff.missing, diff.extra) == ((add,), (drop,))
    assert nl.list_blackholes() == [keep, add]
    assert nl.sync_blackholes([keep, add]).empty


def test_blackhole_does_not_hide_pod_routes(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    nl.ensure_blackhole(ip_network("10.244.0.0/24"))
    a, b = make_netns(), make_netns()
    wire(nl, a, "10.244.0.2")
    wire(nl, b, "10.244.0.3")

    assert icmp_echo(a.path, "10.244.0.3")
    assert not icmp_echo(a.path, "10.244.0.77", attempts=1, timeout=0.3)


def test_concurrent_wiring_and_unwiring_keeps_every_pod_consistent(
    nl: Netlink, node: Netns, make_netns: Callable[[], Netns]
) -> None:
    pods = [make_netns() for _ in range(24)]
    jobs = [(pod, f"10.244.2.{i + 2}", f"fd00:244:2::{i + 2:x}") for i, pod in enumerate(pods)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        wired = list(pool.map(lambda job: wire(nl, job[0], job[1], job[2]), jobs))

    links = {link.host_ifname: link for link in nl.list_pod_links()}
    assert set(links) == {w.host_ifname for w in wired}
    for w in wired:
        assert links[w.host_ifname].addresses == w.addresses
    assert icmp_echo(pods[0].path, "10.244.2.25")
    assert icmp_echo(pods[-1].path, "fd00:244:2::2")

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(lambda w: nl.unwire_pod(w.host_ifname), wired))
    assert our_links(node) == set()
    assert our_routes(node) == ""
