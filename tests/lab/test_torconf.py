"""ToR configs: the strict import policy, rendered for BIRD and FRR and checked by each."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import ip_network
from pathlib import Path

import pytest

from flatnet.lab import LabPool, LabSettings, torconf
from flatnet.lab import topology as topo
from tests.need import need

SETTINGS = LabSettings(import_limit=16)
PLAN = topo.plan(SETTINGS, prefix="flt", nodes=2)
POLICY = torconf.policy(SETTINGS, PLAN, 1)


def test_one_session_per_node_and_family_each_expecting_its_node_as_next_hop() -> None:
    sessions = torconf.sessions(PLAN, 1)
    assert [(s.name, str(s.neighbor), s.families) for s in sessions] == [
        ("node1_v4", "10.10.0.11", ("ipv4",)),
        ("node1_v6", "fd00:10::11", ("ipv6",)),
        ("node2_v4", "10.10.0.12", ("ipv4",)),
        ("node2_v6", "fd00:10::12", ("ipv6",)),
    ]
    assert {str(a) for a in sessions[1].next_hops.values()} == {"fd00:10::11"}
    assert [s.peer_as for s in sessions] == [65001, 65001, 65002, 65002]


def test_a_combined_session_carries_both_families_with_both_next_hops() -> None:
    [s1, _] = torconf.sessions(PLAN, 1, combined=True)
    assert s1.families == ("ipv4", "ipv6")
    assert {k: str(v) for k, v in s1.next_hops.items()} == {
        "ipv4": "10.10.0.11",
        "ipv6": "fd00:10::11",
    }


def test_bird_filter_accepts_only_pool_blocks_from_the_node_itself() -> None:
    text = torconf.bird(POLICY, torconf.sessions(PLAN, 1, passwords={"node2": "pw-2"}))
    node1_v4 = text.split("protocol bgp node1_v4")[1].split("protocol bgp")[0]
    assert (
        "if net ~ [ 10.244.0.0/16{26,26} ] && bgp_next_hop = 10.10.0.11 then accept; reject;"
        in node1_v4
    )
    assert "import limit 16 action block;" in node1_v4
    assert "export none;" in node1_v4
    assert "password" not in node1_v4
    assert 'password "pw-2";' in text.split("protocol bgp node2_v4")[1]
    assert "graceful restart on;" in text
    assert "passive on;" in text


def test_frr_route_maps_match_pool_and_next_hop_per_session() -> None:
    text = torconf.frr_bgpd(POLICY, torconf.sessions(PLAN, 1), log_file="/x/bgpd.log")
    assert "ip prefix-list POOLS4 seq 10 permit 10.244.0.0/16 ge 26 le 26" in text
    assert "ipv6 prefix-list POOLS6 seq 10 permit fd00:244::/32 ge 64 le 64" in text
    assert "ip prefix-list NH-node2_v4-ipv4 seq 10 permit 10.10.0.12/32" in text
    assert (
        "route-map IN-node1_v6-ipv6 permit 10\n"
        " match ipv6 address prefix-list POOLS6\n"
        " match ipv6 next-hop prefix-list NH-node1_v6-ipv6\n"
    ) in text
    assert "  neighbor 10.10.0.12 maximum-prefix 16" in text
    assert " bgp graceful-restart restart-time 120" in text


def test_a_pool_as_long_as_its_blocks_is_one_exact_prefix() -> None:
    settings = LabSettings(pools=[LabPool(cidr=ip_network("10.99.0.0/26"), block_prefixlen=26)])
    policy = torconf.policy(settings, PLAN, 1)
    text = torconf.frr_bgpd(policy, torconf.sessions(PLAN, 1), log_file="/x")
    assert "ip prefix-list POOLS4 seq 10 permit 10.99.0.0/26\n" in text
    # no IPv6 pool: every IPv6 route is rejected
    assert "import filter { reject; };" in torconf.bird(policy, torconf.sessions(PLAN, 1))


def test_a_password_the_daemons_could_not_parse_is_refused() -> None:
    with pytest.raises(ValueError, match="password"):
        torconf.bird(POLICY, torconf.sessions(PLAN, 1, passwords={"node1": "has space"}))


def test_bird_parses_the_generated_config(tmp_path: Path) -> None:
    bird = shutil.which("bird")
    need(bird is not None, "needs bird")
    conf = tmp_path / "bird.conf"
    conf.write_text(torconf.bird(POLICY, torconf.sessions(PLAN, 1, passwords={"node1": "pw"})))
    done = subprocess.run([str(bird), "-p", "-c", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_frr_accepts_the_generated_config(tmp_path: Path) -> None:
    vtysh = shutil.which("vtysh")
    need(vtysh is not None, "needs vtysh")
    conf = tmp_path / "bgpd.conf"
    sessions = torconf.sessions(PLAN, 1, passwords={"node1": "pw"})
    conf.write_text(torconf.frr_bgpd(POLICY, sessions, log_file=str(tmp_path / "bgpd.log")))
    done = subprocess.run([str(vtysh), "-C", "-f", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
