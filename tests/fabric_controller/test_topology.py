"""Fabrics, racks and ToRs through the API on real PostgreSQL, and the bad input they refuse."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fabric_controller.topology_fixtures import make_fabric, make_rack, ok, tor

PRIVATE_4B = (4_200_000_000, 4_294_967_294)


def problem(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    """The answer is problem+json with ``status`` naming ``field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["field"] == field, body
    assert body["detail"]
    return body


async def test_fabric_defaults_come_from_settings(controller: httpx.AsyncClient) -> None:
    fabric = await make_fabric(controller, "dc1")
    assert fabric["asn_range"] == {"first": PRIVATE_4B[0], "last": PRIVATE_4B[1]}
    assert fabric["bgp"] == {
        "hold_time": 9,
        "keepalive_time": 3,
        "graceful_restart_time": 120,
        "max_prefixes": 64,
        "md5_password_file": None,
        "md5_secret_ref": None,
    }
    listed = ok(await controller.get("/v1/fabrics"))
    assert [f["name"] for f in listed["items"]] == ["dc1"]


async def test_fabric_policy_update_keeps_what_is_not_named(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1", bgp={"hold_time": 30, "keepalive_time": 10})
    patched = ok(
        await controller.patch("/v1/fabrics/dc1", json={"bgp": {"md5_secret_ref": "tor-md5"}})
    )
    assert patched["bgp"]["hold_time"] == 30
    assert patched["bgp"]["md5_secret_ref"] == "tor-md5"
    cleared = ok(await controller.patch("/v1/fabrics/dc1", json={"bgp": {"clear_md5": True}}))
    assert cleared["bgp"]["md5_secret_ref"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param(
            {"asn_model": "per-node", "asn_range": {"first": 100, "last": 200}},
            422,
            "asn_range",
            id="range-not-private",
        ),
        pytest.param(
            {"asn_model": "per-node", "asn_range": {"first": 4_200_000_010, "last": 4_200_000_001}},
            422,
            "asn_range",
            id="range-reversed",
        ),
        pytest.param(
            {"asn_model": "per-rack", "asn_range": {"first": 64512, "last": 65000}},
            422,
            "asn_range",
            id="range-in-per-rack-model",
        ),
        pytest.param({"asn_model": "per-vrf"}, 422, "asn_model", id="unknown-model"),
        pytest.param(
            {"asn_model": "per-node", "bgp": {"hold_time": 9, "keepalive_time": 4}},
            422,
            "bgp.keepalive_time",
            id="keepalive-above-a-third",
        ),
        pytest.param(
            {"asn_model": "per-node", "bgp": {"md5_password_file": "/a", "md5_secret_ref": "b"}},
            422,
            "bgp.md5_secret_ref",
            id="two-md5-sources",
        ),
        pytest.param(
            {"asn_model": "per-node", "bgp": {"md5_password_file": "relative/path"}},
            422,
            "bgp.md5_password_file",
            id="md5-file-not-absolute",
        ),
        pytest.param({"asn_model": "per-node", "color": "red"}, 422, "color", id="unknown-field"),
    ],
)
async def test_bad_fabric_is_refused(
    controller: httpx.AsyncClient, body: dict[str, Any], status: int, field: str
) -> None:
    problem(await controller.post("/v1/fabrics", json={"name": "dc1", **body}), status, field)
    assert ok(await controller.get("/v1/fabrics"))["items"] == []


async def test_duplicate_fabric_is_a_conflict(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    problem(
        await controller.post("/v1/fabrics", json={"name": "dc1", "asn_model": "per-rack"}),
        409,
        "name",
    )


async def test_rack_with_tors_reads_back(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    created = await make_rack(
        controller,
        "r1",
        pool_subnets=["10.244.0.0/20"],
        tors=(tor("tor1"), tor("tor2", v4="10.10.0.2", v6=None)),
        peering="dynamic",
    )
    read = ok(await controller.get("/v1/racks/r1"))
    assert read == created
    assert read["subnets"] == ["10.10.0.0/24", "fd00:10::/64"]
    assert read["pool_subnets"] == ["10.244.0.0/20"]
    assert read["peering"] == "dynamic"
    assert [(t["name"], t["router_id"]) for t in read["tors"]] == [
        ("tor1", "10.10.0.1"),
        ("tor2", "10.10.0.2"),
    ]
    listed = ok(await controller.get("/v1/racks", params={"fabric": "dc1"}))
    assert [r["name"] for r in listed["items"]] == ["r1"]


async def test_duplicate_rack_is_a_conflict(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1")
    body = {"name": "r1", "fabric": "dc1", "subnets": ["10.20.0.0/24"]}
    found = problem(await controller.post("/v1/racks", json=body), 409, "name")
    assert "r1" in found["detail"]


@pytest.mark.parametrize(
    ("tor_spec", "field"),
    [
        pytest.param(tor(v4="10.20.0.1"), "tors[0].address_v4", id="v4-outside"),
        pytest.param(tor(v6="fd00:99::1"), "tors[0].address_v6", id="v6-outside"),
        pytest.param(tor(v4="10.10.0.0"), "tors[0].address_v4", id="network-address"),
        pytest.param(tor(v4=None, v6="fd00:10::1"), "tors[0].router_id", id="v6-only-no-router-id"),
    ],
)
async def test_tor_address_outside_every_rack_subnet_is_refused(
    controller: httpx.AsyncClient, tor_spec: dict[str, Any], field: str
) -> None:
    await make_fabric(controller, "dc1")
    body = {"name": "r1", "fabric": "dc1", "subnets": ["10.10.0.0/24", "fd00:10::/64"]}
    found = problem(
        await controller.post("/v1/racks", json=body | {"tors": [tor_spec]}), 422, field
    )
    if "outside" in found["detail"]:
        assert "10.10.0.0/24, fd00:10::/64" in found["detail"]
    problem(await controller.get("/v1/racks/r1"), 404, "rack")  # nothing half-written


async def test_tor_added_later_is_checked_the_same_way(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1")
    problem(await controller.post("/v1/racks/r1/tors", json=tor(v4="192.0.2.1")), 422, "address_v4")
    ok(await controller.post("/v1/racks/r1/tors", json=tor()), 201)
    problem(await controller.post("/v1/racks/r1/tors", json=tor("tor2")), 409, "address_v4")
    assert [t["name"] for t in ok(await controller.get("/v1/racks/r1"))["tors"]] == ["tor1"]
    assert (await controller.delete("/v1/racks/r1/tors/tor1")).status_code == 204
    problem(await controller.delete("/v1/racks/r1/tors/tor1"), 404, "tor")


async def test_conflicting_asns_in_the_per_rack_model(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1", model="per-rack")
    subnets = {"subnets": ["10.20.0.0/24"]}
    # a rack's nodes and its ToR in one AS: refused (node sessions are eBGP)
    found = problem(
        await controller.post(
            "/v1/racks",
            json={"name": "r0", "fabric": "dc1", "asn": 65000, "tors": [tor(asn=65000, v6=None)]}
            | {"subnets": ["10.10.0.0/24"]},
        ),
        422,
        "tors[0].asn",
    )
    assert "conflicting ASNs" in found["detail"]
    await make_rack(controller, "r1", asn=65101, subnets=("10.10.0.0/24",), tors=(tor(v6=None),))
    # another rack with the same node ASN
    problem(
        await controller.post(
            "/v1/racks", json={"name": "r2", "fabric": "dc1", "asn": 65101} | subnets
        ),
        409,
        "asn",
    )
    # a rack whose nodes would share the ToR's ASN of another rack
    problem(
        await controller.post(
            "/v1/racks", json={"name": "r2", "fabric": "dc1", "asn": 65000} | subnets
        ),
        409,
        "asn",
    )
    # a ToR that takes the node ASN of another rack
    await make_rack(controller, "r2", asn=65102, subnets=("10.20.0.0/24",))
    problem(
        await controller.post("/v1/racks/r2/tors", json=tor(asn=65101, v4="10.20.0.1", v6=None)),
        409,
        "asn",
    )
    # the rack ASN cannot be left out, nor be reserved
    problem(
        await controller.post(
            "/v1/racks", json={"name": "r3", "fabric": "dc1"} | {"subnets": ["10.30.0.0/24"]}
        ),
        422,
        "asn",
    )
    problem(
        await controller.post(
            "/v1/racks",
            json={"name": "r3", "fabric": "dc1", "asn": 23456} | {"subnets": ["10.30.0.0/24"]},
        ),
        422,
        "asn",
    )
    # changing a rack's ASN to its own ToR's
    problem(await controller.patch("/v1/racks/r1", json={"asn": 65000}), 422, "asn")


async def test_conflicting_asns_in_the_per_node_model(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1", asn_range={"first": 4_200_000_000, "last": 4_200_000_099})
    body = {"name": "r1", "fabric": "dc1", "subnets": ["10.10.0.0/24"]}
    problem(await controller.post("/v1/racks", json=body | {"asn": 65101}), 422, "asn")
    found = problem(
        await controller.post("/v1/racks", json=body | {"tors": [tor(asn=4_200_000_050, v6=None)]}),
        422,
        "tors[0].asn",
    )
    assert "per-node range" in found["detail"]
    await make_rack(controller, "r1", subnets=("10.10.0.0/24",), tors=(tor(asn=65000, v6=None),))
    # the range cannot grow over a ToR's ASN
    grow = {"asn_range": {"first": 64512, "last": 65534}}
    problem(await controller.patch("/v1/fabrics/dc1", json=grow), 409, "asn_range")


async def test_subnets_of_two_racks_cannot_overlap(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1", pool_subnets=["10.244.0.0/20"])
    body = {"name": "r2", "fabric": "dc1"}
    found = problem(
        await controller.post("/v1/racks", json=body | {"subnets": ["10.10.0.128/25"]}),
        409,
        "subnets",
    )
    assert found["type"] == "urn:flatnet:problem:subnet-overlap"
    problem(
        await controller.post(
            "/v1/racks",
            json=body | {"subnets": ["10.11.0.0/24"], "pool_subnets": ["10.244.8.0/21"]},
        ),
        409,
        "pool_subnets",
    )
    problem(
        await controller.post(
            "/v1/racks", json=body | {"subnets": ["10.11.0.0/24"], "pool_subnets": ["10.11.0.0/25"]}
        ),
        422,
        "pool_subnets[0]",
    )
    problem(
        await controller.post("/v1/racks", json=body | {"subnets": ["10.11.0.1/24"]}),
        422,
        "subnets[0]",
    )
    problem(await controller.post("/v1/racks", json=body | {"subnets": []}), 422, "subnets")


async def test_rack_subnets_cannot_shrink_away_from_a_tor(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1", tors=(tor(),))
    problem(
        await controller.patch("/v1/racks/r1", json={"subnets": ["10.10.1.0/24"]}), 422, "subnets"
    )
    grown = ok(
        await controller.patch("/v1/racks/r1", json={"subnets": ["10.10.0.0/23", "fd00:10::/64"]})
    )
    assert grown["subnets"] == ["10.10.0.0/23", "fd00:10::/64"]


async def test_unknown_fabric_and_rack_are_not_found(controller: httpx.AsyncClient) -> None:
    body = {"name": "r1", "fabric": "nowhere", "subnets": ["10.10.0.0/24"]}
    problem(await controller.post("/v1/racks", json=body), 404, "fabric")
    problem(await controller.get("/v1/racks/r9"), 404, "rack")
    problem(await controller.get("/v1/fabrics/nowhere"), 404, "fabric")


async def test_fabric_with_racks_cannot_be_deleted(controller: httpx.AsyncClient) -> None:
    await make_fabric(controller, "dc1")
    await make_rack(controller, "r1", tors=(tor(),))
    problem(await controller.delete("/v1/fabrics/dc1"), 409, "name")
    assert (await controller.delete("/v1/racks/r1")).status_code == 204
    assert (await controller.delete("/v1/fabrics/dc1")).status_code == 204
    assert ok(await controller.get("/v1/fabrics"))["items"] == []


async def test_malformed_json_is_a_400_problem(controller: httpx.AsyncClient) -> None:
    response = await controller.post(
        "/v1/fabrics", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem(response, 400, "body")


async def test_health_and_metrics(controller: httpx.AsyncClient) -> None:
    assert ok(await controller.get("/healthz")) == {"status": "ok"}
    assert ok(await controller.get("/readyz")) == {"status": "ok", "checks": {"database": "ok"}}
    await controller.get("/v1/racks/r9")
    text = (await controller.get("/metrics")).text
    assert 'flatnet_controller_errors_total{status="404",type="rack-not-found"} 1.0' in text
    assert "flatnet_controller_request_seconds_bucket" in text


async def test_an_oversized_body_is_refused_before_it_is_read(
    controller: httpx.AsyncClient,
) -> None:
    body = b'{"name": "dc1", "asn_model": "per-node", "description": "' + b"x" * 2_000_000 + b'"}'
    response = await controller.post(
        "/v1/fabrics", content=body, headers={"content-type": "application/json"}
    )
    problem(response, 413, "body")
