"""What runtimes and operators really do to a node: crashes, IPAM outages, bursts, lost state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from node_agent.podnet import host_ifname
from tests.node_agent.conftest import NODE_V4, icmp_echo, ip
from tests.node_agent.lab import (
    AgentProcess,
    IpamProcess,
    Pods,
    our_links,
    our_routes,
    pod_ips,
    wait_for,
)

pytestmark = [pytest.mark.privileged, pytest.mark.usefixtures("no_leaked_processes")]


def unicast_routes(pods: Pods) -> list[str]:
    return [r for r in our_routes(pods.agent.node) if not r.startswith("blackhole")]


def test_burst_of_100_parallel_adds_then_100_dels_leaves_nothing(pods: Pods) -> None:
    namespaces = [pods.netns() for _ in range(100)]
    ids = [uuid.uuid4().hex for _ in namespaces]

    def add(i: int) -> list[str]:
        run = pods.run("ADD", container_id=ids[i], netns=namespaces[i].path)
        assert run.rc == 0, run.stdout
        return pod_ips(run)

    def delete(i: int) -> int:
        return pods.run("DEL", container_id=ids[i], netns=namespaces[i].path).rc

    with ThreadPoolExecutor(100) as pool:
        addresses = [a for ips in pool.map(add, range(100)) for a in ips]
    assert len(set(addresses)) == 100
    assert len(our_links(pods.agent.node)) == 100
    assert icmp_echo(namespaces[0].path, addresses[99])
    with ThreadPoolExecutor(100) as pool:
        assert list(pool.map(delete, range(100))) == [0] * 100

    status = pods.agent.settle()
    assert status["allocations"] == []
    assert our_links(pods.agent.node) == set()
    assert unicast_routes(pods) == []
    assert all(b["used"] == 0 for b in status["blocks"])


@pytest.fixture
def graceless_pods(
    agent_factory: Callable[..., AgentProcess], pods_for: Callable[[AgentProcess], Pods]
) -> Pods:
    """Pods of a started agent that releases a vanished attachment at once (no grace)."""
    agent = agent_factory(release_grace=0)
    agent.start()
    return pods_for(agent)


def test_agent_killed_mid_add_then_restarted_keeps_no_duplicate_and_no_leak(
    graceless_pods: Pods, ipam: IpamProcess
) -> None:
    pods, agent = graceless_pods, graceless_pods.agent
    namespaces = [pods.netns() for _ in range(40)]
    ids = [uuid.uuid4().hex for _ in namespaces]
    with ThreadPoolExecutor(40) as pool:
        futures = [
            pool.submit(pods.run, "ADD", container_id=ids[i], netns=namespaces[i].path)
            for i in range(40)
        ]
        wait_for(lambda: len(our_links(agent.node)) >= 5, what="the first veths")
        agent.kill()
        runs = [f.result() for f in futures]
    succeeded = {ids[i]: pod_ips(r) for i, r in enumerate(runs) if r.rc == 0}
    failed = [ids[i] for i, r in enumerate(runs) if r.rc != 0]
    assert failed, "the kill came after every ADD finished; nothing was interrupted"
    assert all(r.out["code"] == 11 for r in runs if r.rc != 0)

    agent.start()  # start-up reconcile: release_grace=0 releases unfinished ADDs at once
    agent.reconcile()
    status = agent.settle()
    held = {a["container_id"]: a["ips"] for a in status["allocations"]}
    # Every ADD that succeeded is intact. A failed one may survive only if the agent
    # finished it and died before answering: then it is wired, and the runtime's DEL
    # after the failed ADD (CNI-042) removes it. Nothing half-done survives.
    assert {c: held[c] for c in succeeded} == succeeded
    assert set(held) - set(succeeded) <= set(failed)
    assert all(a["state"] == "wired" for a in status["allocations"])
    assert our_links(agent.node) == {host_ifname(c, "eth0") for c in held}
    routed = sorted(r.split()[0] for r in unicast_routes(pods))
    assert routed == sorted(a for ips in held.values() for a in ips)

    # the runtime DELs the failed pods, then retries them: no duplicate anywhere
    netns_of = {c: namespaces[ids.index(c)].path for c in failed}
    assert [pods.run("DEL", container_id=c, netns=netns_of[c]).rc for c in failed] == [0] * len(
        failed
    )
    retried = [pods.run("ADD", container_id=c, netns=netns_of[c]) for c in failed]
    assert [r.rc for r in retried] == [0] * len(failed), [r.stdout for r in retried if r.rc]
    everything = [a for ips in succeeded.values() for a in ips] + [pod_ips(r)[0] for r in retried]
    assert len(everything) == len(set(everything)) == 40
    agent.settle()
    for address in everything:
        history = ipam.history(address)
        assert [lease["end"] for lease in history].count(None) == 1, history


@pytest.fixture
def own_ipam(ipam_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpamProcess]:
    """An IPAM process this test may stop and start (same database, own port)."""
    service = IpamProcess(ipam_database, log_path=tmp_path_factory.mktemp("own-ipam") / "ipam.log")
    service.start()
    yield service
    service.stop()


def test_ipam_down_adds_still_succeed_and_the_outbox_drains_in_order_when_it_returns(
    agent_factory: Callable[..., AgentProcess],
    pods_for: Callable[[AgentProcess], Pods],
    own_ipam: IpamProcess,
) -> None:
    agent = agent_factory(ipam_url=own_ipam.url, pools=[own_ipam.pool()])
    agent.start()
    pods = pods_for(agent)
    wait_for(lambda: agent.status()["pools"][0]["free"] >= 8, what="the warm spare")
    own_ipam.stop()

    added = [pods.add(args=f"K8S_POD_NAMESPACE=shop;K8S_POD_NAME=p{i}") for i in range(6)]
    for ns, container_id, _ in added[:2]:
        assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert agent.status()["outbox"]["depth"] == 6 + 2
    wait_for(lambda: agent.status()["ipam"]["reachable"] is False, what="the outbox to fail")
    assert agent.status()["outbox"]["depth"] == 6 + 2
    assert pods.run("STATUS").rc == 0, "free addresses remain: the node can still serve ADD"
    assert icmp_echo(added[5][0].path, pod_ips(added[4][2])[0])

    own_ipam.start()
    wait_for(lambda: agent.status()["outbox"]["depth"] == 0, what="the outbox to drain")
    for i, (_, container_id, run) in enumerate(added):
        (address,) = pod_ips(run)
        (lease,) = own_ipam.history(address)
        assert (lease["container_id"], lease["pod_name"]) == (container_id, f"p{i}")
        assert (lease["end"] is not None) == (i < 2)
        assert lease["start"] < (lease["end"] or "9999")
    assert agent.status()["outbox"]["dead_letters"] == 0


def test_state_is_rebuilt_from_the_kernel_when_the_database_is_lost(
    pods: Pods, ipam: IpamProcess
) -> None:
    agent = pods.agent
    kept = [pods.add() for _ in range(3)]
    before = {a["container_id"]: a["ips"] for a in agent.settle()["allocations"]}
    agent.stop()
    for path in agent.state_dir.glob("agent.db*"):
        path.unlink()
    agent.start()

    rebuilt = {a["container_id"]: a["ips"] for a in agent.status()["allocations"]}
    assert rebuilt == before
    assert sorted(b["cidr"] for b in agent.status()["blocks"]) == ipam.held_blocks(agent.name)
    _, _, fresh = pods.add()
    assert pod_ips(fresh)[0] not in [a for ips in before.values() for a in ips]
    ns, container_id, _ = kept[0]
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    agent.settle()
    assert host_ifname(container_id, "eth0") not in our_links(agent.node)
    assert container_id not in {a["container_id"] for a in agent.allocations()}


def test_reconcile_releases_a_vanished_container_after_logging_it(
    graceless_pods: Pods, ipam: IpamProcess
) -> None:
    pods, agent = graceless_pods, graceless_pods.agent
    ns, container_id, run = pods.add(args="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=gone")
    _, survivor, _ = pods.add()
    ip("netns", "del", ns.name)  # the runtime lost the pod and never called DEL
    wait_for(
        lambda: host_ifname(container_id, "eth0") not in our_links(agent.node), what="veth gone"
    )

    report = agent.reconcile()
    assert report["released"] == 1
    agent.settle()
    assert [a["container_id"] for a in agent.allocations()] == [survivor]
    lines = [
        json.loads(line) for line in agent.log_path.read_text().splitlines() if line.startswith("{")
    ]
    (logged,) = [x for x in lines if x["msg"] == "releasing an attachment whose container is gone"]
    assert (logged["container_id"], logged["pod_name"]) == (container_id, "gone")
    (lease,) = ipam.history(pod_ips(run)[0])
    assert lease["close_reason"] == "reconcile: container gone"


def test_reconcile_deletes_orphaned_veths_but_not_foreign_links(pods: Pods) -> None:
    node = pods.agent.node
    orphan = host_ifname("ghost", "eth0")
    node.ip("link", "add", orphan, "type", "veth", "peer", "name", "ghost-peer")
    node.ip("link", "add", "fnnotours", "type", "veth", "peer", "name", "other-peer")
    _, keep, _ = pods.add()

    assert pods.agent.reconcile()["orphans_deleted"] == 1
    links = node.link_names()
    assert orphan not in links
    assert "fnnotours" in links
    assert host_ifname(keep, "eth0") in links


def test_sigterm_stops_gracefully_and_a_restart_loses_nothing(pods: Pods) -> None:
    ns, container_id, run = pods.add()
    assert pods.agent.stop() == 0
    assert not pods.agent.socket.exists()
    pods.agent.start()
    (row,) = pods.agent.allocations()
    assert (row["container_id"], row["ips"]) == (container_id, pod_ips(run))
    assert icmp_echo(ns.path, str(NODE_V4))
    assert pods.run("CHECK", container_id=container_id, netns=ns.path, prev_result=run.out).rc == 0
