"""``flatnet lab up | status | down`` as a user runs them: separate processes, the state file
in between, and nothing left behind at the end (no namespace, no veth, no process)."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from flatnet.lab.shell import alive, ip
from tests.lab.fabric_harness import need_fabric
from tests.lab.harness import processes_mentioning

pytestmark = pytest.mark.privileged

FLATNET = str(Path(sys.executable).with_name("flatnet"))
UP_TIMEOUT = 600.0


def flatnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLATNET, *args], capture_output=True, text=True, timeout=UP_TIMEOUT, check=False
    )


def host_links() -> set[str]:
    return {
        line.split(":")[1].strip().split("@")[0]
        for line in ip("-o", "link", timeout=30).splitlines()
    }


def lab_pids(doc: dict[str, Any]) -> list[int]:
    pids = [doc["ipam"]["pid"], doc["ipam"]["postgres_pid"]]
    for node in doc["nodes"]:
        pids += [node["agent_pid"], node["exabgp_pid"]]
    for tor in doc["tors"]:
        pids += list(tor["pids"].values())
    assert all(isinstance(p, int) for p in pids), pids
    return pids


def check_shape(doc: dict[str, Any]) -> None:
    assert {"lab", "state_file", "tor_kind", "tors", "ipam", "nodes", "pods", "routes"} <= set(doc)
    assert doc["tor_kind"] == "bird"
    assert [n["name"] for n in doc["nodes"]] == ["node1", "node2"]
    blocks = {}
    for node in doc["nodes"]:
        assert node["registered"] is True
        assert {s["peer"]: s["state"] for s in node["sessions"]} == {
            "10.10.0.1": "up",
            "fd00:10::1": "up",
        }
        blocks[node["name"]] = [ip_network(b) for b in node["blocks"]]
        for block in node["blocks"]:
            assert block in doc["routes"]
    assert sorted(p["name"] for p in doc["pods"]) == ["node1-pod1", "node2-pod1"]
    for pod in doc["pods"]:
        assert {"name", "netns", "netns_path", "node", "ip", "ips"} <= set(pod)
        assert Path(pod["netns_path"]).exists()
        assert any(ip_address(pod["ip"]) in b for b in blocks[pod["node"]])


def test_lab_up_status_and_down_leave_nothing_behind() -> None:
    need_fabric("bird")
    links_before = host_links()
    up = flatnet("lab", "up", "--nodes", "2", "--pods-per-node", "1", "-o", "json")
    assert up.returncode == 0, up.stderr
    name = json.loads(up.stdout)["lab"]
    try:
        status = flatnet("lab", "status", "--lab", name, "-o", "json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        check_shape(doc)
        pids = lab_pids(doc)
        table = flatnet("lab", "status", "--lab", name)
        assert "node1-pod1" in table.stdout
        assert "10.10.0.1:up" in table.stdout
        src, dst = doc["pods"]
        ping = ["ip", "netns", "exec", src["netns"], "ping", "-c", "1", "-W", "2", dst["ip"]]
        assert subprocess.run(ping, capture_output=True, timeout=30, check=False).returncode == 0
    finally:
        down = flatnet("lab", "down", "--lab", name)
    assert down.returncode == 0, down.stderr
    assert "is down" in down.stdout
    assert not [n for n in ip("netns", "list", timeout=30).split() if n.startswith(name)]
    # No veth of the lab ever appears in the host (both ends are born in their namespaces,
    # pod veths are made in the node's): nothing new that looks like ours is left there.
    ours = ("fn", "node", "eth", "br0", name)
    assert not {link for link in host_links() - links_before if link.startswith(ours)}
    for pid in pids:
        assert not alive(pid, marker=name)
        assert not alive(pid, marker=name, in_environ=True)
    assert not processes_mentioning(name)
    assert not Path(doc["state_file"]).parent.exists()
    again = flatnet("lab", "down", "--lab", name)  # idempotent
    assert again.returncode == 0, again.stderr
    assert "nothing to take down" in again.stdout


def test_status_of_an_unknown_lab_says_so() -> None:
    need_fabric("bird")
    result = flatnet("lab", "status", "--lab", "flnone0")
    assert result.returncode != 0
    assert "no lab 'flnone0'" in result.stderr
