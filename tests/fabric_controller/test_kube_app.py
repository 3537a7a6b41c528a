"""The controller's hook (``run_in_app``) in a real controller app: namespace pools published
on the API, nodes and racks registered, metrics exported, the Lease released on stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.database import async_engine, session_factory
from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.client import HttpKubeApi
from fabric_controller.kube.objects import LEASES, NAMESPACES, LeaseRecord
from fabric_controller.kube.runner import run_in_app
from fabric_controller.kube.settings import KubeSettings
from tests.fabric_controller.kube_fake import FakeKube
from tests.fabric_controller.kube_fixtures import (
    add_namespaces,
    add_nodes,
    eventually,
    namespace,
    node,
    settled,
)

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
POOL = "flatnet.io/pool"
ADMIN = {"Authorization": "Bearer t-admin"}
NODE = {"Authorization": "Bearer t-node"}


@pytest.fixture
async def app(
    tmp_path: Path,
    fake_kube: tuple[FakeKube, str],
    kube_ipam_database: str,
    kube_ipam_transport: httpx.ASGITransport,
) -> AsyncIterator[FastAPI]:
    _, url = fake_kube
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"t-admin": "admin", "t-node": "node:n1"}))
    settings = ControllerSettings(
        auth="on",
        tokens_file=tokens,
        database_url="unused",
        kube=KubeSettings(enabled=True, api_url=url, identity="replica-1"),
    )
    engine = async_engine(kube_ipam_database, pool_size=2, max_overflow=2)
    ipam = IpamClient("http://ipam", transport=kube_ipam_transport)
    app = create_app(settings, sessionmaker=session_factory(engine), ipam=ipam)
    try:
        yield app
    finally:
        await ipam.aclose()
        await engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://controller") as c:
        yield c


async def test_namespace_pools_nodes_and_racks_through_the_app_hook(
    app: FastAPI,
    client: httpx.AsyncClient,
    kube_api: HttpKubeApi,
    kube_ipam_client: IpamClient,
) -> None:
    await add_namespaces(
        kube_api,
        namespace("team-a", **{POOL: "gold"}),
        namespace("team-b"),
        namespace("team-c", **{POOL: "Not_A_Pool"}),
    )
    await add_nodes(kube_api, node("n1", "192.0.2.1", **{"topology.flatnet.io/rack": "r7"}))
    r = await client.get("/v1/namespace-pools", headers=NODE)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"

    stop = asyncio.Event()
    task = asyncio.create_task(run_in_app(app, stop))
    try:
        await eventually(
            lambda: getattr(getattr(app.state, "namespace_pools", None), "synced", False),
            what="namespaces synced",
        )
        r = await client.get("/v1/namespaces/team-a/pool", headers=NODE)
        assert r.status_code == 200
        assert r.json() == {"namespace": "team-a", "pool": "gold", "error": None}
        assert (await client.get("/v1/namespaces/team-b/pool", headers=NODE)).json()["pool"] is None
        bad = (await client.get("/v1/namespaces/team-c/pool", headers=NODE)).json()
        assert bad["pool"] is None
        assert "Not_A_Pool" in bad["error"]
        missing = await client.get("/v1/namespaces/nope/pool", headers=NODE)
        assert missing.status_code == 404
        assert missing.json()["field"] == "namespace"
        assert (await client.get("/v1/namespace-pools")).status_code == 401

        listed = await client.get("/v1/namespace-pools", headers=NODE)
        etag = listed.headers["etag"]
        assert [i["namespace"] for i in listed.json()["items"]] == ["team-a", "team-b", "team-c"]
        again = await client.get("/v1/namespace-pools", headers=NODE | {"If-None-Match": etag})
        assert again.status_code == 304
        await kube_api.patch(NAMESPACES, "team-b", {"metadata": {"annotations": {POOL: "silver"}}})
        await eventually(
            lambda: app.state.namespace_pools.get("team-b").pool == "silver", what="annotation"
        )
        changed = await client.get("/v1/namespace-pools", headers=NODE | {"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag

        async def registered() -> bool:
            return await kube_ipam_client.get_node("n1") is not None

        await settled(registered, what="n1 registered in IPAM")
        n1 = await kube_ipam_client.get_node("n1")
        assert n1 is not None
        assert str(n1.node_ip) == "192.0.2.1"
        assert (await client.get("/v1/racks/r7", headers=ADMIN)).status_code == 200
        metrics = (await client.get("/metrics", headers=ADMIN)).text
        assert "flatnet_controller_kube_leader 1.0" in metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    lease = LeaseRecord.from_object(
        await kube_api.get(LEASES, "flatnet-fabric-controller", namespace="flatnet-system")
    )
    assert lease.holder == ""  # released on stop
    assert (await client.get("/v1/namespace-pools", headers=NODE)).status_code == 503
