"""The collector's settings and the ExaBGP config rendered from them (checked by ExaBGP)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fabric_controller.drift import exabgpconf
from fabric_controller.drift.errors import CollectorConfigError
from fabric_controller.drift.settings import CollectorSettings
from tests.need import need_binary

RELAY = ["/usr/bin/python3", "-I", "/opt/flatnet/relay.py", "/run/flatnet/collector/relay.sock"]
DUAL: dict[str, Any] = {
    "enabled": True,
    "listen_addresses": ["10.10.0.100", "fd00:10::100"],
    "tors": [
        {"name": "tor1", "asn": 65000, "addresses": ["10.10.0.1", "fd00:10::1"], "rack": "r1"},
        {"name": "tor2", "asn": 65001, "addresses": ["10.10.1.1"], "rack": "r2"},
    ],
}


def test_rendered_config_is_accepted_by_exabgp(tmp_path: Path) -> None:
    exabgp = need_binary(str(CollectorSettings().exabgp))
    s = CollectorSettings.model_validate(DUAL)
    conf = tmp_path / "exabgp.conf"
    conf.write_text(exabgpconf.render_config(s, relay=RELAY, passwords={"tor1": "s3cret-md5"}))
    done = subprocess.run(
        [exabgp, "validate", str(conf)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_passive_add_path_neighbor_per_tor_address() -> None:
    text = exabgpconf.render_config(CollectorSettings.model_validate(DUAL), relay=RELAY)
    assert text.count("neighbor ") == 3
    assert text.count("passive true;") == 3
    assert text.count("add-path receive;") == 3
    assert "neighbor fd00:10::1 {" in text
    assert "local-address fd00:10::100;" in text
    assert "peer-as 65001;" in text
    assert "md5-password" not in text
    assert f"run {' '.join(RELAY)};" in text


def test_graceful_restart_zero_is_not_advertised() -> None:
    s = CollectorSettings.model_validate(DUAL | {"graceful_restart": 0})
    assert "graceful-restart" not in exabgpconf.render_config(s, relay=RELAY)


BAD_SETTINGS = [
    pytest.param({"listen_addresses": ["10.10.0.100"]}, "no IPv6", id="no-listen-address-for-v6"),
    pytest.param(
        {"listen_addresses": ["10.10.0.100", "10.10.0.101", "fd00:10::100"]},
        "one address per family",
        id="two-ipv4-listen-addresses",
    ),
    pytest.param(
        {"tors": [*DUAL["tors"], {"name": "tor1", "asn": 1, "addresses": ["10.10.2.1"]}]},
        "names must be unique",
        id="duplicate-tor-name",
    ),
    pytest.param(
        {"tors": [*DUAL["tors"], {"name": "tor3", "asn": 1, "addresses": ["10.10.1.1"]}]},
        "appears twice",
        id="duplicate-tor-address",
    ),
    pytest.param(
        {"restart_backoff_seconds": 10, "restart_backoff_max_seconds": 5},
        "below the first delay",
        id="backoff-max-below-first",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CollectorSettings.model_validate(DUAL | change)


BAD_TEXT = [
    pytest.param(
        {"tors": [{"name": 'tor"1', "asn": 1, "addresses": ["10.10.0.1"]}]}, {}, id="quote-in-name"
    ),
    pytest.param(DUAL, {"tor1": "pass;word"}, id="semicolon-in-password"),
    pytest.param({"families": ["ipv4 unicast; }"]}, {}, id="brace-in-family"),
]


@pytest.mark.parametrize(("change", "passwords"), BAD_TEXT)
def test_text_that_would_break_the_config_is_refused(
    change: dict[str, Any], passwords: dict[str, str]
) -> None:
    s = CollectorSettings.model_validate(
        DUAL | change | {"listen_addresses": DUAL["listen_addresses"]}
    )
    with pytest.raises(CollectorConfigError):
        exabgpconf.render_config(s, relay=RELAY, passwords=passwords)


def test_relay_path_with_a_space_is_refused() -> None:
    s = CollectorSettings.model_validate(DUAL)
    with pytest.raises(CollectorConfigError, match="relay argument"):
        exabgpconf.render_config(s, relay=["/opt/my flatnet/relay.py"])


def test_argv_enters_the_namespace_and_environment_is_explicit() -> None:
    s = CollectorSettings.model_validate(DUAL | {"netns": "ctl-1a2b"})
    argv = exabgpconf.argv(s, config=Path("/run/c/exabgp.conf"))
    assert argv == [
        "ip",
        "netns",
        "exec",
        "ctl-1a2b",
        str(s.exabgp),
        "server",
        "/run/c/exabgp.conf",
    ]
    env = exabgpconf.environment(s, user="flatnet", path="/usr/bin:/bin")
    assert env["exabgp.daemon.user"] == "flatnet"
    assert env["exabgp.api.ack"] == "true"
    assert env["exabgp.tcp.bind"] == ""
    assert env["exabgp.api.cli"] == "false"
    assert set(env) - {"PATH"} == {k for k in env if k.startswith("exabgp.")}


def test_refresh_command() -> None:
    assert (
        exabgpconf.refresh_command(CollectorSettings.model_validate(DUAL).tors[0].addresses[1], 6)
        == "neighbor fd00:10::1 announce route-refresh ipv6 unicast"
    )
