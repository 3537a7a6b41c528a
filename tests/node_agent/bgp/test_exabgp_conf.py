"""ExaBGP's config and environment, rendered from BgpPeer settings."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest

from node_agent.bgp import exabgp_conf
from node_agent.bgp.commands import Address
from node_agent.bgp.settings import BgpPeer
from node_agent.errors import BgpConfigError

NODE: list[Address] = [IPv4Address("10.10.0.11"), IPv6Address("fd00:10::11")]
BRIDGE = [sys.executable, "-I", "/opt/bridge.py", "/run/agent/exabgp-api.sock"]


def peer(**kw: Any) -> BgpPeer:
    return BgpPeer.model_validate(
        {"address": "10.10.0.1", "peer_as": 65000, "local_as": 65001} | kw
    )


def resolve(*peers: BgpPeer, passwords: dict[Path, str] | None = None) -> list[exabgp_conf.Session]:
    return exabgp_conf.resolve_sessions(peers, node_addresses=NODE, passwords=passwords or {})


def test_defaults_come_from_the_node_addresses() -> None:
    [s] = resolve(peer())
    assert s.local_address == IPv4Address("10.10.0.11")
    assert s.router_id == IPv4Address("10.10.0.11")
    assert s.families == ("ipv4 unicast", "ipv6 unicast")
    # an IPv4 session carrying IPv6 announces the node's IPv6 address as next hop
    assert s.next_hops == {"ipv4 unicast": NODE[0], "ipv6 unicast": NODE[1]}


def test_an_ipv6_session_uses_its_local_address_as_next_hop() -> None:
    [s] = resolve(
        peer(address="fd00:10::1", local_address="fd00:10::99", families=["ipv6 unicast"])
    )
    assert s.next_hops == {"ipv6 unicast": ip_address("fd00:10::99")}
    assert s.router_id == IPv4Address("10.10.0.11")


def test_explicit_next_hops_win() -> None:
    [s] = resolve(peer(next_hop_ipv4="10.10.0.99", next_hop_ipv6="fd00:10::99"))
    assert s.next_hops == {
        "ipv4 unicast": ip_address("10.10.0.99"),
        "ipv6 unicast": ip_address("fd00:10::99"),
    }


@pytest.mark.parametrize(
    ("peers", "nodes", "message"),
    [
        pytest.param([peer(), peer()], NODE, "listed twice", id="duplicate"),
        pytest.param([peer(families=["l2vpn evpn"])], NODE, "families", id="bad-family"),
        pytest.param([peer(families=[])], NODE, "families", id="no-family"),
        pytest.param([peer(address="fd00:10::1")], NODE[:1], "local address", id="no-v6-local"),
        pytest.param(
            [peer(address="fd00:10::1", families=["ipv6 unicast"])],
            NODE[1:],
            "router id",
            id="no-router-id",
        ),
        pytest.param([peer()], NODE[:1], "next hop for ipv6", id="no-v6-next-hop"),
        pytest.param(
            [peer(local_address="fd00:10::11")], NODE, "local address", id="local-wrong-family"
        ),
    ],
)
def test_unusable_peers_are_refused(
    peers: list[BgpPeer], nodes: list[Address], message: str
) -> None:
    with pytest.raises(BgpConfigError, match=message):
        exabgp_conf.resolve_sessions(peers, node_addresses=nodes, passwords={})


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        pytest.param("s3cret-md5", True, id="plain"),
        pytest.param("a" * 80, True, id="80-chars"),
        pytest.param("a" * 81, False, id="too-long"),
        pytest.param("", False, id="empty"),
        pytest.param('has"quote', False, id="quote"),
        pytest.param("semi;colon", False, id="semicolon"),
        pytest.param("with space", False, id="space"),
    ],
)
def test_md5_passwords_must_fit_tcp_md5_and_the_config_syntax(password: str, ok: bool) -> None:
    path = Path("/etc/flatnet/md5")
    if ok:
        [s] = resolve(peer(md5_password_file=path), passwords={path: password})
        assert s.md5_password == password
    else:
        with pytest.raises(BgpConfigError, match="MD5"):
            resolve(peer(md5_password_file=path), passwords={path: password})


def test_rendered_neighbor_carries_the_graceful_restart_recipe() -> None:
    path = Path("/etc/flatnet/md5")
    sessions = resolve(
        peer(md5_password_file=path, hold_time=30, graceful_restart=90, families=["ipv4 unicast"]),
        peer(address="fd00:10::1", graceful_restart=0, families=["ipv6 unicast"]),
        passwords={path: "pw"},
    )
    text = exabgp_conf.render(sessions, process_argv=BRIDGE)
    v4, v6 = text.split("neighbor 10.10.0.1 {")[1], text.split("neighbor fd00:10::1 {")[1]
    assert f"run {' '.join(BRIDGE)};" in text
    assert "manual-eor true;" in v4
    assert "manual-eor true;" in v6
    assert "graceful-restart 90;" in v4
    assert "graceful-restart" not in v6  # 0 disables it
    assert 'md5-password "pw";' in v4
    assert "md5-password" not in v6
    assert "hold-time 30;" in v4
    assert "local-address fd00:10::11;" in v6


def test_a_bridge_command_with_spaces_is_refused() -> None:
    with pytest.raises(BgpConfigError, match="spaces"):
        exabgp_conf.render(resolve(peer()), process_argv=["/my dir/python", "bridge.py"])


def test_environment_is_complete_and_clean() -> None:
    env = exabgp_conf.environment(user="root", log_level="INFO", path="/usr/bin")
    assert env["exabgp.api.ack"] == "true"
    assert env["exabgp.api.cli"] == "false"
    assert env["exabgp.daemon.daemonize"] == "false"
    assert env["exabgp.tcp.bind"] == ""
    assert set(env) - {"PATH"} == {k for k in env if k.startswith("exabgp.")}


def test_exabgp_itself_accepts_the_rendered_config(tmp_path: Path) -> None:
    exabgp = Path(sys.executable).with_name("exabgp")
    path = Path("/etc/flatnet/md5")
    sessions = resolve(
        peer(md5_password_file=path),
        peer(address="fd00:10::1", families=["ipv6 unicast"]),
        passwords={path: "s3cret-md5"},
    )
    bridge = Path(exabgp_conf.__file__).with_name("bridge.py")
    conf = tmp_path / "exabgp.conf"
    conf.write_text(
        exabgp_conf.render(sessions, process_argv=[sys.executable, "-I", str(bridge), "/x.sock"])
    )
    done = subprocess.run(
        [str(exabgp), "validate", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
