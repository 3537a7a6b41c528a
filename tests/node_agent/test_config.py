"""AgentSettings: file, environment and defaults, and the settings it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from node_agent.config import AgentSettings, load_settings


def test_environment_overrides_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(
        'node_name = "n1"\nnode_ip = "192.0.2.7"\npools = ["v4", "v6"]\nmtu = 9000\n'
        'rack = "r1"\n[[bgp_peers]]\naddress = "192.0.2.254"\npeer_as = 65000\nlocal_as = 65101\n'
    )
    monkeypatch.setenv("FLATNET_AGENT_MTU", "1450")
    monkeypatch.setenv("FLATNET_AGENT_METRICS_LISTEN", "null")
    settings = load_settings(conf)
    assert (settings.node_name, settings.mtu, settings.pools) == ("n1", 1450, ["v4", "v6"])
    assert settings.metrics_listen is None
    assert settings.labels() == {"topology.flatnet.io/rack": "r1"}
    assert settings.bgp_peers[0].peer_as == 65000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"pools": []}, "pools", id="no-pool"),
        pytest.param({"pools": ["a", "a"]}, "pools", id="duplicate-pool"),
        pytest.param({"pools": ["Bad_Name"]}, "pools", id="pool-name"),
        pytest.param({"extra_pools": ["default"]}, "extra_pools", id="pool-twice"),
        pytest.param({"socket_path": "agent.sock"}, "socket_path", id="relative-socket"),
        pytest.param({"metrics_listen": "9471"}, "metrics_listen", id="listen-without-host"),
        pytest.param({"ipam_retry_min": 5, "ipam_retry_max": 1}, "ipam_retry_min", id="back-off"),
    ],
)
def test_unsafe_or_malformed_settings_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        AgentSettings(node_name="n1", node_ip="192.0.2.1", **overrides)  # type: ignore[arg-type]


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")
