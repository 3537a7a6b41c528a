"""Route drift end to end: a BIRD ToR, bare ExaBGP nodes, the collector in its own netns,
the real IPAM on PostgreSQL, the report through ``GET /v1/drift``.

The nodes are bare ExaBGP speakers (flatnet.lab) so the test can announce exactly what a
broken or malicious agent would: nothing for a held block, a block IPAM never gave out,
a block after its release.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from fabric_controller.drift.collector import Collector
from fabric_controller.drift.schemas import DriftReport
from fabric_controller.drift.service import DriftService
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.ipamclient import IpamClient
from tests.fabric_controller.drift_fixtures import DriftLab, drift_app, drift_lab
from tests.fabric_controller.topology_fixtures import claim, make_node, make_pool, ok
from tests.need import need_binary, need_root

pytestmark = pytest.mark.privileged
WAIT_SECONDS = 30.0


def _need_lab() -> None:
    need_root()
    for program in ("ip", "bird", "birdc"):
        need_binary(program)
    need_binary(str(CollectorSettings().exabgp))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[DriftLab]:
    _need_lab()
    with drift_lab(tmp_path) as built:
        yield built


@pytest.fixture
async def drift_ipam(ipam_transport: httpx.ASGITransport) -> AsyncIterator[IpamClient]:
    client = IpamClient("http://ipam", transport=ipam_transport, page_limit=2)
    yield client
    await client.aclose()


@pytest.fixture
async def collector(lab: DriftLab) -> AsyncIterator[Collector]:
    running = Collector(lab.collector_settings())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def service(lab: DriftLab, collector: Collector, drift_ipam: IpamClient) -> DriftService:
    settings = lab.collector_settings()
    return DriftService(settings, ipam=drift_ipam, rib=collector, metrics=collector.metrics)


@pytest.fixture
async def api(service: DriftService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=drift_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as client:
        yield client


Rows = set[tuple[str, str | None, str]]


def rows(report: DriftReport) -> Rows:
    return {(e.kind, e.node, str(e.prefix)) for e in report.entries}


async def settle(
    service: DriftService, done: Callable[[DriftReport], bool], what: str
) -> DriftReport:
    """Recompute the report until ``done`` holds (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    report = await service.report()
    while not done(report) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        report = await service.report()
    assert done(report), f"{what}: still {sorted(rows(report), key=str)}"
    return report


async def test_missing_rogue_stale_then_all_clear(
    lab: DriftLab, service: DriftService, ipam: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
    await make_node(ipam, "node1", str(lab.node_address("node1")), rack=None)
    await make_node(ipam, "node2", str(lab.node_address("node2")), rack=None)
    announced1 = await claim(ipam, "node1", "pods4")
    suppressed = await claim(ipam, "node1", "pods4")  # held, never announced
    block2 = await claim(ipam, "node2", "pods4")
    injected = "10.244.200.0/26"  # IPAM never gave it out
    lab.announce("node1", announced1)
    lab.announce("node2", block2)
    lab.announce("node2", injected)

    first = await settle(
        service,
        lambda r: (
            r.complete
            and rows(r) == {("missing", "node1", suppressed), ("rogue", "node2", injected)}
        ),
        "missing and rogue",
    )
    # The same through the HTTP API, filtered.
    body = ok(await api.get("/v1/drift", params={"kind": "rogue"}))
    assert [(e["kind"], e["node"], e["tor"], e["prefix"]) for e in body["entries"]] == [
        ("rogue", "node2", "tor1", injected)
    ]
    assert body["counts"] == {"missing": 1, "rogue": 1, "stale": 0, "next-hop-mismatch": 0}

    # node2's block is released in IPAM; its ExaBGP keeps announcing it.
    ok(await ipam.delete(f"/v1/nodes/node2/blocks/{block2}", params={"force": "true"}))
    report = await settle(
        service, lambda r: ("stale", "node2", block2) in rows(r), "stale after release"
    )
    since = {(e.kind, str(e.prefix)): e.since for e in first.entries}
    again = {(e.kind, str(e.prefix)): e.since for e in report.entries}
    assert again[("missing", suppressed)] == since[("missing", suppressed)]
    assert again[("rogue", injected)] == since[("rogue", injected)]

    # Fixed: node1 announces its block, node2 stops announcing what it does not hold.
    lab.announce("node1", suppressed)
    lab.withdraw("node2", injected)
    lab.withdraw("node2", block2)
    await settle(service, lambda r: r.entries == [], "all clear")
    registry = service.metrics.registry
    for kind in ("missing", "rogue", "stale", "next-hop-mismatch"):
        assert registry.get_sample_value("flatnet_drift_entries", {"kind": kind}) == 0


async def test_deleted_node_still_announcing_is_stale(
    lab: DriftLab, service: DriftService, ipam: httpx.AsyncClient
) -> None:
    await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
    await make_node(ipam, "node1", str(lab.node_address("node1")), rack=None)
    block = await claim(ipam, "node1", "pods4")
    lab.announce("node1", block)
    await settle(service, lambda r: r.complete and r.entries == [], "clean start")

    ok(await ipam.delete("/v1/nodes/node1", params={"reason": "node object gone"}))
    report = await settle(service, lambda r: rows(r) == {("stale", "node1", block)}, "stale")
    assert report.entries[0].detail == "announced by a deleted node"
    assert report.entries[0].next_hop == lab.node_address("node1")

    lab.withdraw("node1", block)
    await settle(service, lambda r: r.entries == [], "routes gone")


async def test_collector_restart_rebuilds_the_view(
    lab: DriftLab, collector: Collector, service: DriftService, ipam: httpx.AsyncClient
) -> None:
    await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
    await make_node(ipam, "node1", str(lab.node_address("node1")), rack=None)
    block = await claim(ipam, "node1", "pods4")
    lab.announce("node1", block)
    await settle(service, lambda r: r.complete and r.entries == [], "clean start")

    status = collector.status()
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)  # our own child, by PID
    await settle(
        service,
        lambda r: collector.status().starts == status.starts + 1 and r.complete,
        "restarted and complete again",
    )
    final = await service.report()
    assert final.entries == []
    assert final.tors[0].paths == 1


@pytest.fixture
def agent_lab(tmp_path: Path) -> Iterator[DriftLab]:
    """node1 runs the node agent's own speaker; node2 a bare ExaBGP."""
    _need_lab()
    with drift_lab(tmp_path, bare=["node2"]) as built:
        yield built


async def test_agent_speaker_suppressed_then_deleted_node_then_drained(
    agent_lab: DriftLab, drift_ipam: IpamClient, ipam: httpx.AsyncClient
) -> None:
    """The agent's speaker: a block left out of its sync is missing; the node deleted in IPAM
    while the speaker still announces is stale; the agent's drain clears it all."""
    lab = agent_lab
    collector = Collector(lab.collector_settings())
    speaker = lab.agent_speaker("node1")
    service = DriftService(
        lab.collector_settings(), ipam=drift_ipam, rib=collector, metrics=collector.metrics
    )
    await collector.start()
    await speaker.start()
    try:
        await make_pool(ipam, "pods4", "10.244.0.0/16", prefixlen=26)
        await make_node(ipam, "node1", str(lab.node_address("node1")), rack=None)
        b1 = await claim(ipam, "node1", "pods4")
        b2 = await claim(ipam, "node1", "pods4")
        await speaker.sync([ip_network(b1)])  # b2 suppressed
        await settle(service, lambda r: rows(r) == {("missing", "node1", b2)}, "missing")
        await speaker.sync([ip_network(b1), ip_network(b2)])
        await settle(service, lambda r: r.entries == [], "clean")

        ok(await ipam.delete("/v1/nodes/node1", params={"reason": "node object gone"}))
        await settle(
            service,
            lambda r: rows(r) == {("stale", "node1", b1), ("stale", "node1", b2)},
            "stale after the node's deletion",
        )
        await speaker.drain()
        await settle(service, lambda r: r.entries == [], "drained")
    finally:
        await speaker.stop()
        await collector.stop()
