"""Section 1 (versions) and section 10 (VERSION) of the CNI checklist."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni import versions
from tests.cni.harness import Plugin

ADD_ENV: dict[str, Any] = {"container_id": "c1", "ifname": "eth0"}


def test_cni_001_version_lists_exact_supported_versions(plugin: Plugin) -> None:
    run = plugin.exec({"CNI_COMMAND": "VERSION"}, b"")
    assert run.rc == 0
    assert run.out["cniVersion"]
    assert run.out["supportedVersions"] == ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    assert not {"0.1.0", "0.2.0"} & set(run.out["supportedVersions"])


@pytest.mark.parametrize(
    "cni_version",
    [
        pytest.param("0.2.0", id="0.2.0"),
        pytest.param("9.9.9", id="9.9.9"),
        pytest.param(None, id="absent-means-0.1.0"),
        pytest.param("", id="empty-means-0.1.0"),
        pytest.param("1.1", id="not-x.y.z"),
    ],
)
def test_cni_002_unsupported_config_version_is_code_1(
    plugin: Plugin, netns: str, no_agent: dict[str, Any], cni_version: str | None
) -> None:
    run = plugin.run("ADD", no_agent, netns=netns, cni_version=cni_version, **ADD_ENV)
    assert run.rc == 1
    assert run.out["code"] == 1
    assert run.out["msg"] == "incompatible CNI versions"
    assert "1.1.0" in run.out["details"]
    assert f'"{cni_version or "0.1.0"}"' in run.out["details"]


def test_cni_003_conflist_versions_are_all_advertised_exactly(plugin: Plugin) -> None:
    conflist = plugin.installed_conflist()
    run = plugin.exec(
        {
            "CNI_COMMAND": "VERSION",
            "CNI_NETNS": "dummy",
            "CNI_IFNAME": "dummy",
            "CNI_PATH": "dummy",
        },
        json.dumps({"cniVersion": conflist["cniVersion"]}).encode(),
    )
    assert run.rc == 0
    for version in [conflist["cniVersion"], *conflist["cniVersions"]]:
        assert version in run.out["supportedVersions"]


def test_cni_004_conflist_is_1_0_0_with_cni_versions(plugin: Plugin) -> None:
    conflist = plugin.installed_conflist()
    assert conflist["cniVersion"] == "1.0.0"
    assert conflist["cniVersions"] == ["0.4.0", "1.0.0", "1.1.0"]
    assert [p["type"] for p in conflist["plugins"]] == ["flatnet"]
    assert conflist["plugins"][0]["agentSocket"] == "/run/flatnet/agent.sock"


@pytest.mark.parametrize(
    ("command", "cni_version", "minimum"),
    [
        pytest.param("CHECK", "0.3.1", "0.4.0", id="check-0.3.1"),
        pytest.param("CHECK", "0.3.0", "0.4.0", id="check-0.3.0"),
        pytest.param("GC", "1.0.0", "1.1.0", id="gc-1.0.0"),
        pytest.param("STATUS", "1.0.0", "1.1.0", id="status-1.0.0"),
        pytest.param("STATUS", "0.4.0", "1.1.0", id="status-0.4.0"),
    ],
)
def test_cni_006_verbs_gated_by_version(
    plugin: Plugin,
    netns: str,
    no_agent: dict[str, Any],
    command: str,
    cni_version: str,
    minimum: str,
) -> None:
    run = plugin.run(command, no_agent, netns=netns, cni_version=cni_version, **ADD_ENV)
    assert run.rc == 1
    assert run.out["code"] == 1
    assert run.out["msg"] == f"config version does not allow {command}"
    assert minimum in run.out["details"]


@pytest.mark.parametrize("cni_version", versions.SUPPORTED_VERSIONS)
def test_cni_090_version_echoes_a_supported_request_version(
    plugin: Plugin, cni_version: str
) -> None:
    run = plugin.exec({"CNI_COMMAND": "VERSION"}, json.dumps({"cniVersion": cni_version}).encode())
    assert (run.rc, run.out["cniVersion"]) == (0, cni_version)


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param(b'{"cniVersion":"0.2.0"}', id="unsupported"),
        pytest.param(b'{"cniVersion":"9.9.9"}', id="future"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="garbage"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_cni_090_version_answers_latest_otherwise(plugin: Plugin, stdin: bytes) -> None:
    run = plugin.exec({"CNI_COMMAND": "VERSION"}, stdin)
    assert run.rc == 0
    assert run.out == {
        "cniVersion": "1.1.0",
        "supportedVersions": list(versions.SUPPORTED_VERSIONS),
    }


def test_cni_091_version_needs_no_agent_and_tolerates_dummy_env(plugin: Plugin) -> None:
    env = {
        "CNI_COMMAND": "VERSION",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "dummy",
        "CNI_IFNAME": "dummy",
        "CNI_ARGS": "",
        "CNI_PATH": "dummy",
    }
    run = plugin.exec(env, b'{"cniVersion":"1.0.0","agentSocket":"/nonexistent/agent.sock"}')
    assert (run.rc, run.out["cniVersion"], run.stderr) == (0, "1.0.0", "")


@pytest.mark.parametrize(
    ("version", "parsed"),
    [
        pytest.param("1.1.0", (1, 1, 0), id="plain"),
        pytest.param("10.0.12", (10, 0, 12), id="multi-digit"),
        pytest.param("1.1", None, id="two-parts"),
        pytest.param("1.1.x", None, id="letter"),
        pytest.param("1.1.٣", None, id="non-ascii-digit"),
    ],
)
def test_version_parse(version: str, parsed: tuple[int, int, int] | None) -> None:
    assert versions.parse(version) == parsed
