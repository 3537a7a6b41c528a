"""The pure ToR config renderers: what each config says, and that it parses in the daemons."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from fabric_controller.torconfig import (
    NodeSide,
    Policy,
    TorConfigSpec,
    TorSide,
    etag,
    ident,
    render,
)
from fabric_controller.torconfig import bird as bird_renderer
from tests.need import need_binary

POLICY = Policy(
    hold_time=9,
    keepalive_time=3,
    graceful_restart_time=120,
    max_prefixes=64,
    max_prefix_restart_minutes=1,
)
TOR = TorSide(
    "tor1", 65000, ip_address("10.10.0.1"), ip_address("10.10.0.1"), ip_address("fd00:10::1")
)  # type: ignore[arg-type]


def node(name: str, address: str, asn: int, *blocks: str) -> NodeSide:
    return NodeSide(name, ip_address(address), asn, tuple(ip_network(b) for b in blocks))


NODES = (
    node("n1", "10.10.0.11", 4_200_000_001, "10.244.0.64/26", "10.244.0.0/26", "fd00:244:1::/64"),
    node("node-2.rack1", "10.10.0.12", 4_200_000_002, "10.244.0.128/26"),
    node("n3", "fd00:10::13", 4_200_000_003, "fd00:244:3::/64"),
    node("idle", "10.10.0.14", 4_200_000_004),
)


def spec(**changes: object) -> TorConfigSpec:
    base = TorConfigSpec(
        rack="r1",
        fabric="dc1",
        peering="static",
        asn_model="per-node",
        tor=TOR,
        policy=POLICY,
        subnets=(ip_network("10.10.0.0/24"), ip_network("fd00:10::/64")),
        nodes=NODES,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


VARIANTS = [
    pytest.param(fmt, peering, model, id=f"{fmt}-{peering}-{model}")
    for fmt in ("bird", "frr")
    for peering in ("static", "dynamic")
    for model in ("per-node", "per-rack")
]


def variant(peering: str, model: str, **changes: object) -> TorConfigSpec:
    if model == "per-rack":
        nodes = tuple(dataclasses.replace(n, asn=65101) for n in NODES)
        return spec(peering=peering, asn_model=model, rack_asn=65101, nodes=nodes, **changes)
    return spec(peering=peering, **changes)


@pytest.mark.parametrize(("fmt", "peering", "model"), VARIANTS)
def test_prefix_filters_are_exact_length_only(fmt: str, peering: str, model: str) -> None:
    text = render(variant(peering, model), fmt=fmt)
    assert not re.search(r"\{\d+,\d+\}|[+-]\s*[,\]]| ge | le ", text)
    for block in ("10.244.0.0/26", "10.244.0.64/26", "10.244.0.128/26", "fd00:244:3::/64"):
        assert block in text
    assert text.count("fd00:244:1::/64") == 1  # named in a comment, carried by no session


def test_bird_static_has_one_passive_protocol_per_node() -> None:
    text = render(spec(), fmt="bird")
    assert text.count("protocol bgp flatnet_") == 4
    assert "neighbor 10.10.0.11 as 4200000001;" in text
    assert "import where net ~ [ 10.244.0.0/26, 10.244.0.64/26 ] && bgp_next_hop = from;" in text
    assert "neighbor fd00:10::13 as 4200000003;" in text
    assert "local fd00:10::1 as 65000;" in text
    assert "import none;  # holds no blocks" in text
    assert text.count("receive limit 64 action restart;") == 4
    assert "passive on;" in text
    assert "graceful restart time 120;" in text
    assert "password" not in text


def test_bird_dynamic_keys_the_filter_on_the_neighbor() -> None:
    text = render(spec(peering="dynamic"), fmt="bird")
    assert "neighbor range 10.10.0.0/24 external;" in text
    assert "neighbor range fd00:10::/64 external;" in text
    assert "if from = 10.10.0.12 then {  # node-2.rack1" in text
    assert "bgp_path.first = 4200000002" in text
    per_rack = render(variant("dynamic", "per-rack"), fmt="bird")
    assert "neighbor range 10.10.0.0/24 as 65101;" in per_rack
    assert "bgp_path" not in per_rack


def test_frr_static_has_per_node_route_maps_with_next_hop_checks() -> None:
    text = render(spec(), fmt="frr")
    assert text.startswith("frr defaults datacenter\nhostname tor1\n")
    assert "ip prefix-list FLATNET-n1-V4 seq 10 permit 10.244.0.0/26" in text
    assert "ip prefix-list FLATNET-n1-V4 seq 20 permit 10.244.0.64/26" in text
    assert "ip prefix-list FLATNET-idle-V4 seq 10 deny any" in text
    assert (
        "route-map FLATNET-n1-IN permit 10\n match ip address prefix-list FLATNET-n1-V4\n" in text
    )
    assert " match ip next-hop address 10.10.0.11" in text
    assert " match ipv6 next-hop address fd00:10::13" in text
    assert " neighbor 10.10.0.11 remote-as 4200000001" in text
    assert " neighbor 10.10.0.11 passive" in text
    assert " neighbor 10.10.0.11 timers 3 9" in text
    assert "  neighbor 10.10.0.11 maximum-prefix 64 restart 1" in text
    assert "  neighbor 10.10.0.11 route-map FLATNET-DENY-ALL out" in text
    assert " bgp graceful-restart restart-time 120" in text


def test_frr_dynamic_matches_peer_and_as_path() -> None:
    text = render(spec(peering="dynamic"), fmt="frr")
    assert " bgp listen range 10.10.0.0/24 peer-group FLATNET-NODES-V4" in text
    assert " neighbor FLATNET-NODES-V4 remote-as external" in text
    assert " match peer 10.10.0.12" in text
    assert "bgp as-path access-list FLATNET-node_2_rack1_" in text
    assert "permit ^4200000002$" in text
    assert " remote-as 65101" in render(variant("dynamic", "per-rack"), fmt="frr")


@pytest.mark.parametrize("fmt", ["bird", "frr"])
def test_md5_appears_only_when_set(fmt: str) -> None:
    text = render(spec(policy=dataclasses.replace(POLICY, md5_password="s3cret-md5")), fmt=fmt)
    expected = {"bird": 'password "s3cret-md5";', "frr": "password s3cret-md5"}[fmt]
    assert expected in text


def test_bird_refuses_a_password_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="quote"):
        bird_renderer.render(spec(policy=dataclasses.replace(POLICY, md5_password='a"b')))


def test_same_blocks_in_any_order_give_the_same_bytes() -> None:
    shuffled = tuple(
        dataclasses.replace(n, blocks=tuple(reversed(n.blocks))) for n in reversed(NODES)
    )
    for fmt in ("bird", "frr"):
        assert render(spec(nodes=shuffled), fmt=fmt) == render(spec(), fmt=fmt)


def test_etag_is_strong_and_follows_the_text() -> None:
    one = etag(render(spec(), fmt="bird"))
    moved = (*NODES[:3], node("idle", "10.10.0.14", 4200000004, "10.244.1.0/26"))
    assert re.fullmatch(r'"[0-9a-f]{32}"', one)
    assert etag(render(spec(nodes=moved), fmt="bird")) != one


def test_blocks_no_session_can_carry_are_named_in_a_comment() -> None:
    for fmt, mark in (("bird", "#"), ("frr", "!")):
        text = render(spec(), fmt=fmt)
        assert f"{mark} not carried: fd00:244:1::/64 of n1 (no IPv6 session)" in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("n1", "n1", id="kept"),
        pytest.param("node-2.rack1", "node_2_rack1_", id="rewritten"),
        pytest.param("a" * 60, "a" * 40 + "_", id="shortened"),
    ],
)
def test_ident(name: str, expected: str) -> None:
    made = ident(name)
    assert made.startswith(expected)
    assert re.fullmatch(r"[a-z0-9_]{1,49}", made)


def test_ident_keeps_distinct_names_distinct() -> None:
    names = ["a-b", "a.b", "a-b-" + "x" * 60, "a-b-" + "x" * 61]
    assert len({ident(n) for n in names}) == len(names)


@pytest.mark.parametrize(("fmt", "peering", "model"), VARIANTS)
def test_rendered_config_parses_in_the_daemon(
    fmt: str, peering: str, model: str, tmp_path: Path
) -> None:
    """``bird -p`` and ``vtysh --dryrun`` accept every variant, MD5 included."""
    policy = dataclasses.replace(POLICY, md5_password="s3cret-md5")
    assert_parses(render(variant(peering, model, policy=policy), fmt=fmt), fmt=fmt, at=tmp_path)


def assert_parses(text: str, *, fmt: str, at: Path) -> None:
    """The daemon's own parser (``bird -p``, ``vtysh --dryrun``) accepts ``text``."""
    path = at / f"tor.{fmt}.conf"
    path.write_text(text)
    if fmt == "bird":
        argv = [need_binary("bird"), "-p", "-c", str(path)]
    else:
        argv = [need_binary("vtysh"), "--dryrun", "-f", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
