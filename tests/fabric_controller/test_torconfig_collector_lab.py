"""The generated ToR config's route collector session, in real BIRD 2 and FRR 8.4, with the
controller's own collector (ExaBGP, passive, add-path) in a namespace on the rack's bridge.

The controller runs with its collector configured; the ToR runs
``GET /v1/racks/r1/tor-config`` unchanged; three nodes (two IPv4, one IPv6) take their
sessions from ``GET /v1/nodes/{name}/bgp`` and announce their blocks. The collector must
see every accepted block, with the announcing node as next hop, on the sessions the config
opened to it: one session carrying both families (an IPv4-only collector), or one per
family (a dual-stack collector, here with TCP MD5 as well).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabric_controller.config import ControllerSettings
from fabric_controller.drift.collector import Collector
from fabric_controller.drift.rib import TorView
from fabric_controller.drift.settings import CollectorSettings
from flatnet.lab import BareExabgp, LabSettings
from tests.fabric_controller import torconfig_lab as lab
from tests.fabric_controller.topology_fixtures import (
    claim,
    make_fabric,
    make_node,
    make_pool,
    make_rack,
    ok,
    tor,
)
from tests.need import need_binary

pytestmark = pytest.mark.privileged

SETTLE = 40.0
"""Upper bound for sessions to come up and paths to arrive (a bound, not a timing claim)."""
PASSWORD = "collector-md5"
NODES = {"node1": "10.10.0.11", "node2": "10.10.0.12", "node3": "fd00:10::13"}
COLLECTOR = {"v4": ("10.10.0.100/24",), "dual": ("10.10.0.100/24", "fd00:10::100/64")}
"""The collector's interfaces in its namespace, per variant."""


def collector_settings(variant: str, secrets_dir: Path) -> CollectorSettings:
    addresses = [a.split("/")[0] for a in COLLECTOR[variant]]
    tor_addresses = ["10.10.0.1"] if variant == "v4" else ["10.10.0.1", "fd00:10::1"]
    peer: dict[str, Any] = {"name": "tor1", "asn": 65000, "addresses": tor_addresses}
    if variant == "dual":
        (secrets_dir / "collector-md5").write_text(PASSWORD + "\n")
        peer["md5_password_file"] = str(secrets_dir / "collector-md5")
    return CollectorSettings.model_validate(
        {
            "enabled": True,
            "router_id": "10.10.0.100",
            "local_as": 65100,
            "listen_addresses": addresses,
            "tors": [peer],
            "pod_cidrs": ["10.244.0.0/16", "fd00:244::/48"],
            "sync_timeout_seconds": 10.0,
            "refresh_interval_seconds": 0,
            "restart_backoff_seconds": 0.2,
            "tor_connect_retry_seconds": 1,
            "tor_error_wait_seconds": 1,
            "tor_error_wait_max_seconds": 5,
        }
    )


@pytest.fixture(params=["v4", "dual"])
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def controller_settings(secrets_dir: Path, variant: str) -> ControllerSettings:
    """The package's settings, with the route collector configured (read by the renderer)."""
    return ControllerSettings(
        auth="off",
        database_url="unused",
        secrets_dir=secrets_dir,
        node_secrets_dir=Path("/etc/flatnet/secrets"),
        collector=collector_settings(variant, secrets_dir),
    )


async def build_rack(controller: httpx.AsyncClient, ipam: httpx.AsyncClient) -> dict[str, str]:
    """Rack r1 (one dual-stack ToR), three nodes with one block each; node -> its block."""
    await make_fabric(controller, "dc1", asn_range={"first": 4_200_000_001, "last": 4_200_000_100})
    await make_rack(controller, "r1", tors=(tor("tor1", 65000),))
    await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
    await make_pool(ipam, "pods6", "fd00:244::/48", prefixlen=64)
    blocks = {}
    for name, address in NODES.items():
        await make_node(ipam, name, address)
        blocks[name] = await claim(ipam, name, "pods6" if ":" in address else "pods4")
    return blocks


def paths_of(view: TorView) -> set[tuple[str, str]]:
    return {(str(p.prefix), str(p.next_hop)) for p in view.paths}


async def wait_view(collector: Collector, done: Any, what: Any) -> TorView:
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        views = collector.rib()
        if views and done(views[0]):
            return views[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting: {what()}")


@pytest.mark.parametrize("daemon", ["bird", "frr"])
async def test_collector_session_from_the_generated_config_receives_every_route(
    controller: httpx.AsyncClient,
    ipam: httpx.AsyncClient,
    controller_settings: ControllerSettings,
    tmp_path: Path,
    daemon: str,
    variant: str,
) -> None:
    lab.need_tor_daemon(daemon)
    settings = controller_settings.collector
    need_binary(str(settings.exabgp))
    blocks = await build_rack(controller, ipam)
    response = await controller.get("/v1/racks/r1/tor-config", params={"format": daemon})
    assert response.status_code == 200, response.text
    config = response.text
    sessions = 1 if variant == "v4" else 2
    marker = "neighbor 10.10.0.100" if daemon == "bird" else "neighbor 10.10.0.100 remote-as"
    assert config.count(marker) == 1
    assert (PASSWORD in config) is (variant == "dual")
    peerings = {n: ok(await controller.get(f"/v1/nodes/{n}/bgp")) for n in NODES}
    expected = {(blocks[n], address) for n, address in NODES.items()}

    with lab.lab_root() as root:
        lab_settings = LabSettings(state_root=root, name_prefix="tcc")
        with (
            lab.rack(lab_settings, nodes=len(NODES)) as plan,
            lab.controller_netns(plan, lab_settings, *COLLECTOR[variant]) as netns,
        ):
            collector = Collector(
                settings.model_copy(update={"netns": netns, "state_dir": tmp_path / "collector"})
            )
            tor_daemon = lab.start_tor(daemon, config, plan=plan, settings=lab_settings)
            speakers: dict[str, BareExabgp] = {}
            await collector.start()
            try:
                for name, peering in peerings.items():
                    speakers[name] = lab.speaker(
                        peering, node=plan.node(name), password=None, settings=lab_settings
                    )
                for name, bare in speakers.items():
                    bare.wait_up(1, limit=SETTLE)
                    bare.send(f"announce route {blocks[name]} next-hop self")
                view = await wait_view(
                    collector,
                    lambda v: paths_of(v) == expected and set(v.covered) == {4, 6},
                    lambda: f"rib={collector.rib()} fib={lab.fib(tor_daemon, lab_settings)}",
                )
            finally:
                for bare in speakers.values():
                    bare.stop()
                await collector.stop()
                tor_daemon.stop()
    assert [s.state for s in view.sessions] == ["up"] * sessions
    assert {p.as_path for p in view.paths} == {
        (65000, peerings[n]["local_as"]) for n in NODES
    }  # the ToR's AS, then the node's: nothing rewritten on the way
