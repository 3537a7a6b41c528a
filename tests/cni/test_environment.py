"""Section 2 of the CNI checklist: the ``CNI_*`` environment parameters."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from cni import environ
from cni.contract import PodRef
from tests.cni.conftest import StubAgent
from tests.cni.harness import Plugin

CID = "0123456789abcdef" * 4


def test_cni_010_missing_env_lists_all_names(plugin: Plugin) -> None:
    run = plugin.exec({"CNI_COMMAND": "ADD"}, b'{"cniVersion":"1.1.0","name":"n"}')
    assert run.rc == 1
    assert run.out["code"] == 4
    assert run.out["msg"] == "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        pytest.param("ADD", "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME", id="add"),
        pytest.param("CHECK", "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME", id="check"),
        pytest.param("DEL", "CNI_CONTAINERID,CNI_IFNAME", id="del-netns-optional"),
    ],
)
def test_cni_010_empty_string_counts_as_missing(
    plugin: Plugin, no_agent: dict[str, Any], command: str, missing: str
) -> None:
    run = plugin.run(command, no_agent, prev_result={"cniVersion": "1.1.0"})
    assert run.out["code"] == 4
    assert f"[{missing}]" in run.out["msg"]


def test_cni_011_status_with_all_six_vars_empty_reaches_the_agent(
    plugin: Plugin, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(503, {"code": 50, "msg": "pool exhausted"})
    run = plugin.run("STATUS", agent.conf())
    assert [(r.method, r.path) for r in agent.requests] == [("GET", "/v1/cni/status")]
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 50, "pool exhausted")


def test_cni_012_cni_path_unset_is_fine(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": CID, "CNI_NETNS": netns, "CNI_IFNAME": "eth0"}
    stdin = (
        b'{"cniVersion":"1.1.0","name":"n","agentSocket":"%s"}' % str(agent.socket_path).encode()
    )
    run = plugin.exec(env, stdin)
    assert [r.path for r in agent.requests] == ["/v1/cni/add"]
    assert run.out["msg"] == "canned"


@pytest.mark.parametrize("command", ["FOO", "add", "VERSIONS"])
def test_cni_013_unknown_command_is_code_4(plugin: Plugin, command: str) -> None:
    run = plugin.run(command)
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 4, f"unknown CNI_COMMAND: {command}")


def test_cni_013_unset_command_prints_about_on_stderr(plugin: Plugin) -> None:
    run = plugin.exec({}, b"")
    assert (run.rc, run.stdout) == (0, "")
    assert "CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in run.stderr


@pytest.mark.parametrize(
    "container_id", ["-bad", "a b", ".dot", "x/y", "ü", "_under", "semi;colon"]
)
def test_cni_014_invalid_container_id_is_code_4(
    plugin: Plugin, netns: str, no_agent: dict[str, Any], container_id: str
) -> None:
    run = plugin.run("ADD", no_agent, container_id=container_id, netns=netns, ifname="eth0")
    assert (run.rc, run.out["code"]) == (1, 4)
    assert run.out["msg"] == "invalid characters in containerID"


@pytest.mark.parametrize(
    "container_id", [CID, "cnitool-0123456789abcdef0123", "default-c1", "a", "A_b.c-9"]
)
def test_cni_014_runtime_container_ids_are_valid(container_id: str) -> None:
    assert environ.is_valid_name(container_id)


@pytest.mark.parametrize(
    ("ifname", "problem"),
    [
        pytest.param("averyveryverylongname", "interface name is too long", id="too-long"),
        pytest.param("e" * 14 + "é", "interface name is too long", id="16-bytes-utf8"),
        pytest.param(".", "interface name is . or ..", id="dot"),
        pytest.param("..", "interface name is . or ..", id="dotdot"),
        pytest.param(
            "eth/0", "interface name contains / or : or whitespace characters", id="slash"
        ),
        pytest.param(
            "eth:0", "interface name contains / or : or whitespace characters", id="colon"
        ),
        pytest.param(
            "eth 0", "interface name contains / or : or whitespace characters", id="space"
        ),
        pytest.param("eth\t0", "interface name contains / or : or whitespace characters", id="tab"),
    ],
)
def test_cni_015_invalid_ifname_is_code_4(
    plugin: Plugin, netns: str, no_agent: dict[str, Any], ifname: str, problem: str
) -> None:
    run = plugin.run("ADD", no_agent, container_id=CID, netns=netns, ifname=ifname)
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 4, problem)


@pytest.mark.parametrize("ifname", ["eth0", "net1", "x" * 15, "vlan.100", "e"])
def test_cni_015_valid_ifnames(ifname: str) -> None:
    assert environ.ifname_problem(ifname) == ""


def test_cni_016_proc_pid_netns_is_passed_verbatim(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("ADD", agent.conf(), container_id=CID, netns=netns, ifname="eth0")
    assert agent.requests[0].body["netns"] == netns


def test_cni_016_relative_netns_is_refused(plugin: Plugin, no_agent: dict[str, Any]) -> None:
    run = plugin.run("ADD", no_agent, container_id=CID, netns="run/netns/x", ifname="eth0")
    assert (run.out["code"], run.out["msg"]) == (4, "CNI_NETNS must be an absolute path")


def test_cni_016_missing_netns_fails_add_with_code_8(
    plugin: Plugin, no_agent: dict[str, Any]
) -> None:
    run = plugin.run("ADD", no_agent, container_id=CID, netns="/run/netns/gone-x", ifname="eth0")
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 8, "failed to open netns")


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL"])
def test_cni_017_refuses_its_own_netns_with_code_8(
    plugin: Plugin, no_agent: dict[str, Any], command: str
) -> None:
    run = plugin.run(
        command,
        no_agent,
        container_id=CID,
        netns="/proc/self/ns/net",
        ifname="eth0",
        prev_result={"cniVersion": "1.1.0"},
    )
    assert (run.rc, run.out["code"]) == (1, 8)
    assert run.out["msg"] == "plugin must not be executed in the target netns"


def test_cni_017_refuses_another_path_to_its_own_netns(
    plugin: Plugin, no_agent: dict[str, Any]
) -> None:
    # The harness runs in the host netns, like the plugin: /proc/<our pid> is the same ns.
    own = f"/proc/{os.getpid()}/ns/net"
    run = plugin.run("ADD", no_agent, container_id=CID, netns=own, ifname="eth0")
    assert run.out["code"] == 8


SHUFFLED = [
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0;K8S_POD_UID=u-1;"
    "K8S_POD_INFRA_CONTAINER_ID=" + CID,
    "K8S_POD_UID=u-1;K8S_POD_INFRA_CONTAINER_ID=" + CID + ";K8S_POD_NAME=web-0;"
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1",
    ";;K8S_POD_NAME=podman-name;IgnoreUnknown=1;;K8S_POD_NAMESPACE=ns1;K8S_POD_UID=u-1;"
    "K8S_POD_NAME=web-0;",
    "K8S_POD_NAMESPACE=ns1;Unknown=x=y;K8S_POD_NAME=web-0;IP=10.0.0.5;K8S_POD_UID=u-1;junk",
]


@pytest.mark.parametrize("raw", SHUFFLED, ids=["containerd", "shuffled", "podman-dup", "unknown"])
def test_cni_018_cni_args_order_duplicates_unknown_keys(raw: str) -> None:
    assert environ.pod_ref(environ.parse_cni_args(raw)) == PodRef("ns1", "web-0", "u-1")


def test_cni_018_value_split_on_first_equals() -> None:
    assert environ.parse_cni_args("A=b=c;D=") == {"A": "b=c", "D": ""}


@pytest.mark.parametrize("raw", SHUFFLED[:3], ids=["containerd", "shuffled", "podman-dup"])
def test_cni_018_pod_ref_reaches_the_agent(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent], raw: str
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("ADD", agent.conf(), container_id=CID, netns=netns, ifname="eth0", args=raw)
    assert agent.requests[0].body["pod"] == {"namespace": "ns1", "name": "web-0", "uid": "u-1"}


def test_cni_019_no_k8s_args_degrades_to_key_only(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    run = plugin.run("ADD", agent.conf(), container_id="default-c1", netns=netns, ifname="eth0")
    body = agent.requests[0].body
    assert body["pod"] == {"namespace": "", "name": "", "uid": ""}
    assert body["key"] == {"network": "testnet", "container_id": "default-c1", "ifname": "eth0"}
    assert run.out["code"] == 999
