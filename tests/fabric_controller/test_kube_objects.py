"""Pure model of the Kubernetes objects and the namespace pool map: no I/O, no fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import pytest

from fabric_controller.kube.clock import backoff
from fabric_controller.kube.namespaces import NamespacePool, NamespacePools
from fabric_controller.kube.objects import (
    LEASES,
    NODES,
    EventType,
    LeaseRecord,
    NodeInfo,
    WatchEvent,
    format_micro_time,
    parse_time,
)


def ns_event(kind: EventType, name: str, pool: str | None = None) -> WatchEvent:
    annotations = {} if pool is None else {"flatnet.io/pool": pool}
    return WatchEvent(kind, {"metadata": {"name": name, "annotations": annotations}})


def test_resource_paths_follow_the_rest_layout() -> None:
    assert NODES.collection() == "/api/v1/nodes"
    assert NODES.item("n1") == "/api/v1/nodes/n1"
    assert LEASES.item("x", "ns") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x"
    assert LEASES.api_version == "coordination.k8s.io/v1"
    assert NODES.api_version == "v1"


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        pytest.param([{"type": "Hostname", "address": "n1"}], None, id="none"),
        pytest.param(
            [
                {"type": "ExternalIP", "address": "203.0.113.1"},
                {"type": "InternalIP", "address": "192.0.2.1"},
                {"type": "InternalIP", "address": "2001:db8::1"},
            ],
            "192.0.2.1",
            id="first-internal-of-dual-stack",
        ),
        pytest.param(
            [
                {"type": "InternalIP", "address": "garbage"},
                {"type": "InternalIP", "address": "fd00::5"},
            ],
            "fd00::5",
            id="skips-garbage",
        ),
    ],
)
def test_node_ip_is_the_first_valid_internal_ip(
    addresses: list[dict[str, str]], expected: str | None
) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "n1", "uid": "u", "labels": {"a": "b"}}}
    obj["status"] = {"addresses": addresses}
    info = NodeInfo.from_object(obj)
    assert info.node_ip == (None if expected is None else ip_address(expected))
    assert info.labels == {"a": "b"}


def test_lease_record_round_trips_with_micro_time() -> None:
    at = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    record = LeaseRecord(
        holder="a",
        duration_seconds=15,
        acquire_time=at,
        renew_time=at,
        transitions=3,
        resource_version="42",
    )
    obj = record.to_object(name="l", namespace="ns")
    assert obj["spec"]["renewTime"] == "2030-05-06T07:08:09.123456Z"
    assert obj["metadata"]["resourceVersion"] == "42"
    assert LeaseRecord.from_object(obj) == record
    assert format_micro_time(at) == obj["spec"]["acquireTime"]
    assert parse_time("not a time") is None
    assert LeaseRecord.from_object({"spec": {}}).holder == ""


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(attempt=a, initial=0.5, maximum=5) for a in range(1, 7)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
    ]
    assert backoff(attempt=10_000, initial=1, maximum=60) == 60


def test_namespace_pool_map_follows_annotations_and_versions_only_on_change() -> None:
    pools = NamespacePools()
    pools.apply(ns_event(EventType.ADDED, "a", "gold"))
    pools.apply(ns_event(EventType.ADDED, "b"))
    assert pools.version == 2
    pools.apply(ns_event(EventType.MODIFIED, "b"))  # resync: same content
    assert pools.version == 2
    pools.apply(ns_event(EventType.MODIFIED, "b", "silver"))
    pools.apply(ns_event(EventType.DELETED, "a"))
    assert pools.version == 4
    assert pools.items() == [NamespacePool("b", "silver")]
    assert pools.get("a") is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Gold", id="upper-case"),
        pytest.param("gold pool", id="space"),
        pytest.param("-gold", id="leading-dash"),
        pytest.param("g" * 64, id="too-long"),
    ],
)
def test_an_annotation_that_is_no_pool_name_is_published_with_its_error(value: str) -> None:
    pools = NamespacePools()
    pools.apply(ns_event(EventType.ADDED, "a", value))
    entry = pools.get("a")
    assert entry is not None
    assert entry.pool is None
    assert entry.error is not None
    assert "flatnet.io/pool" in entry.error


def test_a_custom_annotation_key() -> None:
    pools = NamespacePools(annotation="example.com/pool")
    pools.apply(
        WatchEvent(
            EventType.ADDED,
            {"metadata": {"name": "a", "annotations": {"example.com/pool": "gold"}}},
        )
    )
    assert pools.get("a") == NamespacePool("a", "gold")
