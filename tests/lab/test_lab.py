"""The lab on the real kernel: namespaces, ToR daemons, state file, clean teardown."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from flatnet.lab import Lab, LabCommandError, LabDaemonError, LabSettings, LabStateNotFound
from flatnet.lab import topology as topo
from flatnet.lab.shell import ip
from tests.lab.harness import LIMIT, need_lab, processes_mentioning


def ping(netns: str, address: str) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", address],
        capture_output=True,
        timeout=LIMIT,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
def test_lab_up_wires_nodes_to_the_tor_and_runs_its_daemon(
    make_lab: Callable[..., Lab], tor_kind: str
) -> None:
    lab = make_lab(nodes=2, tor_kind=tor_kind)
    tor = lab.topology.tor(1)
    assert lab.tor().running()
    for node in lab.topology.nodes:
        addrs = ip("-n", node.netns, "-br", "addr", "show", "eth0", timeout=LIMIT)
        assert str(node.links[0].ipv4) in addrs
        assert str(node.links[0].ipv6) in addrs
        assert ping(node.netns, str(tor.ipv4.ip))
        assert ping(node.netns, str(tor.ipv6.ip))
    assert lab.routes() == {}  # no node has announced anything
    assert lab.state_file.is_file()


def test_a_dual_homed_lab_has_two_tors_and_two_uplinks_per_node(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(nodes=1, tors=2)
    node = lab.topology.node("node1")
    assert ping(node.netns, str(lab.topology.tor(2).ipv4.ip))
    assert lab.tor(2).running()
    routes = ip("-n", node.netns, "route", "show", "default", timeout=LIMIT)
    assert "nexthop via 10.10.0.1" in routes
    assert "nexthop via 10.10.1.1" in routes


def test_a_lab_is_found_again_from_its_state_file_and_taken_down() -> None:
    need_lab()
    lab = Lab.up(LabSettings(), nodes=1)
    try:
        again = Lab.load(lab.state_file)
        assert again.topology == lab.topology
        assert again.tor().running()
        assert again.tor().pids() == lab.tor().pids()
    finally:
        Lab.load(lab.state_file).down()
    namespaces = ip("netns", "list", timeout=LIMIT)
    assert not any(ns in namespaces for ns in lab.topology.namespaces())
    assert not lab.directory.exists()
    assert not processes_mentioning(str(lab.directory))


def test_loading_a_missing_state_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(LabStateNotFound):
        Lab.load(tmp_path / "state.json")


def test_a_tor_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    need_lab("frr")
    settings = LabSettings(frr_dir=tmp_path / "no-frr-here", daemon_start_timeout=2)
    before = set(ip("netns", "list", timeout=LIMIT).split())
    with pytest.raises(LabDaemonError):
        Lab.up(settings, nodes=1, tor_kind="frr")
    after = set(ip("netns", "list", timeout=LIMIT).split())
    assert {ns for ns in after - before if ns.startswith(settings.name_prefix)} == set()


def test_stopping_and_starting_the_tor(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(nodes=1)
    first = lab.tor().pids()["bird"]
    lab.stop_tor()
    assert not lab.tor().running()
    lab.start_tor()
    assert lab.tor().running()
    assert lab.tor().pids()["bird"] != first


def test_route_watch_sees_changes_of_one_protocol_only(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(nodes=1)
    ns = lab.topology.tor(1).netns
    with lab.watch() as watch:
        ip("-n", ns, "route", "add", "10.244.7.0/26", "via", "10.10.0.11", "proto", "bird",
           timeout=LIMIT)  # fmt: skip
        ip("-n", ns, "route", "add", "10.244.8.0/26", "via", "10.10.0.11", timeout=LIMIT)
        ip("-n", ns, "route", "del", "10.244.7.0/26", timeout=LIMIT)
        assert watch.wait(
            lambda evs: sum(e.prefix == "10.244.7.0/26" for e in evs) == 2, limit=LIMIT
        )
    events = watch.events(proto="bird")
    assert [(e.deleted, e.prefix) for e in events] == [
        (False, "10.244.7.0/26"),
        (True, "10.244.7.0/26"),
    ]
    assert events[0].at <= events[1].at


def test_a_name_taken_by_someone_else_fails_creation_and_is_left_alone() -> None:
    need_lab()
    settings = LabSettings()
    plan = topo.plan(settings, prefix=topo.new_prefix(settings), nodes=1)
    theirs = plan.node("node1").netns
    ip("netns", "add", theirs, timeout=LIMIT)  # another run's namespace
    try:
        with pytest.raises(LabCommandError):
            topo.create(plan, timeout=LIMIT)
        present = ip("netns", "list", timeout=LIMIT)
        assert theirs in present
        assert plan.tor(1).netns not in present  # ours, made before the clash: removed
    finally:
        ip("netns", "del", theirs, timeout=LIMIT)
