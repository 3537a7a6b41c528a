"""Result shaping (section 6, CNI-044/125): pure, no subprocess, no agent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cni.contract import Attachment, IPConfig, Route
from cni.errors import CniError
from cni.results import addresses_for, normalize, shape_add_result

NETNS = "/var/run/netns/cni-1234"
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def attachment(**overrides: Any) -> Attachment:
    values: dict[str, Any] = {
        "host_ifname": "fn1a2b3c4d5e6f7",
        "host_mac": "ee:ee:ee:ee:ee:ee",
        "ifname": "eth0",
        "mac": "0a:58:0a:01:00:05",
        "sandbox": NETNS,
        "mtu": 1400,
        "ips": [
            IPConfig(address="10.1.0.5/32", gateway="169.254.1.1"),
            IPConfig(address="fd00::5/128", gateway="fe80::1"),
        ],
        "routes": [Route(dst="0.0.0.0/0", gw="169.254.1.1"), Route(dst="::/0", gw="fe80::1")],
    }
    values.update(overrides)
    return Attachment(**values)


SHAPES = {
    "0.3.0": (
        {"name", "mac"},
        {"name", "mac", "sandbox"},
        {"address", "gateway", "interface", "version"},
    ),
    "0.3.1": (
        {"name", "mac"},
        {"name", "mac", "sandbox"},
        {"address", "gateway", "interface", "version"},
    ),
    "0.4.0": (
        {"name", "mac"},
        {"name", "mac", "sandbox"},
        {"address", "gateway", "interface", "version"},
    ),
    "1.0.0": ({"name", "mac"}, {"name", "mac", "sandbox"}, {"address", "gateway", "interface"}),
    "1.1.0": (
        {"name", "mac", "mtu"},
        {"name", "mac", "sandbox", "mtu"},
        {"address", "gateway", "interface"},
    ),
}


@pytest.mark.parametrize("cni_version", sorted(SHAPES))
def test_cni_005_060_061_062_result_key_sets_per_version(cni_version: str) -> None:
    result = shape_add_result(attachment(), cni_version=cni_version)
    host_keys, pod_keys, ip_keys = SHAPES[cni_version]
    assert list(result) == ["cniVersion", "interfaces", "ips", "routes"]
    assert result["cniVersion"] == cni_version
    assert [set(i) for i in result["interfaces"]] == [host_keys, pod_keys]
    assert all(set(ip) == ip_keys for ip in result["ips"])
    assert all(set(r) == {"dst", "gw"} for r in result["routes"])


@pytest.mark.parametrize("cni_version", ["0.3.0", "0.3.1", "0.4.0"])
def test_cni_062_ip_version_field_below_1_0(cni_version: str) -> None:
    result = shape_add_result(attachment(), cni_version=cni_version)
    assert [ip["version"] for ip in result["ips"]] == ["4", "6"]


def test_cni_060_mtu_reported_only_at_1_1() -> None:
    result = shape_add_result(attachment(), cni_version="1.1.0")
    assert [i["mtu"] for i in result["interfaces"]] == [1400, 1400]


@pytest.mark.parametrize("cni_version", sorted(SHAPES))
def test_cni_063_ips_index_the_sandbox_interface(cni_version: str) -> None:
    result = shape_add_result(attachment(), cni_version=cni_version)
    for ip in result["ips"]:
        iface = result["interfaces"][ip["interface"]]
        assert (iface["name"], iface["sandbox"]) == ("eth0", NETNS)


@pytest.mark.parametrize("netns", ["/var/run/netns/cni-1", "/run/netns/netns-2", "/proc/42/ns/net"])
def test_cni_064_sandbox_verbatim_host_veth_without_sandbox(netns: str) -> None:
    result = shape_add_result(attachment(sandbox=netns), cni_version="1.0.0")
    host, pod = result["interfaces"]
    assert "sandbox" not in host
    assert pod["sandbox"] == netns


def test_cni_065_every_sandbox_interface_has_a_mac() -> None:
    result = shape_add_result(attachment(), cni_version="1.0.0")
    assert all(MAC.match(i["mac"]) for i in result["interfaces"] if "sandbox" in i)


def test_cni_066_default_route_and_link_local_gateway() -> None:
    result = shape_add_result(attachment(), cni_version="1.0.0")
    assert {"dst": "0.0.0.0/0", "gw": "169.254.1.1"} in result["routes"]
    assert result["ips"][0] == {"address": "10.1.0.5/32", "gateway": "169.254.1.1", "interface": 1}


def test_cni_066_route_without_gateway_has_no_gw_key() -> None:
    result = shape_add_result(attachment(routes=[Route(dst="10.0.0.0/8")]), cni_version="1.1.0")
    assert result["routes"] == [{"dst": "10.0.0.0/8"}]


def test_cni_067_empty_lists_and_dns_are_omitted() -> None:
    result = shape_add_result(attachment(routes=[]), cni_version="1.0.0", dns={})
    assert "routes" not in result
    assert "dns" not in result
    assert None not in result.values()


def test_cni_024_config_dns_is_copied_into_the_result() -> None:
    dns = {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}
    result = shape_add_result(attachment(), cni_version="1.0.0", dns=dns)
    assert result["dns"] == dns


PREV = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "lo", "sandbox": NETNS}, {"name": "dummy0"}],
    "ips": [{"address": "192.0.2.9/24", "interface": 0}],
    "routes": [{"dst": "192.0.2.0/24"}],
    "dns": {"nameservers": ["192.0.2.53"]},
}


def test_cni_044_prev_result_is_merged_and_indices_fixed() -> None:
    result = shape_add_result(attachment(), cni_version="1.0.0", prev_result=PREV)
    assert [i["name"] for i in result["interfaces"]] == ["lo", "dummy0", "fn1a2b3c4d5e6f7", "eth0"]
    assert [ip["interface"] for ip in result["ips"]] == [0, 3, 3]
    assert result["routes"][0] == {"dst": "192.0.2.0/24"}
    assert result["dns"] == {"nameservers": ["192.0.2.53"]}


def test_cni_044_config_dns_overrides_prev_dns() -> None:
    dns = {"nameservers": ["10.96.0.10"]}
    result = shape_add_result(attachment(), cni_version="1.0.0", prev_result=PREV, dns=dns)
    assert result["dns"] == dns


def test_cni_125_prev_result_is_reshaped_to_the_request_version() -> None:
    prev = {
        "interfaces": [{"name": "x", "mtu": 9000, "pciID": "0000:00:01.0"}],
        "ips": [{"address": "fd00::9/64", "version": "6"}],
        "routes": [{"dst": "::/0", "table": 100, "scope": 0}],
    }
    old = shape_add_result(attachment(), cni_version="0.4.0", prev_result=prev)
    assert old["interfaces"][0] == {"name": "x"}
    assert old["ips"][0] == {"address": "fd00::9/64", "version": "6"}
    assert old["routes"][0] == {"dst": "::/0"}
    new = shape_add_result(attachment(), cni_version="1.1.0", prev_result=prev)
    assert new["interfaces"][0] == {"name": "x", "mtu": 9000, "pciID": "0000:00:01.0"}
    assert new["ips"][0] == {"address": "fd00::9/64"}
    assert new["routes"][0] == {"dst": "::/0", "table": 100, "scope": 0}


@pytest.mark.parametrize(
    "prev",
    [
        pytest.param({"dns": {}}, id="empty-dns"),
        pytest.param({"interfaces": None, "ips": None, "routes": None}, id="nulls"),
        pytest.param({"interfaces": [{"name": "eth9"}]}, id="iface-without-mac"),
        pytest.param({"ips": [{"address": "10.9.9.9/32"}]}, id="ip-without-interface"),
        pytest.param({}, id="no-cniVersion"),
    ],
)
def test_cni_025_lenient_prev_result(prev: dict[str, Any]) -> None:
    result = shape_add_result(attachment(), cni_version="1.0.0", prev_result=prev)
    assert result["interfaces"][-1]["name"] == "eth0"
    assert "dns" not in result


def test_cni_025_prev_result_with_wrong_types_is_code_7() -> None:
    with pytest.raises(CniError) as caught:
        normalize({"interfaces": "eth0"}, cni_version="1.0.0")
    assert caught.value.code == 7


def test_cni_070_addresses_for_check() -> None:
    prev = shape_add_result(attachment(), cni_version="1.0.0", prev_result=PREV)
    assert addresses_for(prev, ifname="eth0", netns=NETNS) == ["10.1.0.5/32", "fd00::5/128"]
    assert addresses_for(prev, ifname="eth0", netns="/other") == []
    loose = {"ips": [{"address": "10.1.0.5/32"}]}
    assert addresses_for(loose, ifname="eth0", netns=NETNS) == ["10.1.0.5/32"]
