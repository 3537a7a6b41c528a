"""Section 3 of the CNI checklist: the configuration on stdin."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cni import netconf
from cni.errors import CniError
from tests.cni.conftest import StubAgent
from tests.cni.harness import Plugin

CID = "c0ffee"
ADD: dict[str, Any] = {"container_id": CID, "ifname": "eth0"}


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param(b'{"cniVersion":', id="truncated"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"a":1} {"b":2}', id="two-documents"),
        pytest.param(b'{"mtu":NaN}', id="nan"),
        pytest.param(b"\xff", id="not-utf8"),
    ],
)
def test_cni_020_malformed_stdin_is_code_6(plugin: Plugin, netns: str, stdin: bytes) -> None:
    run = plugin.run("ADD", netns=netns, raw_stdin=stdin, **ADD)
    assert (run.rc, run.out["code"]) == (1, 6)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("-net", id="leading-dash"),
        pytest.param("my net", id="space"),
        pytest.param(7, id="number"),
    ],
)
def test_cni_021_invalid_name_is_code_7(plugin: Plugin, netns: str, name: Any) -> None:
    conf: dict[str, Any] = {"cniVersion": "1.1.0", "type": "x"}
    if name is not None:
        conf["name"] = name
    run = plugin.run("ADD", netns=netns, raw_stdin=json.dumps(conf).encode(), **ADD)
    assert (run.rc, run.out["code"], run.out["msg"]) == (1, 7, "missing or invalid network name")


def test_cni_022_reserved_and_unknown_keys_are_tolerated(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    conf = agent.conf(
        capabilities={"portMappings": True},
        args={"cni": {"labels": [], "ips": ["10.0.0.9"]}},
        ipam={"type": "host-local"},
        ipMasq=True,
        dns={},
        somethingNew={"x": 1},
        **{"cni.dev/foo": 1},
    )
    run = plugin.run(
        "ADD", conf, netns=netns, runtime_config={"portMappings": [{"hostPort": 80}]}, **ADD
    )
    assert [r.path for r in agent.requests] == ["/v1/cni/add"]
    assert run.out["msg"] == "canned"


def test_cni_023_runtime_config_is_accepted_and_ignored(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    conf = agent.conf(capabilities={"portMappings": True, "mac": False})
    runtime = {"portMappings": [{"hostPort": 8080}], "mac": "aa:bb:cc:dd:ee:ff"}
    run = plugin.run("ADD", conf, netns=netns, runtime_config=runtime, **ADD)
    assert run.out["msg"] == "canned"
    assert set(agent.requests[0].body) == {"key", "netns", "pod", "pool", "mtu"}


def test_cni_024_dns_block_is_validated_and_kept() -> None:
    text = json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "n",
            "dns": {"nameservers": ["10.96.0.10"], "search": [], "domain": "cluster.local"},
        }
    )
    conf = netconf.parse(text, command="ADD")
    assert conf.dns == {"nameservers": ["10.96.0.10"], "domain": "cluster.local"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("dns", [], id="dns-list"),
        pytest.param("dns", {"nameservers": "10.0.0.1"}, id="nameservers-str"),
        pytest.param("mtu", 40, id="mtu-small"),
        pytest.param("mtu", "1500", id="mtu-str"),
        pytest.param("mtu", True, id="mtu-bool"),
        pytest.param("pool", "", id="pool-empty"),
        pytest.param("agentSocket", "relative.sock", id="socket-relative"),
        pytest.param("agentTimeout", 0, id="timeout-zero"),
        pytest.param("agentTimeout", 1000, id="timeout-huge"),
        pytest.param("prevResult", [], id="prev-result-list"),
    ],
)
def test_cni_033_invalid_plugin_keys_are_code_7(key: str, value: Any) -> None:
    text = json.dumps({"cniVersion": "1.1.0", "name": "n", key: value})
    with pytest.raises(CniError) as caught:
        netconf.parse(text, command="ADD")
    assert caught.value.code == 7
    assert key in caught.value.details or key in caught.value.msg


def test_plugin_keys_reach_the_agent(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    plugin.run("ADD", agent.conf(mtu=1400, pool="blue"), netns=netns, **ADD)
    body = agent.requests[0].body
    assert (body["mtu"], body["pool"]) == (1400, "blue")


def test_cni_025_lenient_prev_result_for_del(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    prev = {"interfaces": [{"name": "eth0"}], "ips": [{"address": "10.1.0.5/32"}], "dns": {}}
    run = plugin.run("DEL", agent.conf(), netns=netns, prev_result=prev, **ADD)
    assert [r.path for r in agent.requests] == ["/v1/cni/del"]
    assert run.out["msg"] == "canned"


def test_cni_025_lenient_prev_result_for_check(
    plugin: Plugin, netns: str, canned_agent: Callable[..., StubAgent]
) -> None:
    agent = canned_agent(500, {"code": 999, "msg": "canned"})
    prev = {"interfaces": [{"name": "eth0"}], "ips": [{"address": "10.1.0.5/32"}], "dns": {}}
    plugin.run("CHECK", agent.conf(), netns=netns, prev_result=prev, **ADD)
    assert agent.requests[0].body["ips"] == ["10.1.0.5/32"]
