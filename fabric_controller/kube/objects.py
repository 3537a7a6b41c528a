"""Pure model of the Kubernetes objects the controller reads: resources, watch events, Nodes,
Namespaces and Leases. No I/O here; the adapter (``client``) moves plain JSON dicts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any

Object = dict[str, Any]


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Resource:
    """One API resource and the REST paths that serve it."""

    kind: str
    prefix: str
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/api/").removeprefix("/apis/")

    def collection(self, namespace: str | None = None) -> str:
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.plural} are namespaced: a namespace is needed")
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def item(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection(namespace)}/{name}"


NODES = Resource(kind="Node", prefix="/api/v1", plural="nodes", namespaced=False)
NAMESPACES = Resource(kind="Namespace", prefix="/api/v1", plural="namespaces", namespaced=False)
LEASES = Resource(
    kind="Lease", prefix="/apis/coordination.k8s.io/v1", plural="leases", namespaced=True
)


def meta(obj: Object) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def name_of(obj: Object) -> str:
    return str(meta(obj).get("name", ""))


def resource_version_of(obj: Object) -> str:
    return str(meta(obj).get("resourceVersion", ""))


def labels_of(obj: Object) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta(obj).get("labels") or {}).items()}


def annotations_of(obj: Object) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta(obj).get("annotations") or {}).items()}


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: Object

    @property
    def name(self) -> str:
        return name_of(self.object)

    @property
    def resource_version(self) -> str:
        return resource_version_of(self.object)


@dataclass(frozen=True)
class ObjectList:
    items: list[Object]
    resource_version: str
    """The list's own resourceVersion: where a watch must start to miss nothing."""


@dataclass(frozen=True)
class NodeInfo:
    """What the lifecycle loop needs of a Node object."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    node_ip: IPv4Address | IPv6Address | None = None

    @classmethod
    def from_object(cls, obj: Object) -> NodeInfo:
        return cls(
            name=name_of(obj),
            labels=labels_of(obj),
            node_ip=internal_ip(obj),
        )


def internal_ip(obj: Object) -> IPv4Address | IPv6Address | None:
    """The node's first ``InternalIP`` (the primary family on dual-stack nodes)."""
    status = obj.get("status") or {}
    for address in status.get("addresses") or []:
        if address.get("type") != "InternalIP":
            continue
        try:
            return ipaddress.ip_address(str(address.get("address", "")))
        except ValueError:
            continue
    return None


# -- Leases ------------------------------------------------------------------------------------


def format_micro_time(at: datetime) -> str:
    """RFC 3339 with microseconds, as ``metav1.MicroTime`` marshals."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election fields of a ``coordination.k8s.io/v1`` Lease."""

    holder: str
    duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str = ""

    @classmethod
    def from_object(cls, obj: Object) -> LeaseRecord:
        spec = obj.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=resource_version_of(obj),
        )

    def to_object(self, *, name: str, namespace: str) -> Object:
        """The Lease to create or replace; carries ``resourceVersion`` as the precondition."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if self.resource_version:
            metadata["resourceVersion"] = self.resource_version
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": metadata,
            "spec": spec,
        }
