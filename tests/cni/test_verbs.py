"""Sections 5, 7, 8, 9 and 11 of the checklist: what is checkable without an agent.

Subprocess tests use the unreachable socket, the silent stub and the canned-error
stub; the rollback test drives :mod:`cni.verbs` with a recording fake behind the
``Agent`` protocol. Everything that needs real allocation is in test_agent_items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cni import netconf
from cni.contract import (
    AddRequest,
    Attachment,
    CheckRequest,
    DelRequest,
    GcRequest,
    IPConfig,
    StatusReply,
)
from cni.environ import CniEnv
from cni.errors import CniError
from cni.netconf import NetConf
from cni.verbs import cmd_add
from tests.cni.conftest import StubAgent
from tests.cni.harness import Plugin

CID = "c0ffee"
KEY: dict[str, Any] = {"container_id": CID, "ifname": "eth0"}


# --- ADD -----------------------------------------------------------------------


@dataclass
class RecordingAgent:
    """Answers ADD with a fixed attachment and records DELs (plugin-side rollback)."""

    attachment: Attachment
    deleted: list[DelRequest] = field(default_factory=list)

    def add(self, request: AddRequest) -> Attachment:
        return self.attachment

    def delete(self, request: DelRequest) -> None:
        self.deleted.append(request)

    def check(self, request: CheckRequest) -> None:
        raise AssertionError("unused")

    def gc(self, request: GcRequest) -> list[str]:
        raise AssertionError("unused")

    def status(self) -> StatusReply:
        raise AssertionError("unused")


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        pytest.param("sandbox", "/run/netns/other", id="wrong-sandbox"),
        pytest.param("ifname", "eth1", id="wrong-ifname"),
        pytest.param("mac", "", id="no-mac"),
        pytest.param("ips", [], id="no-ips"),
    ],
)
def test_cni_042_unusable_agent_reply_is_rolled_back(field_name: str, value: Any) -> None:
    values: dict[str, Any] = {
        "host_ifname": "fnabc",
        "host_mac": "ee:ee:ee:ee:ee:ee",
        "ifname": "eth0",
        "mac": "0a:58:0a:01:00:05",
        "sandbox": "/run/netns/x",
        "mtu": 1500,
        "ips": [IPConfig(address="10.1.0.5/32", gateway="169.254.1.1")],
    }
    values[field_name] = value
    agent = RecordingAgent(Attachment(**values))
    env = CniEnv(command="ADD", container_id=CID, netns="/run/netns/x", ifname="eth0")
    with pytest.raises(CniError) as caught:
        cmd_add(env, NetConf(cni_version="1.0.0", name="net"), agent)
    assert caught.value.code == 999
    assert [(d.key.network, d.key.container_id, d.key.ifname) for d in agent.deleted] == [
        ("net", CID, "eth0")
    ]


def test_cni_132_add_is_keyed_by_network_container_ifname(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("ADD", agent.conf(), name="net-a", netns=netns, args="K8S_POD_NAME=p", **KEY)
    assert agent.requests[0].body["key"] == {
        "network": "net-a",
        "container_id": CID,
        "ifname": "eth0",
    }


# --- DEL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "netns",
    [
        pytest.param("", id="empty"),
        pytest.param("/run/netns/does-not-exist", id="enoent"),
        pytest.param("/etc/hostname", id="not-nsfs"),
    ],
)
def test_cni_052_del_passes_any_netns_to_the_agent(
    plugin: Plugin, canned_agent: Callable[..., StubAgent], netns: str
) -> None:
    agent = canned_agent(404, {"code": 3, "msg": "unknown attachment"})
    run = plugin.run("DEL", agent.conf(), netns=netns, **KEY)
    assert agent.requests[0].body == {
        "key": {"network": "testnet", "container_id": CID, "ifname": "eth0"},
        "netns": netns,
    }
    assert (run.rc, run.stdout) == (0, "")


@pytest.mark.parametrize("cni_version", ["0.3.1", "1.0.0"])
def test_cni_053_del_without_prev_result(
    plugin: Plugin, canned_agent: Callable[..., StubAgent], cni_version: str
) -> None:
    agent = canned_agent(404, {"code": 3, "msg": "unknown attachment"})
    run = plugin.run("DEL", agent.conf(), cni_version=cni_version, **KEY)
    assert [r.path for r in agent.requests] == ["/v1/cni/del"]
    assert run.rc == 0


def test_cni_054_del_never_returns_code_3(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(404, {"code": 3, "msg": "container unknown"})
    runs = [plugin.run("DEL", agent.conf(), **KEY) for _ in range(3)]
    assert [(r.rc, r.stdout) for r in runs] == [(0, "")] * 3


def test_cni_054_del_with_agent_down_is_code_11(plugin: Plugin, no_agent: dict[str, Any]) -> None:
    run = plugin.run("DEL", no_agent, **KEY)
    assert (run.rc, run.out["code"]) == (1, 11)


def test_cni_054_del_with_silent_agent_is_code_11(plugin: Plugin, silent_agent: StubAgent) -> None:
    run = plugin.run("DEL", silent_agent.conf(agentTimeout=0.5), timeout=10, **KEY)
    assert (run.rc, run.out["code"]) == (1, 11)


def test_cni_055_del_with_runtime_config_and_same_conf_as_add(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(404, {"code": 3, "msg": "unknown attachment"})
    conf = agent.conf(capabilities={"portMappings": True}, mtu=1400)
    runtime = {"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "tcp"}]}
    run = plugin.run("DEL", conf, runtime_config=runtime, **KEY)
    assert run.rc == 0


# --- CHECK ---------------------------------------------------------------------


def test_cni_070_check_without_prev_result_fails(
    plugin: Plugin, netns: str, no_agent: dict[str, Any]
) -> None:
    run = plugin.run("CHECK", no_agent, netns=netns, **KEY)
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 7, "Required prevResult missing")


def test_cni_070_check_sends_prev_result_addresses(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "route 10.1.0.5/32 missing"})
    prev = {
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "fnabc"},
            {"name": "eth0", "sandbox": netns, "mac": "0a:58:0a:01:00:05"},
        ],
        "ips": [{"address": "10.1.0.5/32", "gateway": "169.254.1.1", "interface": 1}],
    }
    run = plugin.run(
        "CHECK", agent.conf(), netns=netns, cni_version="1.0.0", prev_result=prev, **KEY
    )
    assert agent.requests[0].body["ips"] == ["10.1.0.5/32"]
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 999, "route 10.1.0.5/32 missing")


def test_cni_071_check_fails_when_prev_result_lacks_our_addresses(
    plugin: Plugin, netns: str, no_agent: dict[str, Any]
) -> None:
    prev = {
        "interfaces": [{"name": "eth0", "sandbox": "/other"}],
        "ips": [{"address": "10.1.0.5/32", "interface": 0}],
    }
    run = plugin.run("CHECK", no_agent, netns=netns, prev_result=prev, **KEY)
    assert (run.rc, run.out["code"]) == (1, 999)


def test_cni_073_check_needs_the_add_parameters(plugin: Plugin, no_agent: dict[str, Any]) -> None:
    run = plugin.run("CHECK", no_agent, prev_result={"ips": []}, **KEY)
    assert (run.out["code"], run.out["msg"]) == (4, "required env variables [CNI_NETNS] missing")


# --- STATUS --------------------------------------------------------------------


def test_cni_080_status_with_agent_down_is_code_50(
    plugin: Plugin, no_agent: dict[str, Any]
) -> None:
    run = plugin.run("STATUS", no_agent)
    assert (run.rc, run.out["code"]) == (1, 50)


def test_cni_080_status_passes_limited_connectivity_51(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(503, {"code": 51, "msg": "BGP session down"})
    run = plugin.run("STATUS", agent.conf())
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 51, "BGP session down")


def test_cni_081_status_ignores_attachment_params_and_prev_result(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "boom"})
    run = plugin.run("STATUS", agent.conf(), container_id="", netns="", ifname="")
    assert [(r.method, r.body) for r in agent.requests] == [("GET", None)]
    assert run.out["code"] == 50


def test_cni_082_status_is_fast_with_a_silent_agent(
    plugin: Plugin, silent_agent: StubAgent
) -> None:
    run = plugin.run("STATUS", silent_agent.conf(agentTimeout=30), timeout=10)
    assert (run.rc, run.out["code"]) == (1, 50)
    # It gave up on its own short STATUS deadline, not the 30 s agentTimeout, while the
    # agent still held the request unanswered (behaviour, not a wall-time assertion).
    assert f"within {netconf.STATUS_TIMEOUT:g}s" in run.out["details"]
    assert netconf.STATUS_TIMEOUT < 30
    assert [r.path for r in silent_agent.requests] == ["/v1/cni/status"]


# --- GC ------------------------------------------------------------------------

VALID = [{"containerID": "abc", "ifname": "eth0"}, {"containerID": "def", "ifname": "net1"}]
VALID_KEYS = [
    {"network": "testnet", "container_id": "abc", "ifname": "eth0"},
    {"network": "testnet", "container_id": "def", "ifname": "net1"},
]


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param({"cni.dev/valid-attachments": VALID}, id="valid-attachments"),
        pytest.param({"cni.dev/attachments": VALID}, id="attachments-v1.1.0-tag"),
        pytest.param({"cni.dev/valid-attachments": VALID, "cni.dev/attachments": VALID}, id="both"),
    ],
)
def test_cni_100_gc_reads_either_key(
    plugin: Plugin, canned_agent: Callable[..., StubAgent], keys: dict[str, Any]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("GC", agent.conf(**keys))
    assert agent.requests[0].path == "/v1/cni/gc"
    assert agent.requests[0].body == {"network": "testnet", "valid": VALID_KEYS}


@pytest.mark.parametrize(
    ("keys", "warns"),
    [
        pytest.param(
            {"cni.dev/valid-attachments": None, "cni.dev/attachments": None}, False, id="null"
        ),
        pytest.param({"cni.dev/valid-attachments": []}, False, id="empty"),
        pytest.param({}, True, id="absent"),
    ],
)
def test_cni_101_null_empty_absent_mean_nothing_is_valid(
    plugin: Plugin, canned_agent: Callable[..., StubAgent], keys: dict[str, Any], warns: bool
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    run = plugin.run("GC", agent.conf(**keys))
    assert agent.requests[0].body == {"network": "testnet", "valid": []}
    assert any(line["level"] == "warning" for line in run.log_lines()) is warns


def test_cni_101_malformed_valid_set_is_code_7(plugin: Plugin, no_agent: dict[str, Any]) -> None:
    run = plugin.run("GC", {**no_agent, "cni.dev/valid-attachments": [{"containerID": 1}]})
    assert (run.rc, run.out["code"]) == (1, 7)


def test_cni_102_gc_error_is_reported(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "2 of 3 releases failed", "details": "x; y"})
    run = plugin.run("GC", agent.conf(**{"cni.dev/valid-attachments": []}))
    assert (run.rc, run.out["code"], run.out["details"]) == (1, 999, "x; y")


def test_cni_103_gc_without_attachment_env_and_agent_down(
    plugin: Plugin, no_agent: dict[str, Any]
) -> None:
    run = plugin.run("GC", {**no_agent, "cni.dev/valid-attachments": []})
    assert (run.rc, run.out["code"]) == (1, 11)


def test_cni_105_gc_is_scoped_to_the_network_name(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("GC", agent.conf(**{"cni.dev/valid-attachments": VALID}), name="net-b")
    body = agent.requests[0].body
    assert body["network"] == "net-b"
    assert {k["network"] for k in body["valid"]} == {"net-b"}
