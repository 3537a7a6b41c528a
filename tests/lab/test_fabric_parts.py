"""The lab's fabric pieces that need no root: settings, the agents' environment, pods,
finding a lab's state file and the status tables."""

from __future__ import annotations

import json
import os
import subprocess
import time
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import pytest

from flatnet.lab import LabError, LabPool, LabSettings, LabStateNotFound
from flatnet.lab import topology as topo
from flatnet.lab.agents import NodeAgent, env_value
from flatnet.lab.pods import Pod, new_pod
from flatnet.lab.procs import Tracked, read_pidfile
from flatnet.lab.report import find_state, render
from flatnet.lab.shell import exited
from node_agent.config import AgentSettings

V4 = LabPool(cidr=IPv4Network("10.244.0.0/17"), block_prefixlen=26)
V6 = LabPool(cidr=IPv6Network("fd00:244::/32"), block_prefixlen=64)
SMALL = LabPool(cidr=IPv4Network("10.244.128.0/24"), block_prefixlen=28, name="s", on_demand=True)


@pytest.mark.parametrize(
    "pools",
    [
        pytest.param([V4, V4.model_copy(update={"block_prefixlen": 27})], id="same-name"),
        pytest.param([SMALL], id="no-default-pool"),
        pytest.param([V4, V4.model_copy(update={"name": "other"})], id="two-default-v4"),
    ],
)
def test_pool_settings_the_agents_cannot_serve_are_refused(pools: list[LabPool]) -> None:
    with pytest.raises(ValueError, match="pool"):
        LabSettings(pools=pools)


def test_default_and_on_demand_pools() -> None:
    settings = LabSettings(pools=[V4, V6, SMALL])
    assert [p.ipam_name for p in settings.served_pools()] == ["lab-v4", "lab-v6"]
    assert [p.ipam_name for p in settings.on_demand_pools()] == ["s"]


def test_the_agent_environment_is_what_agent_settings_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab speaks to the agent through FLATNET_AGENT_*: the real AgentSettings must
    read back exactly what the lab meant."""
    settings = LabSettings(pools=[V4, V6, SMALL], agent_extra={"claim_timeout": 7})
    plan = topo.plan(settings, prefix="fltest1", nodes=2)
    node = plan.node("node2")
    agent = NodeAgent(
        node=node,
        directory=tmp_path / "node2",
        settings=settings,
        ipam_url="http://127.0.0.1:9",
        peers=[
            {"address": "10.10.0.1", "peer_as": 65000, "local_as": 65002,
             "local_address": "10.10.0.12", "families": ["ipv4 unicast"]},
        ],
    )  # fmt: skip
    agent.token_file.parent.mkdir(parents=True)
    agent.token_file.write_text("t\n")
    env = agent.environment()
    for key in [k for k in os.environ if k.startswith("FLATNET_AGENT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("FLATNET_AGENT_"):
            monkeypatch.setenv(key, value)
    read = AgentSettings()
    assert read.node_name == "node2"
    assert str(read.node_ip) == "10.10.0.12"
    assert read.asn == 65002
    assert read.pools == ["lab-v4", "lab-v6"]
    assert read.extra_pools == ["s"]
    assert read.host_netns == "/run/netns/fltest1-node2"
    assert read.metrics_listen is None
    assert read.claim_timeout == 7
    assert read.bgp.report_interval == settings.agent_bgp_report_interval
    assert [str(p.address) for p in read.bgp_peers] == ["10.10.0.1"]
    assert read.token() == "t"
    assert str(agent.state_dir) in env["FLATNET_AGENT_STATE_DIR"]  # its marker
    assert env_value(None) == "null"
    assert env_value("x") == "x"
    assert env_value([1]) == "[1]"


def test_a_pod_round_trips_through_the_state_file() -> None:
    pod = new_pod(name="node1-pod1", node="node1", netns="fl1-node1-pod1", pool="s")
    pod = Pod(**(pod.__dict__ | {"ips": ("fd00:244::1", "10.244.0.1")}))
    data = json.loads(json.dumps(pod.to_json()))
    assert data["netns_path"] == "/run/netns/fl1-node1-pod1"
    assert data["ip"] == "10.244.0.1"  # the IPv4 one, whatever the order
    assert Pod.from_json(data) == pod


def test_a_tracked_process_is_never_a_recycled_pid(tmp_path: Path) -> None:
    me = Tracked(name="me", marker="no-such-marker-anywhere", pid=os.getpid())
    assert me.resolve() is None
    pidfile = tmp_path / "x.pid"
    assert read_pidfile(pidfile) is None
    pidfile.write_text(f"{os.getpid()}\n/some/data/dir\n")
    assert read_pidfile(pidfile) == os.getpid()
    assert Tracked.from_json(me.to_json()) == me


def test_a_process_is_gone_only_once_it_has_exited() -> None:
    """Not ours is not the same as exited: a child still inside exec shows no environment."""
    me = Tracked(name="me", marker="no-such-marker-anywhere", pid=os.getpid(), in_environ=True)
    assert me.resolve() is None
    assert not me.gone()
    child = subprocess.Popen(["true"])
    try:
        for _ in range(500):  # exited, not yet reaped: a zombie
            if exited(child.pid):
                break
            time.sleep(0.01)
        assert Tracked(name="child", marker="true", pid=child.pid).gone()
    finally:
        child.wait()


def test_find_state(tmp_path: Path) -> None:
    settings = LabSettings(state_root=tmp_path)
    with pytest.raises(LabStateNotFound):
        find_state(settings, None)
    for name in ("fla", "flb"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text("{}")
    with pytest.raises(LabError, match="several labs"):
        find_state(settings, None)
    assert find_state(settings, "fla") == tmp_path / "fla" / "state.json"
    assert find_state(settings, str(tmp_path / "flb")) == tmp_path / "flb" / "state.json"
    with pytest.raises(LabStateNotFound):
        find_state(settings, "flc")


def test_status_tables() -> None:
    doc = {
        "lab": "fl1",
        "state_file": "/run/flatnet-lab/fl1/state.json",
        "tor_kind": "bird",
        "tors": [{"name": "tor1", "netns": "fl1-tor1", "address": ["10.10.0.1", "fd00:10::1"],
                  "asn": 65000, "running": True}],
        "ipam": {"url": "http://127.0.0.1:1", "pid": 5, "admin_token_file": "/x"},
        "nodes": [{"name": "node1", "netns": "fl1-node1", "address": ["10.10.0.11"],
                   "asn": 65001, "agent_pid": 7, "exabgp_pid": None, "blocks": ["10.244.0.0/26"],
                   "sessions": [], "error": "agent node1 GET /v1/status: refused"}],
        "pods": [{"name": "node1-pod1", "node": "node1", "ips": ["10.244.0.1"],
                  "netns_path": "/run/netns/fl1-node1-pod1"}],
        "routes": {"10.244.0.0/26": ["10.10.0.11"]},
    }  # fmt: skip
    text = render(doc)
    assert "node1-pod1" in text
    assert "refused" in text  # an agent that does not answer shows, it does not crash
    assert "10.244.0.0/26  10.10.0.11" in text
