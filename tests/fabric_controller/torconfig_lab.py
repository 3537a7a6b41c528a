"""A rack in network namespaces whose ToR runs the controller's generated config unchanged.

Built from the fabric lab's pieces (:mod:`flatnet.lab`): the namespaces and veths of
``topology``, a BIRD or FRR ToR from ``tor``, and a bare ExaBGP per node that can
announce anything, rightful or not. The ToR config and each node's session come from
the controller's API, so the test checks the generated config end to end.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path
from typing import Any

from flatnet.lab import BareExabgp, BareNeighbor, BirdTor, FrrTor, LabSettings, kernel_routes
from flatnet.lab import topology as topo
from flatnet.lab.shell import ip
from flatnet.lab.tor import KERNEL_PROTOS
from tests.need import need_binary, need_root

POLL = 0.1


def need_tor_daemon(kind: str) -> None:
    """Root, and the daemon ``kind`` ('bird' or 'frr') with its control client."""
    need_root()
    need_binary("bird" if kind == "bird" else "/usr/lib/frr/bgpd")
    need_binary("birdc" if kind == "bird" else "vtysh")


@contextlib.contextmanager
def lab_root() -> Iterator[Path]:
    """A state directory FRR (running as ``frr``) can reach; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="flatnet-torcfg-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def rack(settings: LabSettings, *, nodes: int) -> Iterator[topo.Topology]:
    """One ToR namespace and ``nodes`` node namespaces (unique names); deleted afterwards."""
    plan = topo.plan(settings, prefix=topo.new_prefix(settings), nodes=nodes)
    topo.create(plan, timeout=settings.command_timeout)
    try:
        yield plan
    finally:
        topo.destroy(plan, timeout=settings.command_timeout)


@contextlib.contextmanager
def controller_netns(plan: topo.Topology, settings: LabSettings, *addresses: str) -> Iterator[str]:
    """A namespace for the controller on the ToR's bridge (like a node without pods), with
    ``addresses`` (interfaces, e.g. ``10.10.0.100/24``); deleted afterwards."""
    tor = plan.tor(1)
    netns = f"{plan.prefix}-ctl"
    timeout = settings.command_timeout
    ip("netns", "add", netns, timeout=timeout)
    try:
        ip("-n", netns, "link", "set", "lo", "up", timeout=timeout)
        ip(
            "-n", tor.netns, "link", "add", "ctl", "type", "veth",
            "peer", "name", "eth0", "netns", netns, timeout=timeout,
        )  # fmt: skip
        ip("-n", tor.netns, "link", "set", "ctl", "master", tor.bridge, "up", timeout=timeout)
        for address in addresses:
            # nodad: usable at once, so ExaBGP can listen on it straight away.
            extra = ["nodad"] if ":" in address else []
            ip("-n", netns, "addr", "add", address, "dev", "eth0", *extra, timeout=timeout)
        ip("-n", netns, "link", "set", "eth0", "up", timeout=timeout)
        yield netns
    finally:
        ip("netns", "del", netns, timeout=timeout, check=False)


def start_tor(
    kind: str, config: str, *, plan: topo.Topology, settings: LabSettings
) -> BirdTor | FrrTor:
    """The ToR daemon on ``config`` exactly as the controller rendered it."""
    directory = settings.state_root / f"tor-{kind}"
    netns = plan.tor(1).netns
    if kind == "bird":
        bird = BirdTor(netns=netns, directory=directory, settings=settings)
        bird.write_config(config)
        bird.start()
        return bird
    frr = FrrTor(netns=netns, directory=directory, settings=settings)
    frr.write_config(f"hostname tor-zebra\nlog file {directory / 'zebra.log'}\n", config)
    frr.start()
    # Observability only (not config): log every inbound update and why it was denied.
    frr.vtysh("configure terminal", f"log file {directory / 'bgpd.log'} debugging")
    frr.vtysh("debug bgp updates in")
    return frr


def speaker(
    peering: dict[str, Any], *, node: topo.NodePlan, password: str | None, settings: LabSettings
) -> BareExabgp:
    """A bare ExaBGP in the node's namespace with the sessions the controller gave it."""
    neighbors = [
        BareNeighbor(
            peer=ip_address(p["address"]),
            local=ip_address(p["local_address"]),
            router_id=IPv4Address(p["router_id"] or node.links[0].ipv4.ip),
            local_as=p["local_as"],
            peer_as=p["peer_as"],
            families=tuple(f.removesuffix(" unicast") for f in p["families"]),
            password=password if p["md5_password_file"] else None,
            graceful_restart=p["graceful_restart"],
            hold_time=p["hold_time"],
        )
        for p in peering["peers"]
    ]
    bare = BareExabgp(
        netns=node.netns,
        directory=settings.state_root / node.name,
        neighbors=neighbors,
        settings=settings,
    )
    bare.start()
    return bare


def fib(tor: BirdTor | FrrTor, settings: LabSettings) -> dict[str, set[str]]:
    proto = KERNEL_PROTOS["bird" if isinstance(tor, BirdTor) else "frr"]
    return kernel_routes(tor.netns, proto=proto, timeout=settings.command_timeout)


def frr_log(tor: FrrTor) -> str:
    try:
        return (tor.directory / "bgpd.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def refused(tor: BirdTor | FrrTor) -> set[str]:
    """Prefixes the ToR received and its import policy refused."""
    if isinstance(tor, BirdTor):
        return tor.filtered()
    found: set[str] = set()
    for line in frr_log(tor).splitlines():
        if "DENIED due to: route-map" in line:
            found.update(w for w in line.split() if _is_prefix(w))
    return found


def _is_prefix(word: str) -> bool:
    try:
        ip_network(word)
    except ValueError:
        return False
    return "/" in word


def wait_for(check: Callable[[], bool], *, limit: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL)
    raise AssertionError(f"timed out waiting: {what()}")
