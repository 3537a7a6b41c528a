"""The BGP session reporter against the real IPAM app (in-process, real PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, make_sessionmaker
from node_agent.announcer import AnnouncerStatus, NullAnnouncer, PeerStatus
from node_agent.bgpreport import SessionReporter, sessions_of
from node_agent.health import Health
from node_agent.ipamclient import IpamClient
from node_agent.metrics import Metrics

UP = PeerStatus(
    peer="10.10.0.1", state="up", prefixes_sent=2, prefixes_acknowledged=2, since=1_800_000_000.5
)
V6_DOWN = PeerStatus(peer="fd00:10::1", state="connecting", last_error="closing connection")


class FixedAnnouncer(NullAnnouncer):
    """The speaker's status, set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[PeerStatus] = []

    def status(self) -> AnnouncerStatus:
        return AnnouncerStatus(running=True, peers=list(self.peers))


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def transport(ipam_database: str) -> AsyncIterator[httpx.ASGITransport]:
    """The real IPAM app, in process, on the session's PostgreSQL."""
    engine = make_engine(ipam_database, pool_size=2, max_overflow=0)
    app = create_app(
        IpamSettings(auth="off", database_url=ipam_database),
        sessionmaker=make_sessionmaker(engine),
        refresh_gauges=False,
    )
    yield httpx.ASGITransport(app=app)
    await engine.dispose()


@pytest.fixture
async def ipam(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url="http://ipam") as client:
        yield client


def reporter(
    transport: httpx.ASGITransport, node: str, announcer: FixedAnnouncer, clock: Clock
) -> tuple[SessionReporter, Health, Metrics]:
    """A reporter on the agent's own IPAM client, over the same in-process IPAM app."""
    health, metrics = Health(), Metrics()
    client = IpamClient(
        base_url="http://ipam", node=node, token=None, timeout=5.0, transport=transport
    )
    made = SessionReporter(
        announcer=announcer,
        ipam=client,
        health=health,
        metrics=metrics,
        refresh=60.0,
        clock=clock,
    )
    return made, health, metrics


def test_sessions_of_converts_the_speaker_status() -> None:
    wire = sessions_of(AnnouncerStatus(running=True, peers=[UP, V6_DOWN]))
    assert [(str(s.peer), s.state) for s in wire] == [
        ("10.10.0.1", "up"),
        ("fd00:10::1", "connecting"),
    ]
    assert wire[0].since is not None
    assert wire[0].since.timestamp() == UP.since
    assert wire[1].since is None  # never changed
    assert wire[1].last_error == "closing connection"


async def test_reports_on_change_and_on_refresh_only(
    ipam: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    node = f"n{uuid.uuid4().hex[:10]}"
    octets = uuid.uuid4().bytes
    await ipam.put(f"/v1/nodes/{node}", json={"node_ip": f"198.18.{octets[0]}.{octets[1]}"})
    announcer, clock = FixedAnnouncer(), Clock()
    made, _, _ = reporter(transport, node, announcer, clock)
    announcer.peers = [UP, V6_DOWN]
    assert await made.report_once()
    assert not await made.report_once()  # nothing changed, refresh not due
    shown = (await ipam.get(f"/v1/nodes/{node}")).json()["bgp_sessions"]
    assert [(s["peer"], s["state"], s["prefixes_acknowledged"]) for s in shown] == [
        ("10.10.0.1", "up", 2),
        ("fd00:10::1", "connecting", 0),
    ]
    announcer.peers = [UP]  # the IPv6 session went away
    assert await made.report_once()
    shown = (await ipam.get(f"/v1/nodes/{node}/bgp-sessions")).json()
    assert [s["peer"] for s in shown] == ["10.10.0.1"]
    clock.now += 59
    assert not await made.report_once()
    clock.now += 2
    assert await made.report_once()  # refresh due: sent although unchanged
    assert made.reports == 3


async def test_a_refused_report_is_counted_and_retried(
    ipam: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    node = f"n{uuid.uuid4().hex[:10]}"
    announcer, clock = FixedAnnouncer(), Clock()
    announcer.peers = [UP]
    made, health, metrics = reporter(transport, node, announcer, clock)
    assert not await made.report_once()  # IPAM does not know the node yet: 404
    assert [e.source for e in health.errors()] == ["bgp-report"]
    assert "404" in health.errors()[0].message
    assert metrics.ipam_errors.labels("bgp-report")._value.get() == 1
    octets = uuid.uuid4().bytes
    await ipam.put(f"/v1/nodes/{node}", json={"node_ip": f"198.19.{octets[0]}.{octets[1]}"})
    assert await made.report_once()  # the same state, sent again since it never arrived
    assert (await ipam.get(f"/v1/nodes/{node}/bgp-sessions")).json()[0]["state"] == "up"
