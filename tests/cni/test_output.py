"""Section 4 of the CNI checklist (streams, exit codes, errors) and CNI-046."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.cni.conftest import StubAgent
from tests.cni.harness import Plugin

CID = "c0ffee"
ADD: dict[str, Any] = {"container_id": CID, "ifname": "eth0"}


def test_cni_030_stdout_is_one_json_document_with_warnings_on(
    plugin: Plugin, netns: str, no_agent: dict[str, Any]
) -> None:
    env = {"PYTHONWARNINGS": "always", "PYTHONDEVMODE": "1", "PYTHONVERBOSE": "1"}
    run = plugin.run("ADD", no_agent, netns=netns, extra_env=env, **ADD)
    assert run.stdout.count("\n") == 1
    assert run.out["code"] == 11


def test_cni_030_version_stdout_is_json_with_warnings_on(plugin: Plugin) -> None:
    run = plugin.exec({"CNI_COMMAND": "VERSION", "PYTHONWARNINGS": "error"}, b"{}")
    assert run.rc == 0
    assert run.out["supportedVersions"]


def test_cni_031_agent_error_is_passed_through_on_stdout(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(409, {"code": 7, "msg": "pool blue unknown", "details": "no such pool"})
    run = plugin.run("ADD", agent.conf(), netns=netns, cni_version="1.0.0", **ADD)
    assert run.rc == 1
    assert run.out == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "pool blue unknown",
        "details": "no such pool",
    }


@pytest.mark.parametrize(
    ("status", "raw", "code"),
    [
        pytest.param(503, b"busy", 11, id="503-text-try-again"),
        pytest.param(500, b"<html>oops</html>", 999, id="500-html-internal"),
        pytest.param(500, b'{"detail":"x"}', 999, id="500-foreign-json"),
    ],
)
def test_cni_031_agent_error_without_contract_body(
    plugin: Plugin,
    netns: str,
    canned_agent: Callable[..., StubAgent],
    status: int,
    raw: bytes,
    code: int,
) -> None:
    agent = canned_agent(status, raw=raw)
    run = plugin.run("ADD", agent.conf(), netns=netns, **ADD)
    assert (run.rc, run.out["code"], run.out["msg"]) == (
        1,
        code,
        f"node agent answered HTTP {status}",
    )


def test_cni_032_error_object_shape(plugin: Plugin, netns: str, no_agent: dict[str, Any]) -> None:
    run = plugin.run("ADD", no_agent, netns=netns, cni_version="0.4.0", **ADD)
    assert set(run.out) == {"cniVersion", "code", "msg", "details"}
    assert run.out["cniVersion"] == "0.4.0"
    assert isinstance(run.out["code"], int)
    assert run.out["code"] >= 0
    assert isinstance(run.out["msg"], str)
    assert isinstance(run.out["details"], str)


@pytest.mark.parametrize(
    ("command", "env", "stdin", "code"),
    [
        pytest.param("ADD", {}, b"{}", 4, id="4-missing-env"),
        pytest.param("ADD", {"netns": "/proc/self/ns/net"}, None, 8, id="8-own-netns"),
        pytest.param("ADD", {}, b"{", 6, id="6-decode"),
        pytest.param("ADD", {}, b'{"cniVersion":"0.2.0","name":"n"}', 1, id="1-version"),
        pytest.param("ADD", {}, b'{"cniVersion":"1.1.0"}', 7, id="7-config"),
        pytest.param("ADD", {}, None, 11, id="11-agent-down"),
        pytest.param("STATUS", {}, None, 50, id="50-status-agent-down"),
    ],
)
def test_cni_033_error_codes(
    plugin: Plugin,
    netns: str,
    no_agent: dict[str, Any],
    command: str,
    env: dict[str, str],
    stdin: bytes | None,
    code: int,
) -> None:
    params: dict[str, Any] = {"container_id": CID, "ifname": "eth0", "netns": netns}
    if command == "STATUS":
        params = {}
    if env.get("netns"):
        params["netns"] = env["netns"]
    if command == "ADD" and stdin == b"{}":
        params = {}
    run = plugin.run(command, no_agent, raw_stdin=stdin, **params)
    assert (run.rc, run.out["code"]) == (1, code)


def test_cni_034_logs_are_json_lines_on_stderr(
    plugin: Plugin, netns: str, no_agent: dict[str, Any]
) -> None:
    run = plugin.run("ADD", no_agent, netns=netns, **ADD)
    lines = run.log_lines()
    assert lines[-1]["level"] == "error"
    assert lines[-1]["code"] == 11
    assert lines[-1]["container_id"] == CID


def test_cni_046_silent_agent_times_out_with_code_11(
    plugin: Plugin, netns: str, silent_agent: StubAgent
) -> None:
    run = plugin.run("ADD", silent_agent.conf(agentTimeout=1), netns=netns, timeout=10, **ADD)
    assert (run.rc, run.out["code"]) == (1, 11)
    assert "within 1s" in run.out["details"]
    # The agent got the request and is still holding the connection unanswered, so the
    # plugin's answer can only come from its own timeout (no wall-time assertion).
    assert [r.path for r in silent_agent.requests] == ["/v1/cni/add"]
    assert not silent_agent.release.is_set()


def test_cni_046_default_timeout_is_bounded() -> None:
    from cni import netconf

    assert 10 <= netconf.DEFAULT_TIMEOUT <= 30
