"""The drift service: IPAM reads, scope, history only when needed, memory, metrics."""

from __future__ import annotations

import asyncio

import pytest

from fabric_controller.drift.errors import IpamReadError
from fabric_controller.drift.metrics import DriftMetrics
from fabric_controller.drift.service import DriftService
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.errors import UpstreamError
from tests.fabric_controller.drift_fixtures import (
    POOL4,
    T0,
    FakeClock,
    FakeIpam,
    StaticRib,
    block_read,
    node_read,
    path,
    tor_view,
)

B1 = "10.244.1.0/26"
B2 = "10.244.1.64/26"


def make(ipam: FakeIpam, rib: StaticRib, clock: FakeClock | None = None) -> DriftService:
    settings = CollectorSettings(tors=[{"name": "tor1", "asn": 65000, "addresses": ["10.10.0.1"]}])
    return DriftService(
        settings, ipam=ipam, rib=rib, metrics=DriftMetrics(), clock=clock or FakeClock()
    )


def sample(service: DriftService, name: str, **labels: str) -> float | None:
    return service.metrics.registry.get_sample_value(name, labels)


async def test_clean_fabric_reads_no_history_and_sets_the_scope() -> None:
    ipam = FakeIpam(nodes=[node_read("node1", "10.10.0.11", block_read(B1, "node1"))])
    rib = StaticRib([tor_view(path(B1, "10.10.0.11"))])
    report = await make(ipam, rib).report()
    assert report.entries == []
    assert report.complete
    assert report.counts == {"missing": 0, "rogue": 0, "stale": 0, "next-hop-mismatch": 0}
    assert ipam.calls == ["pools", "nodes"]
    assert rib.scope == [POOL4]
    assert report.tors[0].paths == 1


async def test_unexplained_prefix_reads_released_blocks() -> None:
    ipam = FakeIpam(
        nodes=[node_read("node1", "10.10.0.11")],
        released=[
            block_read(B1, "node1", released_at=T0 - 100),
            block_read(B2, "node1", released_at=T0 - 50),
        ],
    )
    rib = StaticRib([tor_view(path(B1, "10.10.0.11"))])
    report = await make(ipam, rib).report()
    assert ipam.calls == ["pools", "nodes", "released"]
    assert [(e.kind, e.node, str(e.prefix)) for e in report.entries] == [("stale", "node1", B1)]
    assert report.entries[0].since.timestamp() == T0 - 100


async def test_a_deleted_node_is_remembered() -> None:
    """node3 is known from an earlier report; once deleted, its next hop still names it."""
    ipam = FakeIpam(nodes=[node_read("node3", "10.10.0.13", block_read(B1, "node3"), asn=65003)])
    rib = StaticRib([tor_view(path(B1, "10.10.0.13", as_path=(65000, 65003)))])
    service = make(ipam, rib)
    assert (await service.report()).entries == []
    ipam.nodes = []
    rib.views = [tor_view(path("10.244.9.0/26", "10.10.0.13", as_path=(65000, 65003)))]
    report = await service.report()
    assert [(e.kind, e.node, e.detail) for e in report.entries] == [
        ("stale", "node3", "announced by a deleted node")
    ]


async def test_since_survives_reports_and_metrics_follow() -> None:
    clock = FakeClock()
    ipam = FakeIpam(nodes=[node_read("node1", "10.10.0.11", block_read(B1, "node1"))])
    rib = StaticRib([tor_view()])
    service = make(ipam, rib, clock)
    first = await service.report()
    clock.now += 30
    second = await service.report()
    assert [e.since for e in second.entries] == [e.since for e in first.entries]
    assert sample(service, "flatnet_drift_entries", kind="missing") == 1
    assert sample(service, "flatnet_drift_node_entries", kind="missing", node="node1") == 1
    assert sample(service, "flatnet_drift_oldest_start_timestamp_seconds", kind="missing") == (
        first.entries[0].since.timestamp()
    )
    assert sample(service, "flatnet_drift_last_report_timestamp_seconds") == T0 + 30
    assert sample(service, "flatnet_collector_session_up", tor="tor1", peer="10.10.0.1") == 1
    assert sample(service, "flatnet_collector_view_complete", tor="tor1", family="ipv4") == 1

    rib.views = [tor_view(path(B1, "10.10.0.11"))]  # fixed
    clock.now += 30
    assert (await service.report()).entries == []
    assert sample(service, "flatnet_drift_entries", kind="missing") == 0
    assert sample(service, "flatnet_drift_node_entries", kind="missing", node="node1") is None
    assert sample(service, "flatnet_drift_oldest_start_timestamp_seconds", kind="missing") is None


async def test_ipam_failure_is_a_502_and_counted() -> None:
    ipam = FakeIpam(failure=UpstreamError("IPAM at http://ipam is unreachable"))
    service = make(ipam, StaticRib())
    with pytest.raises(IpamReadError, match="unreachable") as caught:
        await service.report()
    assert caught.value.status == 502
    assert sample(service, "flatnet_drift_report_errors_total") == 1


async def test_concurrent_requests_share_one_report() -> None:
    ipam = FakeIpam()
    service = make(ipam, StaticRib())
    await asyncio.gather(*(service.report() for _ in range(5)))
    # The first computes; the four that asked while it ran share the one after it.
    assert ipam.calls.count("nodes") == 2


async def run_in_background(ipam: FakeIpam, *, reads: str, times: int) -> DriftService:
    """Run the background loop until IPAM was asked for ``reads`` ``times`` times (bounded),
    then stop it."""
    settings = CollectorSettings(report_interval_seconds=0.01)
    service = DriftService(settings, ipam=ipam, rib=StaticRib(), metrics=DriftMetrics())
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    for _ in range(200):
        if ipam.calls.count(reads) >= times:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    return service


async def test_background_loop_reports_until_stopped() -> None:
    ipam = FakeIpam()
    await run_in_background(ipam, reads="nodes", times=3)
    assert ipam.calls.count("nodes") >= 3


async def test_background_loop_survives_ipam_failures() -> None:
    service = await run_in_background(
        FakeIpam(failure=UpstreamError("down")), reads="pools", times=2
    )
    assert sample(service, "flatnet_drift_report_errors_total") >= 2  # type: ignore[operator]
