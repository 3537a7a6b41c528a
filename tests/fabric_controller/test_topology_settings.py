"""ControllerSettings: its own variables, the ones shared with IPAM, nesting, unsafe values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fabric_controller.config import ControllerSettings


def test_shared_variables_and_nested_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLATNET_DATABASE_URL", "postgresql://shared/db")
    monkeypatch.setenv("FLATNET_CONTROLLER_PORT", "9000")
    monkeypatch.setenv("FLATNET_CONTROLLER_BGP__HOLD_TIME", "30")
    monkeypatch.setenv("FLATNET_CONTROLLER_KUBE__RACK_LABEL", "example.com/rack")
    settings = ControllerSettings()
    assert settings.database_url == "postgresql://shared/db"
    assert settings.port == 9000
    assert settings.bgp.hold_time == 30
    assert settings.kube.rack_label == "example.com/rack"
    monkeypatch.setenv("FLATNET_CONTROLLER_DATABASE_URL", "postgresql://own/db")
    assert ControllerSettings().database_url == "postgresql://own/db"  # its own name wins


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"FLATNET_CONTROLLER_BGP__KEEPALIVE_TIME": "5"}, id="keepalive-vs-hold"),
        pytest.param(
            {
                "FLATNET_CONTROLLER_BGP__ASN_FIRST": "4294967294",
                "FLATNET_CONTROLLER_BGP__ASN_LAST": "4200000000",
            },
            id="range",
        ),
        pytest.param({"FLATNET_TOKENS_FILE": "/nonexistent/tokens.json"}, id="missing-tokens"),
        pytest.param({"FLATNET_CONTROLLER_DEFAULT_FABRIC": "Bad_Name"}, id="fabric-name"),
    ],
)
def test_unsafe_values_are_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        ControllerSettings()


def test_ipam_token_is_read_from_its_file(tmp_path: Path) -> None:
    token = tmp_path / "ipam-token"
    token.write_text("abc123\n")
    assert ControllerSettings(ipam_token_file=token).ipam_token() == "abc123"
    assert ControllerSettings().ipam_token() is None
