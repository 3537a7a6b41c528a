"""CNI checklist items that need a real node agent (``/work/shared/cni-conformance.md``).

The plugin-side halves are in ``tests/cni``; here the installed ``flatnet``
executable talks to a real agent process that wires real namespaces, with IPAM on
PostgreSQL behind it. Each test is named by its checklist item.

Not covered here: items that need a real runtime (CNI-003, CNI-004, CNI-023,
CNI-074, CNI-104: podman / ctr / libcni >= 1.2 clients are not part of this
suite) and items that do not apply (CNI-068: we are not a delegated IPAM;
CNI-126 and the delegate half of CNI-103: we do not delegate).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node_agent.podnet import host_ifname
from tests.cni.harness import Run
from tests.node_agent.conftest import NODE_V4, Netns, icmp_echo, ip
from tests.node_agent.lab import Pods, our_links, our_routes, pod_ips

pytestmark = [pytest.mark.privileged, pytest.mark.usefixtures("no_leaked_processes")]

VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def assert_clean(pods: Pods, container_id: str, *, ifname: str = "eth0") -> None:
    """No veth, no host route and no allocation left for the attachment."""
    agent = pods.agent
    agent.settle()
    name = host_ifname(container_id, ifname)
    assert name not in our_links(agent.node)
    assert not [r for r in our_routes(agent.node) if name in r]
    held = [(a["container_id"], a["ifname"]) for a in agent.allocations()]
    assert (container_id, ifname) not in held


def assert_wired(pods: Pods, ns: Netns, run: Run, *, ifname: str = "eth0") -> None:
    (address, *_) = pod_ips(run)
    assert f"inet {address}/32" in ns.ip("addr", "show", ifname)
    assert icmp_echo(ns.path, str(NODE_V4))


def test_cni_005_add_result_carries_the_requested_version(pods: Pods) -> None:
    for version in VERSIONS:
        _, _, run = pods.add(cni_version=version)
        assert run.out["cniVersion"] == version


@pytest.mark.parametrize("version", VERSIONS)
def test_cni_060_061_062_real_add_result_has_the_key_sets_of_its_version(
    pods: Pods, version: str
) -> None:
    _, _, run = pods.add(cni_version=version)
    result = run.out
    assert set(result) == {"cniVersion", "interfaces", "ips", "routes"}
    iface_keys = {"name", "mac", "sandbox"} | ({"mtu"} if version == "1.1.0" else set())
    host, pod = result["interfaces"]
    assert set(pod) == iface_keys
    assert set(host) == iface_keys - {"sandbox"}
    ip_keys = {"address", "gateway", "interface"} | ({"version"} if version < "1.0.0" else set())
    assert all(set(entry) == ip_keys for entry in result["ips"])
    assert all(set(route) == {"dst", "gw"} for route in result["routes"])


def test_cni_022_unknown_and_runtime_keys_are_tolerated(pods: Pods) -> None:
    conf = pods.conf(
        capabilities={"portMappings": True},
        args={"cni": {"labels": []}},
        ipMasq=True,
        ipam={"type": "none"},
    )
    conf["cni.dev/foo"] = 1
    ns, _, run = pods.add(conf=conf)
    assert_wired(pods, ns, run)


def test_cni_024_config_dns_is_copied_into_the_result(pods: Pods) -> None:
    conf = pods.conf(dns={"nameservers": ["10.96.0.10"], "search": ["svc.local"]})
    _, _, run = pods.add(conf=conf)
    assert run.out["dns"] == {"nameservers": ["10.96.0.10"], "search": ["svc.local"]}


def test_cni_030_add_prints_exactly_one_json_document(pods: Pods) -> None:
    _, _, run = pods.add(extra_env={"PYTHONWARNINGS": "always"})
    assert run.stdout.count("\n") == 1
    assert run.out["ips"]


def test_cni_040_add_creates_ifname_with_its_address_and_routes(pods: Pods) -> None:
    ns, _, run = pods.add()
    (address,) = pod_ips(run)
    assert f"inet {address}/32 scope global eth0" in ns.ip("addr", "show", "eth0")
    routes = ns.ip("route")
    assert "default via 169.254.1.1 dev eth0" in routes
    assert "169.254.1.1 dev eth0" in routes
    assert "169.254.1.1 dev eth0 lladdr" in ns.ip("neigh")
    assert icmp_echo(ns.path, str(NODE_V4)), "the node is unreachable through the gateway"


def test_cni_041_cni_110_second_add_of_the_same_attachment_fails_and_keeps_the_first(
    pods: Pods,
) -> None:
    ns, container_id, first = pods.add()
    again = pods.run("ADD", container_id=container_id, netns=ns.path)
    assert again.rc == 1
    assert "already wired" in again.out["msg"]
    assert_wired(pods, ns, first)
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)


def test_cni_042_cni_112_failure_after_allocation_rolls_everything_back(pods: Pods) -> None:
    ns = pods.netns()
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "x0")  # eth0 is taken
    container_id = uuid.uuid4().hex
    failed = pods.run("ADD", container_id=container_id, netns=ns.path)
    assert failed.rc == 1
    assert "already has a link named eth0" in failed.out["msg"]
    assert_clean(pods, container_id)
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)


def test_cni_043_cni_119_two_sandboxes_of_one_pod_do_not_collide(pods: Pods) -> None:
    args = "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_UID=u1"
    ns_a, id_a, _ = pods.add(args=args)
    ns_b, id_b, run_b = pods.add(args=args)
    assert pods.run("DEL", container_id=id_a, netns=ns_a.path, args=args).rc == 0
    assert_clean(pods, id_a)
    assert_wired(pods, ns_b, run_b)
    assert [a["container_id"] for a in pods.agent.allocations()] == [id_b]


def test_cni_045_cni_117_parallel_adds_get_distinct_addresses_then_parallel_dels(
    pods: Pods,
) -> None:
    namespaces = [pods.netns() for _ in range(20)]
    ids = [uuid.uuid4().hex for _ in namespaces]
    with ThreadPoolExecutor(20) as pool:
        adds = list(
            pool.map(
                lambda i: pods.run("ADD", container_id=ids[i], netns=namespaces[i].path), range(20)
            )
        )
    assert [r.rc for r in adds] == [0] * 20, [r.stdout for r in adds if r.rc]
    addresses = [pod_ips(r)[0] for r in adds]
    assert len(set(addresses)) == 20
    with ThreadPoolExecutor(20) as pool:
        dels = list(
            pool.map(
                lambda i: pods.run("DEL", container_id=ids[i], netns=namespaces[i].path), range(20)
            )
        )
    assert [r.rc for r in dels] == [0] * 20
    for container_id in ids:
        assert_clean(pods, container_id)


def test_cni_047_mtu_is_set_on_both_veth_ends(pods: Pods) -> None:
    ns, container_id, _ = pods.add(conf=pods.conf(mtu=1400))
    assert "mtu 1400" in ns.ip("link", "show", "eth0")
    assert "mtu 1400" in pods.agent.node.ip("link", "show", host_ifname(container_id, "eth0"))


def test_cni_050_del_undoes_everything(pods: Pods) -> None:
    ns, container_id, _ = pods.add()
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)
    assert "eth0" not in ns.link_names()


def test_cni_051_cni_111_repeated_del_and_del_without_add_succeed(pods: Pods) -> None:
    ns = pods.netns()
    fresh = uuid.uuid4().hex
    for _ in range(3):
        run = pods.run("DEL", container_id=fresh, netns=ns.path)
        assert (run.rc, run.stdout) == (0, "")
    _, container_id, _ = pods.add(ns)
    for _ in range(3):
        run = pods.run("DEL", container_id=container_id, netns=ns.path)
        assert (run.rc, run.stdout) == (0, "")
    assert_clean(pods, container_id)


@pytest.mark.parametrize("del_netns", ["old-path", "empty", "not-a-netns"])
def test_cni_052_cni_113_del_after_the_netns_is_gone(
    pods: Pods, del_netns: str, tmp_path: Path
) -> None:
    ns, container_id, _ = pods.add()
    ip("netns", "del", ns.name)
    netns = {"old-path": ns.path, "empty": "", "not-a-netns": str(tmp_path / "file")}[del_netns]
    (tmp_path / "file").write_text("")
    run = pods.run("DEL", container_id=container_id, netns=netns)
    assert (run.rc, run.stdout) == (0, "")
    assert_clean(pods, container_id)


def test_cni_053_cni_131_del_needs_no_prev_result_and_no_netns(pods: Pods) -> None:
    _, container_id, run = pods.add()
    assert run.out  # the runtime would cache it; DEL gets neither it nor the netns
    assert pods.run("DEL", container_id=container_id, netns="", cni_version="0.3.1").rc == 0
    assert_clean(pods, container_id)


def test_cni_055_del_with_the_add_config_and_runtime_config(pods: Pods) -> None:
    conf = pods.conf(capabilities={"portMappings": True})
    rc = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    ns, container_id, run = pods.add(conf=conf, runtime_config=rc)
    deleted = pods.run(
        "DEL",
        container_id=container_id,
        netns=ns.path,
        conf=conf,
        runtime_config=rc,
        prev_result=run.out,
    )
    assert deleted.rc == 0
    assert_clean(pods, container_id)


def test_cni_063_cni_064_cni_065_sandbox_interface_is_indexed_named_and_has_a_mac(
    pods: Pods,
) -> None:
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        forms = {"/run/netns/": pods.netns().path, "/proc/<pid>/ns/net": f"/proc/{proc.pid}/ns/net"}
        _wait_netns(forms["/proc/<pid>/ns/net"])
        for netns in forms.values():
            container_id = uuid.uuid4().hex
            run = pods.run("ADD", container_id=container_id, netns=netns)
            assert run.rc == 0, run.stdout
            sandbox = run.out["interfaces"][run.out["ips"][0]["interface"]]
            assert sandbox["name"] == "eth0"
            assert sandbox["sandbox"] == netns
            assert len(sandbox["mac"].split(":")) == 6
            assert sandbox["mac"] != "00:00:00:00:00:00"
            assert "sandbox" not in run.out["interfaces"][0]
            assert pods.run("DEL", container_id=container_id, netns=netns).rc == 0
    finally:
        proc.kill()
        proc.wait(timeout=5)


def _wait_netns(path: str) -> None:
    from tests.node_agent.lab import wait_for

    wait_for(lambda: os.path.exists(path) and os.readlink(path) != os.readlink("/proc/self/ns/net"))


def test_cni_071_a_missing_host_route_fails_check_until_repaired(pods: Pods) -> None:
    ns, container_id, run = pods.add()
    (address,) = pod_ips(run)
    check = lambda: pods.run("CHECK", container_id=container_id, netns=ns.path, prev_result=run.out)  # noqa: E731
    assert check().rc == 0
    pods.agent.node.ip("route", "del", f"{address}/32")
    failed = check()
    assert failed.rc == 1
    assert "host route" in failed.out["msg"]
    report = pods.agent.reconcile()
    assert report["routes_repaired"] == 1
    assert check().rc == 0


def test_cni_072_cni_073_cni_114_check_right_after_add_succeeds_silently(pods: Pods) -> None:
    ns, container_id, run = pods.add()
    checked = pods.run("CHECK", container_id=container_id, netns=ns.path, prev_result=run.out)
    assert (checked.rc, checked.stdout) == (0, "")


def test_cni_080_cni_082_status_is_ready_and_changes_nothing(pods: Pods) -> None:
    before = (our_links(pods.agent.node), our_routes(pods.agent.node), pods.agent.allocations())
    status = pods.run("STATUS")
    assert (status.rc, status.stdout) == (0, "")
    after = (our_links(pods.agent.node), our_routes(pods.agent.node), pods.agent.allocations())
    assert after == before


def test_cni_102_cni_115_gc_releases_what_is_not_valid(pods: Pods) -> None:
    ns_a, id_a, run_a = pods.add()
    _, id_b, _ = pods.add()
    gc_conf = pods.conf()
    gc_conf["cni.dev/valid-attachments"] = [{"containerID": id_a, "ifname": "eth0"}]
    assert pods.run("GC", conf=gc_conf).rc == 0
    assert_clean(pods, id_b)
    assert [a["container_id"] for a in pods.agent.allocations()] == [id_a]
    assert pods.run("CHECK", container_id=id_a, netns=ns_a.path, prev_result=run_a.out).rc == 0


def test_cni_105_gc_is_scoped_to_its_network(pods: Pods) -> None:
    _, id_a, _ = pods.add(name="net-a")
    _, id_b, _ = pods.add(name="net-b")
    gc_conf = pods.conf()
    gc_conf["cni.dev/valid-attachments"] = []
    assert pods.run("GC", conf=gc_conf, name="net-a").rc == 0
    assert [a["container_id"] for a in pods.agent.allocations()] == [id_b]
    assert_clean(pods, id_a)


def test_cni_116_gc_with_null_then_del(pods: Pods) -> None:
    ns, container_id, _ = pods.add()
    gc_conf = pods.conf()
    gc_conf["cni.dev/valid-attachments"] = None
    gc_conf["cni.dev/attachments"] = None
    assert pods.run("GC", conf=gc_conf).rc == 0
    assert pods.agent.allocations() == []
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)


def test_cni_118_two_attachments_in_one_container_are_independent(pods: Pods) -> None:
    ns, container_id, eth0 = pods.add()
    _, _, net1 = pods.add(ns, container_id=container_id, ifname="net1")
    assert pod_ips(eth0) != pod_ips(net1)
    assert pods.run("DEL", container_id=container_id, netns=ns.path, ifname="eth0").rc == 0
    assert_clean(pods, container_id, ifname="eth0")
    assert "net1" in ns.link_names()
    assert [a["ifname"] for a in pods.agent.allocations()] == ["net1"]


def test_cni_120_plugin_killed_mid_add_then_del_cleans(pods: Pods) -> None:
    ns = pods.netns()
    container_id = uuid.uuid4().hex
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": ns.path,
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "",
        "CNI_PATH": "",
    }
    import json

    stdin = json.dumps({**pods.conf(), "name": pods.network, "cniVersion": "1.0.0"}).encode()
    proc = subprocess.Popen(
        [str(pods.plugin.executable)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    from tests.node_agent.lab import wait_for

    wait_for(lambda: pods.agent.allocations(), what="the agent to allocate")
    proc.kill()
    proc.wait(timeout=5)
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)


def test_cni_130_every_teardown_step_tolerates_already_gone(pods: Pods) -> None:
    ns, container_id, run = pods.add()
    (address,) = pod_ips(run)
    node = pods.agent.node
    node.ip("route", "del", f"{address}/32")
    node.ip("link", "del", host_ifname(container_id, "eth0"))
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)


def test_ref_07_host_side_conventions(pods: Pods) -> None:
    """Host veth named from (container_id, ifname), /32 route scope link, blackhole per block."""
    _ns, container_id, run = pods.add()
    (address,) = pod_ips(run)
    name = host_ifname(container_id, "eth0")
    node = pods.agent.node
    assert f"{address} dev {name} proto 241 scope link" in node.ip("route")
    assert any(r.startswith("blackhole") for r in our_routes(node))
    sysctl = subprocess.run(
        ["ip", "netns", "exec", node.name, "cat", f"/proc/sys/net/ipv6/conf/{name}/accept_ra"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert sysctl == "0"
    assert f"alias {pods.network}/{container_id}/eth0" in node.ip("link", "show", name)


def test_cni_054_cni_080_del_and_status_with_the_agent_stopped(pods: Pods) -> None:
    ns, container_id, _ = pods.add()
    pods.agent.stop()
    run = pods.run("DEL", container_id=container_id, netns=ns.path)
    assert (run.rc, run.out["code"]) == (1, 11)
    status = pods.run("STATUS")
    assert (status.rc, status.out["code"]) == (1, 50)


def test_cni_072_cni_131_check_and_del_work_across_an_agent_restart(pods: Pods) -> None:
    ns, container_id, run = pods.add()
    pods.agent.stop()
    pods.agent.start()
    assert pods.run("CHECK", container_id=container_id, netns=ns.path, prev_result=run.out).rc == 0
    assert pods.run("DEL", container_id=container_id, netns=ns.path).rc == 0
    assert_clean(pods, container_id)
