"""``GET /v1/drift`` and ``flatnet drift``: filters, problems, roles, table and JSON."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from fabric_controller.config import ControllerSettings
from fabric_controller.drift.cli import age, drift
from fabric_controller.drift.metrics import DriftMetrics
from fabric_controller.drift.service import DriftService
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.errors import UpstreamError
from tests.fabric_controller.drift_fixtures import (
    FakeIpam,
    StaticRib,
    block_read,
    drift_app,
    node_read,
    path,
    tor_view,
)

SUPPRESSED = "10.244.1.64/26"
INJECTED = "10.244.7.0/26"


def drifting_service(ipam: FakeIpam | None = None) -> DriftService:
    """node1 holds two blocks and announces one; node2 announces a block nobody holds."""
    ipam = ipam or FakeIpam(
        nodes=[
            node_read(
                "node1",
                "10.10.0.11",
                block_read("10.244.1.0/26", "node1"),
                block_read(SUPPRESSED, "node1"),
            ),
            node_read("node2", "10.10.0.12"),
        ]
    )
    rib = StaticRib(
        [
            tor_view(
                path("10.244.1.0/26", "10.10.0.11"),
                path(INJECTED, "10.10.0.12", as_path=(65000, 65002)),
            )
        ]
    )
    settings = CollectorSettings(tors=[{"name": "tor1", "asn": 65000, "addresses": ["10.10.0.1"]}])
    return DriftService(settings, ipam=ipam, rib=rib, metrics=DriftMetrics())


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=drift_app(drifting_service()))
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as client:
        yield client


def kinds(body: dict[str, object]) -> list[tuple[object, ...]]:
    entries = body["entries"]
    assert isinstance(entries, list)
    return [(e["kind"], e["node"], e["tor"], e["prefix"]) for e in entries]


async def test_full_report(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/drift")
    assert response.status_code == 200
    body = response.json()
    assert kinds(body) == [
        ("missing", "node1", "tor1", SUPPRESSED),
        ("rogue", "node2", "tor1", INJECTED),
    ]
    assert body["complete"] is True
    assert body["tors"][0]["name"] == "tor1"
    assert body["tors"][0]["complete"] == [4, 6]
    rogue = body["entries"][1]
    assert rogue["next_hop"] == "10.10.0.12"
    assert rogue["as_path"] == [65000, 65002]
    assert datetime.fromisoformat(rogue["since"]).tzinfo is not None


FILTERS = [
    pytest.param({"kind": "rogue"}, [("rogue", "node2", "tor1", INJECTED)], id="kind"),
    pytest.param(
        [("kind", "rogue"), ("kind", "missing")],
        [("missing", "node1", "tor1", SUPPRESSED), ("rogue", "node2", "tor1", INJECTED)],
        id="kind-repeated",
    ),
    pytest.param({"node": "node1"}, [("missing", "node1", "tor1", SUPPRESSED)], id="node"),
    pytest.param({"tor": "tor2"}, [], id="tor"),
    pytest.param({"kind": "stale", "node": "node2"}, [], id="kind-and-node"),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
async def test_filters(
    api: httpx.AsyncClient, params: object, expected: list[tuple[object, ...]]
) -> None:
    body = (await api.get("/v1/drift", params=params)).json()  # type: ignore[arg-type]
    assert kinds(body) == expected
    assert body["counts"] == {"missing": 1, "rogue": 1, "stale": 0, "next-hop-mismatch": 0}


async def test_unknown_kind_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/drift", params={"kind": "weird"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "kind[0]"


async def test_collector_not_running_is_a_503() -> None:
    transport = httpx.ASGITransport(app=drift_app(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        response = await client.get("/v1/drift")
    assert response.status_code == 503
    assert response.json()["type"] == "urn:flatnet:problem:collector-unavailable"
    assert "ENABLED" in response.json()["detail"]


async def test_ipam_down_is_a_502() -> None:
    service = drifting_service(FakeIpam(failure=UpstreamError("IPAM unreachable")))
    transport = httpx.ASGITransport(app=drift_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        response = await client.get("/v1/drift")
    assert response.status_code == 502
    assert "IPAM unreachable" in response.json()["detail"]


ROLES = [
    pytest.param("admin", 200, id="admin"),
    pytest.param("network", 200, id="network"),
    pytest.param("auditor", 200, id="auditor"),
    pytest.param("node:node1", 403, id="node-may-not"),
    pytest.param(None, 401, id="no-token"),
]


@pytest.mark.parametrize(("role", "status"), ROLES)
async def test_roles(tmp_path: Path, role: str | None, status: int) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {"t-admin": "admin", "t-net": "network", "t-aud": "auditor", "t-n1": "node:node1"}
        )
    )
    settings = ControllerSettings(auth="on", tokens_file=tokens, database_url="unused")
    token = {"admin": "t-admin", "network": "t-net", "auditor": "t-aud", "node:node1": "t-n1"}
    headers = {} if role is None else {"Authorization": f"Bearer {token[role]}"}
    transport = httpx.ASGITransport(app=drift_app(drifting_service(), settings=settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        assert (await client.get("/v1/drift", headers=headers)).status_code == status


# -- flatnet drift, against a real server on loopback ----------------------------------------


@pytest.fixture
def served() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        drift_app(drifting_service()), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_table(served: str) -> None:
    result = CliRunner().invoke(drift, ["--url", served])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["KIND", "PREFIX", "NODE", "TOR", "SINCE"]
    assert lines[1].split()[:4] == ["missing", SUPPRESSED, "node1", "tor1"]
    assert lines[2].split()[:4] == ["rogue", INJECTED, "node2", "tor1"]
    assert "in the whole report: missing 1, rogue 1, stale 0, next-hop-mismatch 0" in result.output
    assert "ToR tor1: up, 2 paths, complete views: ipv4, ipv6" in result.output


def test_cli_json_filtered_and_fail_on_drift(served: str) -> None:
    result = CliRunner().invoke(
        drift, ["--url", served, "--kind", "rogue", "-o", "json", "--fail-on-drift"]
    )
    assert result.exit_code == 3
    body = json.loads(result.output)
    assert kinds(body) == [("rogue", "node2", "tor1", INJECTED)]
    clean = CliRunner().invoke(drift, ["--url", served, "--kind", "stale", "--fail-on-drift"])
    assert clean.exit_code == 0


def test_cli_unreachable_controller() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    result = CliRunner().invoke(drift, ["--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "cannot reach the controller" in result.output


AGES = [
    pytest.param(12, "12s", id="seconds"),
    pytest.param(245, "4m05s", id="minutes"),
    pytest.param(3 * 3600 + 60, "3h01m", id="hours"),
    pytest.param(2 * 86400 + 3 * 3600, "2d3h", id="days"),
    pytest.param(-5, "0s", id="clock-skew"),
]


@pytest.mark.parametrize(("seconds", "text"), AGES)
def test_age(seconds: int, text: str) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert age(datetime.fromtimestamp(now.timestamp() - seconds, tz=UTC), now) == text
