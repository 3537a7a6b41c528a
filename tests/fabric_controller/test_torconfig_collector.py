"""The route collector's session in generated ToR configs: when it is there, what it says,
that both daemons parse it, and that the API serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fabric_controller.config import ControllerSettings
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.secrets import REDACTED
from fabric_controller.services.torconfig import with_collector
from fabric_controller.torconfig import TorConfigSpec, render
from fabric_controller.torconfig.collector import collector_peer, collector_side
from tests.fabric_controller.test_torconfig_render import TOR, assert_parses, spec
from tests.fabric_controller.topology_fixtures import make_fabric, make_rack, tor

V4 = {"listen_addresses": ["10.10.0.100"], "addresses": ["10.10.0.1"]}
DUAL = {
    "listen_addresses": ["10.10.0.100", "fd00:10::100"],
    "addresses": ["10.10.0.1", "fd00:10::1"],
}


def collector(shape: dict[str, list[str]] = V4, **fields: Any) -> CollectorSettings:
    peer = {"name": "tor1", "asn": 65000, "addresses": shape["addresses"]}
    peer |= fields.pop("peer", {})
    body = {"enabled": True, "listen_addresses": shape["listen_addresses"], "tors": [peer]}
    return CollectorSettings.model_validate(body | fields)


def with_side(settings: CollectorSettings, base: TorConfigSpec | None = None) -> TorConfigSpec:
    return with_collector(base or spec(), settings, reveal=True)


def test_a_lone_session_carries_both_families() -> None:
    built = with_side(collector()).collector
    assert built is not None
    assert [(str(s.address), str(s.local), s.families) for s in built.sessions] == [
        ("10.10.0.100", "10.10.0.1", (4, 6))
    ]
    assert (built.asn, built.port, built.hold_time, built.multihop) == (65100, 179, 30, 0)
    assert (built.connect_retry, built.error_wait) == (5, (5, 30))


def test_a_dual_stack_collector_gets_one_session_per_family() -> None:
    built = with_side(collector(DUAL)).collector
    assert built is not None
    assert [(str(s.address), str(s.local), s.families) for s in built.sessions] == [
        ("10.10.0.100", "10.10.0.1", (4,)),
        ("fd00:10::100", "fd00:10::1", (6,)),
    ]


def test_only_the_collectors_families_are_carried() -> None:
    built = with_side(collector(families=["ipv4 unicast"])).collector
    assert built is not None
    assert built.sessions[0].families == (4,)
    peer, _ = collector_peer(collector(families=["ipv4 unicast"]), TOR)
    assert peer is not None
    ipv6_only = collector(families=["ipv6 unicast"])
    assert collector_side(ipv6_only, peer=peer, families=(4,), md5_password=None) is None


@pytest.mark.parametrize(
    ("settings", "note"),
    [
        pytest.param(
            collector(peer={"name": "tor9"}),
            "no route collector session: ToR tor1 is not among the collector's ToRs",
            id="tor-not-listed",
        ),
        pytest.param(
            collector(peer={"asn": 65009}),
            "no route collector session: collector.tors gives ToR tor1 AS 65009,"
            " the topology AS 65000",
            id="asn-differs",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["bird", "frr"])
def test_a_tor_the_collector_does_not_expect_gets_a_note_instead(
    settings: CollectorSettings, note: str, fmt: str
) -> None:
    built = with_side(settings)
    assert built.collector is None
    text = render(built, fmt=fmt)
    assert note in text
    assert "flatnet_collector" not in text
    assert "route collector (fabric controller)" not in text


@pytest.mark.parametrize("fmt", ["bird", "frr"])
def test_no_collector_configured_leaves_the_config_as_it_was(fmt: str) -> None:
    disabled = collector().model_copy(update={"enabled": False})
    assert render(with_side(disabled), fmt=fmt) == render(spec(), fmt=fmt)


def test_bird_collector_protocol() -> None:
    text = render(with_side(collector()), fmt="bird")
    stanza = text[text.index("protocol bgp flatnet_collector {") :]
    assert stanza.splitlines()[1:9] == [
        '  description "flatnet route collector";',
        "  local 10.10.0.1 as 65000;",
        "  neighbor 10.10.0.100 as 65100;",
        "  hold time 30;",
        "  connect retry time 5;",
        "  error wait time 5, 30;",
        "  ipv4 { import none; export where source = RTS_BGP; next hop keep; add paths tx; };",
        "  ipv6 { import none; export where source = RTS_BGP; next hop keep; add paths tx; };",
    ]
    assert "passive" not in stanza  # the collector is passive: the ToR dials


def test_frr_collector_neighbor() -> None:
    text = render(with_side(collector(DUAL)), fmt="frr")
    assert "route-map FLATNET-COLLECTOR-OUT permit 10\nexit" in text
    for line in (
        " neighbor 10.10.0.100 remote-as 65100",
        " neighbor 10.10.0.100 update-source 10.10.0.1",
        " neighbor 10.10.0.100 timers 10 30",
        " neighbor 10.10.0.100 timers connect 5",
        " neighbor fd00:10::100 update-source fd00:10::1",
        "  neighbor 10.10.0.100 route-map FLATNET-DENY-ALL in",
        "  neighbor 10.10.0.100 route-map FLATNET-COLLECTOR-OUT out",
        "  neighbor 10.10.0.100 addpath-tx-all-paths",
        "  neighbor fd00:10::100 attribute-unchanged next-hop",
    ):
        assert line in text.splitlines()
    v6 = text[text.rindex(" address-family ipv6 unicast") :]
    assert "10.10.0.100" not in v6  # each session carries its own family


def test_port_multihop_and_md5_are_written(tmp_path: Path) -> None:
    secret = tmp_path / "collector-md5"
    secret.write_text("c0llect0r\n")
    settings = collector(listen_port=1179, tor_multihop=4, peer={"md5_password_file": str(secret)})
    bird = render(with_side(settings), fmt="bird")
    assert "  neighbor 10.10.0.100 port 1179 as 65100;" in bird.splitlines()
    assert "  multihop 4;" in bird.splitlines()
    assert '  password "c0llect0r";' in bird.splitlines()
    frr = render(with_side(settings), fmt="frr")
    for line in ("port 1179", "ebgp-multihop 4", "password c0llect0r"):
        assert f" neighbor 10.10.0.100 {line}" in frr.splitlines()
    hidden = render(with_collector(spec(), settings, reveal=False), fmt="bird")
    assert f'password "{REDACTED}";' in hidden
    assert "c0llect0r" not in hidden


@pytest.mark.parametrize("peering", ["static", "dynamic"])
@pytest.mark.parametrize("fmt", ["bird", "frr"])
def test_collector_sessions_parse_in_the_daemon(fmt: str, peering: str, tmp_path: Path) -> None:
    """``bird -p`` and ``vtysh --dryrun`` accept the collector session, every option set."""
    secret = tmp_path / "collector-md5"
    secret.write_text("c0llect0r\n")
    settings = collector(
        DUAL, listen_port=1179, tor_multihop=2, peer={"md5_password_file": str(secret)}
    )
    text = render(with_side(settings, spec(peering=peering)), fmt=fmt)
    assert_parses(text, fmt=fmt, at=tmp_path)


@pytest.fixture
def controller_settings(secrets_dir: Path) -> ControllerSettings:
    """The package's settings, with a collector that expects tor-a but not tor-b."""
    settings = collector(peer={"name": "tor-a"})
    return ControllerSettings(
        auth="off", database_url="unused", secrets_dir=secrets_dir, collector=settings
    )


async def test_the_api_serves_the_collector_session_to_the_tors_it_expects(
    controller: httpx.AsyncClient,
) -> None:
    await make_fabric(controller, "dc1")
    tors = (tor("tor-a", 65000), tor("tor-b", 65000, v4="10.10.0.2", v6="fd00:10::2"))
    await make_rack(controller, "r1", tors=tors)
    expected = await controller.get("/v1/racks/r1/tor-config?format=bird&tor=tor-a")
    assert expected.status_code == 200, expected.text
    assert "protocol bgp flatnet_collector {" in expected.text
    other = await controller.get("/v1/racks/r1/tor-config?format=frr&tor=tor-b")
    assert other.status_code == 200, other.text
    assert "ToR tor-b is not among the collector's ToRs" in other.text
    assert "FLATNET-COLLECTOR-OUT" not in other.text
