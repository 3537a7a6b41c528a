"""The pure wiring model: names, diffs, CHECK findings and errno translation."""

from __future__ import annotations

import errno
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import pytest

from node_agent.errors import (
    InterfaceNameError,
    LinkConflict,
    LinkNotFound,
    NamespaceNotFound,
    NetlinkError,
    RouteNotFound,
)
from node_agent.podnet import (
    Gateways,
    PodExpected,
    PodObserved,
    check_findings,
    diff_networks,
    host_ifname,
    host_network,
    is_host_ifname,
    kernel_error,
    sorted_addresses,
    sorted_networks,
    validate_ifname,
)


def test_host_ifname_is_deterministic_prefixed_and_fits_ifnamsiz() -> None:
    name = host_ifname("0123abcd", "eth0")

    assert name == host_ifname("0123abcd", "eth0")
    assert name.startswith("fn")
    assert len(name.encode()) == 15
    assert is_host_ifname(name)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("c1", "eth0"), ("c2", "eth0"), id="other-container"),
        pytest.param(("c1", "eth0"), ("c1", "net1"), id="other-ifname"),
        pytest.param(("c1e", "th0"), ("c1", "eth0"), id="no-concatenation-collision"),
    ],
)
def test_host_ifname_differs_per_attachment(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert host_ifname(*a) != host_ifname(*b)


def test_host_ifname_honours_a_custom_prefix() -> None:
    name = host_ifname("c1", "eth0", prefix="flt")

    assert name.startswith("flt")
    assert len(name) == 15
    assert is_host_ifname(name, prefix="flt")
    assert not is_host_ifname(name)


@pytest.mark.parametrize(
    "prefix", [pytest.param("", id="empty"), pytest.param("toolong", id="long")]
)
def test_host_ifname_rejects_bad_prefixes(prefix: str) -> None:
    with pytest.raises(InterfaceNameError):
        host_ifname("c1", "eth0", prefix=prefix)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("eth0", id="eth0"),
        pytest.param("fnzzzzzzzzzzzzz", id="not-hex"),
        pytest.param("fn0123456789ab", id="too-short"),
        pytest.param("cali0123456789a", id="other-prefix"),
    ],
)
def test_is_host_ifname_rejects_foreign_names(name: str) -> None:
    assert not is_host_ifname(name)


@pytest.mark.parametrize(
    "ifname",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 16, id="16-bytes"),
        pytest.param("ethé" * 4, id="multibyte-too-long"),
        pytest.param("eth/0", id="slash"),
        pytest.param("eth 0", id="space"),
        pytest.param("eth:0", id="colon"),
        pytest.param("..", id="dotdot"),
    ],
)
def test_validate_ifname_rejects_what_the_kernel_refuses(ifname: str) -> None:
    with pytest.raises(InterfaceNameError):
        validate_ifname(ifname)


def test_validate_ifname_accepts_fifteen_bytes() -> None:
    assert validate_ifname("a" * 15) == "a" * 15


def test_host_network_is_a_single_address_prefix() -> None:
    assert host_network(IPv4Address("10.0.0.5")) == ip_network("10.0.0.5/32")
    assert host_network(IPv6Address("fd00::5")) == ip_network("fd00::5/128")


def test_sorted_addresses_dedups_and_puts_ipv4_first() -> None:
    addrs = [ip_address(a) for a in ("fd00::1", "10.0.0.9", "10.0.0.10", "10.0.0.9")]

    assert sorted_addresses(addrs) == tuple(
        ip_address(a) for a in ("10.0.0.9", "10.0.0.10", "fd00::1")
    )


def test_gateways_must_be_link_local() -> None:
    assert Gateways().for_address(IPv6Address("fd00::1")) == IPv6Address("fe80::1")
    with pytest.raises(ValueError, match="link-local"):
        Gateways(v4=IPv4Address("10.0.0.1"))


def test_diff_networks_reports_missing_and_extra_in_order() -> None:
    a, b, c = (ip_network(n) for n in ("10.0.0.0/26", "10.0.1.0/26", "fd00::/112"))

    diff = diff_networks([c, a], [b, a])

    assert (diff.missing, diff.extra) == ((c,), (b,))
    assert not diff.empty
    assert diff_networks([a], [a]).empty
    assert sorted_networks([c, b, a, b]) == [a, b, c]


@pytest.mark.parametrize(
    ("subject", "code", "expected"),
    [
        pytest.param("netns", errno.ENOENT, NamespaceNotFound, id="netns-enoent"),
        pytest.param("netns", errno.EINVAL, NamespaceNotFound, id="netns-not-nsfs"),
        pytest.param("link", errno.ENODEV, LinkNotFound, id="link-enodev"),
        pytest.param("link", errno.EEXIST, LinkConflict, id="link-eexist"),
        pytest.param("route", errno.ESRCH, RouteNotFound, id="route-esrch"),
        pytest.param("route", errno.EEXIST, NetlinkError, id="route-eexist-is-generic"),
        pytest.param("link", errno.EPERM, NetlinkError, id="unknown-errno"),
    ],
)
def test_kernel_error_maps_errno_per_subject(
    subject: str, code: int, expected: type[NetlinkError]
) -> None:
    error = kernel_error(subject, code, "doing things")

    assert type(error) is expected
    assert error.errno == code
    assert str(error).startswith("doing things: ")


V4, V6 = IPv4Address("10.244.0.2"), IPv6Address("fd00::2")
EXPECTED = PodExpected(
    ifname="eth0", host_ifname="fnabc", addresses=(V4, V6), mac="02:00:00:00:00:01"
)
HEALTHY = PodObserved(
    kind="veth",
    mac="02:00:00:00:00:01",
    up=True,
    addresses=frozenset({(V4, 32), (V6, 128), (IPv6Address("fe80::9"), 64)}),
    default_gateways=frozenset({IPv4Address("169.254.1.1"), IPv6Address("fe80::1")}),
    host_up=True,
    host_routes=frozenset({V4, V6}),
)


def test_check_findings_accepts_a_healthy_pod_with_extras() -> None:
    assert check_findings(EXPECTED, HEALTHY) == []


@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        pytest.param({"kind": None}, "eth0 not found", id="no-interface"),
        pytest.param({"kind": "dummy"}, "is a dummy, not a veth", id="not-veth"),
        pytest.param({"mac": "02:00:00:00:00:02"}, "has MAC 02:00:00:00:00:02", id="mac"),
        pytest.param({"up": False}, "eth0 is down", id="down"),
        pytest.param(
            {"addresses": frozenset({(V4, 24), (V6, 128)})}, "10.244.0.2/32 missing", id="prefixlen"
        ),
        pytest.param(
            {"default_gateways": frozenset()}, "default route via 169.254.1.1", id="no-default"
        ),
        pytest.param({"host_up": None}, "host veth fnabc not found", id="no-host-veth"),
        pytest.param({"host_up": False}, "host veth fnabc is down", id="host-down"),
        pytest.param(
            {"host_routes": frozenset({V4})}, "host route fd00::2/128", id="no-host-route"
        ),
    ],
)
def test_check_findings_names_each_fault(changes: dict[str, Any], finding: str) -> None:
    observed = replace(HEALTHY, **changes)

    assert any(finding in line for line in check_findings(EXPECTED, observed))
