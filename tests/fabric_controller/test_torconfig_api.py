"""GET /v1/racks/{rack}/tor-config: formats, ETag and If-None-Match, blocks that move, errors;
and GET /v1/racks/{rack}/nodes, the rack's nodes the config is built from."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.ipamclient import IpamClient
from tests.fabric_controller.test_topology import problem
from tests.fabric_controller.topology_fixtures import (
    claim,
    make_fabric,
    make_node,
    make_pool,
    make_rack,
    ok,
    release,
    tor,
)

URL = "/v1/racks/r1/tor-config"


async def rack_with_nodes(controller: httpx.AsyncClient, ipam: httpx.AsyncClient) -> list[str]:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1", tors=(tor(),))
    await make_pool(ipam, "pods", "10.244.0.0/16", prefixlen=26)
    blocks = []
    for n in range(1, 4):
        await make_node(ipam, f"n{n}", f"10.10.0.{10 + n}")
        blocks.append(await claim(ipam, f"n{n}", "pods"))
    await make_node(ipam, "elsewhere", "10.99.0.1", rack="r2")
    await claim(ipam, "elsewhere", "pods")
    return blocks


@pytest.mark.parametrize(("fmt", "marker"), [("bird", "protocol bgp"), ("frr", "router bgp")])
async def test_config_lists_the_racks_nodes_and_their_blocks(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient, fmt: str, marker: str
) -> None:
    blocks = await rack_with_nodes(controller, ipam)
    response = await controller.get(URL, params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == f'inline; filename="tor1.{fmt}.conf"'
    assert response.headers["etag"].startswith('"')  # strong
    text = response.text
    assert marker in text
    for n, block in enumerate(blocks, start=1):
        assert f"10.10.0.{10 + n}" in text
        assert block in text
    assert "10.99.0.1" not in text  # a node of another rack
    asns = ok(await controller.get("/v1/fabrics/dc1/asns"))["items"]
    assert [a["node"] for a in asns] == ["n1", "n2", "n3"]  # allocated for the config


async def test_rack_nodes_carry_their_asns_and_blocks(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    blocks = await rack_with_nodes(controller, ipam)
    nodes = ok(await controller.get("/v1/racks/r1/nodes"))
    assert [(n["name"], n["node_ip"], n["blocks"]) for n in nodes] == [
        (f"n{i}", f"10.10.0.{10 + i}", [blocks[i - 1]]) for i in (1, 2, 3)
    ]  # not "elsewhere", a node of another rack
    first = 4_200_000_000  # the default per-node range, allocated on first use
    assert [n["asn"] for n in nodes] == [first, first + 1, first + 2]
    problem(await controller.get("/v1/racks/r9/nodes"), 404, "rack")


async def test_etag_revalidation_and_blocks_that_move(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await rack_with_nodes(controller, ipam)
    first = await controller.get(URL, params={"format": "bird"})
    tag = first.headers["etag"]
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = await controller.get(
            URL, params={"format": "bird"}, headers={"If-None-Match": header}
        )
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == tag
    stale = await controller.get(URL, params={"format": "bird"}, headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200
    moved = await claim(ipam, "n2", "pods")
    changed = await controller.get(URL, params={"format": "bird"}, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert moved in changed.text
    assert changed.headers["etag"] != tag
    await release(ipam, "n2", moved)
    back = await controller.get(URL, params={"format": "bird"}, headers={"If-None-Match": tag})
    assert back.status_code == 304  # same blocks, same text, same tag
    frr = await controller.get(URL, params={"format": "frr"}, headers={"If-None-Match": tag})
    assert frr.status_code == 200  # another format is another text
    metrics = (await controller.get("/metrics")).text
    assert (
        'flatnet_controller_tor_configs_total{format="bird",outcome="not_modified"} 5.0' in metrics
    )


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        pytest.param({"format": "junos"}, 422, "format", id="unknown-format"),
        pytest.param({}, 422, "format", id="no-format"),
        pytest.param({"format": "bird", "tor": "tor9"}, 404, "tor", id="unknown-tor"),
    ],
)
async def test_bad_queries_are_refused(
    controller: httpx.AsyncClient,
    ipam: httpx.AsyncClient,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    await rack_with_nodes(controller, ipam)
    found = problem(await controller.get(URL, params=params), status, field)
    if params.get("format") == "junos":
        assert "'bird' or 'frr'" in found["detail"]


async def test_which_tor_must_be_said_when_there_are_several(
    controller: httpx.AsyncClient, ipam: httpx.AsyncClient
) -> None:
    await rack_with_nodes(controller, ipam)
    ok(await controller.post("/v1/racks/r1/tors", json=tor("tor2", v4="10.10.0.2", v6=None)), 201)
    found = problem(await controller.get(URL, params={"format": "frr"}), 422, "tor")
    assert "tor1, tor2" in found["detail"]
    second = await controller.get(URL, params={"format": "frr", "tor": "tor2"})
    assert "bgp router-id 10.10.0.2" in second.text
    problem(await controller.get("/v1/racks/r9/tor-config", params={"format": "bird"}), 404, "rack")


async def test_a_rack_without_tors_has_no_config(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1")
    problem(await controller.get(URL, params={"format": "bird"}), 409, "tor")


async def test_md5_secret_is_rendered_for_writers_and_redacted_for_auditors(
    controller: httpx.AsyncClient,
    ipam: httpx.AsyncClient,
    secrets_dir: Path,
    tmp_path: Path,
    controller_settings: ControllerSettings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    ipam_client: IpamClient,
) -> None:
    await rack_with_nodes(controller, ipam)
    ok(await controller.patch("/v1/fabrics/dc1", json={"bgp": {"md5_secret_ref": "tor-md5"}}))
    problem(await controller.get(URL, params={"format": "bird"}), 409, "bgp")  # unreadable
    (secrets_dir / "tor-md5").write_text("has space\n")
    problem(await controller.get(URL, params={"format": "bird"}), 409, "bgp")  # unrenderable
    (secrets_dir / "tor-md5").write_text("s3cret-md5\n")
    assert 'password "s3cret-md5";' in (await controller.get(URL, params={"format": "bird"})).text
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"t-aud": "auditor"}')
    settings = controller_settings.model_copy(update={"auth": "on", "tokens_file": tokens})
    app = create_app(settings, sessionmaker=db_sessionmaker, ipam=ipam_client)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Bearer t-aud"}
    async with httpx.AsyncClient(transport=transport, base_url="http://c", headers=headers) as aud:
        text = (await aud.get(URL, params={"format": "frr"})).text
    assert "s3cret" not in text
    assert "password flatnet-md5-redacted" in text


async def test_ipam_unreachable_is_a_502(
    controller_settings: ControllerSettings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    controller: httpx.AsyncClient,
) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1", tors=(tor(),))
    with socket.socket() as sock:  # a port on loopback that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ipam = IpamClient(f"http://127.0.0.1:{port}", timeout=2.0)
    app = create_app(controller_settings, sessionmaker=db_sessionmaker, ipam=ipam)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        found = problem(await client.get(URL, params={"format": "bird"}), 502, None)
    await ipam.aclose()
    assert "unreachable" in found["detail"]
