"""The fabric end to end with BIRD as the ToR: real agents, IPAM, CNI plugin, pods.

One lab for the module (2 nodes, 1 pod each, plus pods the tests add). Tests that
disturb it (kill an agent or ExaBGP, restart the ToR, replace a node's speaker, drain a
node) put it back and wait for it to converge again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from flatnet.lab.errors import LabCommandError
from flatnet.lab.fabric import Fabric
from flatnet.lab.procs import Tracked
from tests.lab.fabric_harness import (
    SMALL,
    Pinger,
    check_block_route,
    check_cross_node,
    fabric_up,
    new_blocks,
    ping_ttl,
    pods_on,
    return_blocks,
    routes_from,
)
from tests.lab.harness import LIMIT, wait_for

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def fabric() -> Iterator[Fabric]:
    with fabric_up("bird") as made:
        yield made


def test_pods_on_different_nodes_reach_each_other_through_the_tor(fabric: Fabric) -> None:
    check_cross_node(fabric)


def test_session_state_shows_in_agent_status_metrics_and_ipam(fabric: Fabric) -> None:
    fabric.wait_converged()
    for name, agent in fabric.agents.items():
        doc = json.loads(agent.command("status", "-o", "json"))
        peers = {p["peer"]: p for p in doc["announcer"]["peers"]}
        assert set(peers) == {"10.10.0.1", "fd00:10::1"}
        assert doc["announcer"]["running"]
        counts = {4: 0, 6: 0}
        for block in doc["blocks"]:
            counts[ip_network(block["cidr"]).version] += 1
        for peer, family in (("10.10.0.1", 4), ("fd00:10::1", 6)):
            assert peers[peer]["state"] == "up"
            assert peers[peer]["prefixes_sent"] == counts[family]
            assert peers[peer]["prefixes_acknowledged"] == counts[family]
        table = agent.command("status")
        for peer in ("10.10.0.1", "fd00:10::1"):
            assert any(line.split()[:2] == [peer, "up"] for line in table.splitlines()), table
        metrics = agent.request("GET", "/metrics")
        assert 'flatnet_bgp_session_up{peer="10.10.0.1"} 1.0' in metrics
        assert f'flatnet_bgp_prefixes_acknowledged{{peer="fd00:10::1"}} {counts[6]}.0' in metrics
        assert "flatnet_bgp_exabgp_up 1.0" in metrics

        def reported(node: str = name, want: dict[int, int] = counts) -> bool:
            sessions = fabric.ipam.call("GET", f"/v1/nodes/{node}")["bgp_sessions"]
            got = {(s["peer"], s["state"], s["prefixes_acknowledged"]) for s in sessions}
            return got == {("10.10.0.1", "up", want[4]), ("fd00:10::1", "up", want[6])}

        wait_for(reported, f"IPAM to hold {name}'s sessions")


def test_the_route_follows_a_block_from_its_first_pod_to_its_return(fabric: Fabric) -> None:
    check_block_route(fabric)


@pytest.mark.parametrize("victim", ["agent", "exabgp"])
def test_a_killed_agent_or_exabgp_changes_no_route_and_loses_no_ping(
    fabric: Fabric, victim: str
) -> None:
    fabric.wait_converged()
    agent = fabric.agents["node1"]
    exabgp = agent.exabgp().resolve()
    src, dst = pods_on(fabric, "node2")[0], pods_on(fabric, "node1")[0]
    before = {b["cidr"] for b in agent.status()["blocks"]}
    pingers = [Pinger(src, address) for address in dst.ips]
    marker = None
    try:
        with fabric.lab.watch() as watch:
            if victim == "agent":
                fabric.kill_agent("node1")  # kill -9; the kernel SIGTERMs its ExaBGP
                wait_for(lambda: agent.exabgp().resolve() is None, "ExaBGP to follow its agent")
                fabric.start_agent("node1")
            else:
                fabric.kill_exabgp("node1")  # kill -9; the agent starts a new one
            wait_for(
                lambda: agent.exabgp().resolve() not in {None, exabgp}, "a new ExaBGP on node1"
            )
            fabric.wait_converged()
            wait_for(lambda: not fabric.lab.tor().restarting(), "the ToR to end graceful restart")
            # A new block of node1 is announced after its End-of-RIB: once its route is in
            # the FIB, every change the restart could have caused has been seen.
            marker = fabric.add_pod("node1", name=f"marker-{victim}", pool=SMALL)
            (block,) = new_blocks(fabric, "node1", before)
            assert watch.wait(lambda evs: any(e.prefix == block for e in evs), limit=LIMIT)
        changes = [(e.deleted, e.prefix) for e in watch.events(proto=fabric.lab.proto)]
        assert changes == [(False, block)], f"route changes at the ToR: {changes}"
    finally:
        reports = [p.stop() for p in pingers]
        if marker is not None:
            fabric.delete_pod(marker.name)
            return_blocks(fabric, "node1")
    for address, report in zip(dst.ips, reports, strict=True):
        assert report.sent > 10, f"{address}: the pinger barely ran"
        assert report.lost() == [], f"{address}: lost pings {report.lost()} of {report.sent}"


def test_routes_come_back_after_a_tor_restart_without_agent_action(fabric: Fabric) -> None:
    fabric.wait_converged()
    before = fabric.lab.routes()
    pids = {name: (fabric.lab.processes[f"agent-{name}"].resolve(), a.exabgp().resolve())
            for name, a in fabric.agents.items()}  # fmt: skip
    src, dst = pods_on(fabric, "node2")[0], pods_on(fabric, "node1")[0]
    fabric.lab.stop_tor()
    wait_for(lambda: fabric.lab.routes() == {}, "BIRD to take its routes along")
    assert not fabric.ping(src, dst.ip, wait=1)  # without the ToR's routes: no way through
    fabric.lab.start_tor()
    wait_for(lambda: fabric.lab.routes() == before, "the routes to come back")
    after = {name: (fabric.lab.processes[f"agent-{name}"].resolve(), a.exabgp().resolve())
             for name, a in fabric.agents.items()}  # fmt: skip
    assert after == pids  # no agent or ExaBGP was restarted to get there
    assert ping_ttl(src, dst.ip) == 61


def test_the_tor_rejects_prefixes_a_node_does_not_hold(fabric: Fabric) -> None:
    """node2's agent is stopped (graceful restart keeps its routes) and a bare ExaBGP takes
    its sessions, announcing node2's real blocks *after* a set of prefixes node2 does not
    hold: when the real ones are in the FIB, the others have been decided on."""
    fabric.wait_converged()
    node1, node2 = routes_from(fabric, "node1"), routes_from(fabric, "node2")
    v4 = next(p for p in node1 if "." in p)
    v6 = next(p for p in node1 if ":" in p)
    bad = [
        (str(next(ip_network(v4).subnets(new_prefix=27))), "self", "node1's pods, more specific"),
        ("10.244.0.0/16", "self", "a cover of both nodes' blocks"),
        ("10.99.0.0/26", "self", "outside every pool"),
        (v4, "10.10.0.11", "node1's block with node1 as third-party next hop"),
        ("10.244.128.0/26", "self", "inside the /28 pool, not a /28"),
        (str(next(ip_network(v6).subnets(new_prefix=80))), "self", "node1's IPv6 pods"),
        ("fd00:999::/64", "self", "IPv6 outside every pool"),
    ]
    fabric.stop_agent("node2")
    bare = fabric.lab.bare_speaker("node2", name="rogue")
    try:
        bare.start()
        assert bare.pid is not None
        fabric.lab.track(Tracked(name="rogue-node2", marker=str(bare.conf), pid=bare.pid))
        bare.wait_up(2, limit=LIMIT)
        for prefix, hop, _why in bad:
            session = "fd00:10::1" if ":" in prefix else "10.10.0.1"
            bare.send(f"neighbor {session} announce route {prefix} next-hop {hop}")
        for prefix in sorted(node2):
            session = "fd00:10::1" if ":" in prefix else "10.10.0.1"
            bare.send(f"neighbor {session} announce route {prefix} next-hop self")
        wait_for(lambda: routes_from(fabric, "node2") == node2, "node2's real blocks")
        assert fabric.lab.routes() == node1 | node2
        filtered = fabric.lab.tor().filtered()  # type: ignore[union-attr]
        assert {prefix for prefix, _, _ in bad} <= filtered
        acks = [
            ln.text for ln in bare.lines() if ln.direction == "IN" and ln.text in {"done", "error"}
        ]
        assert acks == ["done"] * (len(bad) + len(node2))  # all sent; the ToR said no
        assert ping_ttl(pods_on(fabric, "node1")[0], pods_on(fabric, "node2")[0].ip) == 61
    finally:
        bare.stop()
        fabric.start_agent("node2")
    fabric.wait_converged()
    wait_for(lambda: routes_from(fabric, "node2") == node2, "node2's agent to take over again")


def test_drain_withdraws_every_route_of_the_node_until_undrained(fabric: Fabric) -> None:
    """After ``flatnet agent drain`` the ToR has no route from the node, and a reconcile
    pass (which used to announce them all again) changes nothing; the drained node takes
    no new pod (CNI code 11) until ``flatnet agent undrain``."""
    fabric.wait_converged()
    node1, node2 = routes_from(fabric, "node1"), routes_from(fabric, "node2")
    assert node2
    agent = fabric.agents["node2"]
    before = {b["cidr"] for b in fabric.agents["node1"].status()["blocks"]}
    marker = None
    try:
        assert "withdrawn" in agent.command("drain")
        wait_for(lambda: routes_from(fabric, "node2") == {}, "node2's routes to go")
        assert routes_from(fabric, "node1") == node1
        assert not fabric.lab.tor().restarting()  # withdrawn, not kept stale
        src, dst = pods_on(fabric, "node1")[0], pods_on(fabric, "node2")[0]
        assert not fabric.ping(src, dst.ip, wait=1)
        with fabric.lab.watch() as watch:
            agent.command("reconcile")
            status = agent.status()
            assert (status["drained"], status["ready"]) == (True, False)
            assert status["announcer"]["announced"] == []
            assert "DRAINED" in agent.command("status")
            with pytest.raises(LabCommandError, match="'code': 11"):
                fabric.add_pod("node2", name="while-drained")
            # node1 takes a new block: once its route is in the ToR's FIB, whatever node2's
            # reconcile pass sent before has been seen too
            marker = fabric.add_pod("node1", name="drain-marker", pool=SMALL)
            (block,) = new_blocks(fabric, "node1", before)
            assert watch.wait(lambda evs: any(e.prefix == block for e in evs), limit=LIMIT)
        changes = [(e.deleted, e.prefix) for e in watch.events(proto=fabric.lab.proto)]
        assert changes == [(False, block)], f"route changes at the ToR: {changes}"
        assert "announced again" in agent.command("undrain")
        wait_for(lambda: routes_from(fabric, "node2") == node2, "node2's routes to come back")
        assert not agent.status()["drained"]
        assert ping_ttl(src, dst.ip) == 61
    finally:
        if marker is not None:
            fabric.delete_pod(marker.name)
            return_blocks(fabric, "node1")
        if agent.status()["drained"]:
            fabric.stop_agent("node2")  # a restart ends a drain too
            fabric.start_agent("node2")
    fabric.wait_converged()
    assert routes_from(fabric, "node1") == node1
