"""The agent's own records: attachments, their addresses, held blocks, ledger events.

Pure dataclasses and conversions; :mod:`node_agent.store` persists them and
:mod:`node_agent.service` turns them into :mod:`cni.contract` replies.

An attachment's life (``state``)::

    (none) --ADD: allocate--> allocated --wire ok--> wired --DEL / GC / reconcile--> (none)
                                  |
                                  +--wire failed--> (none)   addresses released at once
                                  +--agent died---> allocated: the next ADD of the same
                                                    key rewires it; reconcile releases it
                                                    after the grace period
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cni.contract import AttachmentKey, PodRef
from node_agent.podnet import IPAddress, IPNetwork


class State(StrEnum):
    ALLOCATED = "allocated"
    WIRED = "wired"


@dataclass(frozen=True, order=True)
class Key:
    """(network, container_id, ifname): what CNI identifies an attachment by (CNI-132)."""

    network: str
    container_id: str
    ifname: str

    @classmethod
    def of(cls, key: AttachmentKey) -> Key:
        return cls(key.network, key.container_id, key.ifname)

    def alias(self) -> str:
        """The host veth's ``ifalias``; lets the agent rebuild its state from the kernel."""
        return f"{self.network}/{self.container_id}/{self.ifname}"

    @classmethod
    def from_alias(cls, alias: str) -> Key | None:
        parts = alias.split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(parts[0], parts[1], parts[2])

    def __str__(self) -> str:
        return self.alias()


@dataclass(frozen=True)
class Address:
    ip: IPAddress
    pool: str
    block: IPNetwork


@dataclass(frozen=True)
class Attachment:
    """One attachment the agent holds."""

    key: Key
    netns: str
    host_ifname: str
    addresses: tuple[Address, ...]
    state: State
    created_at: float
    pod: PodRef = field(default_factory=PodRef)
    mtu: int = 0
    mac: str = ""
    host_mac: str = ""
    missing_since: float | None = None
    """First time reconcile found the container gone; ``None`` while it is present."""

    @property
    def ips(self) -> tuple[IPAddress, ...]:
        return tuple(a.ip for a in self.addresses)


@dataclass(frozen=True)
class Block:
    cidr: IPNetwork
    pool: str
    ready: bool
    claimed_at: float
    empty_since: float | None = None


@dataclass(frozen=True)
class PendingClaim:
    """A block claim sent to IPAM (or about to be) and not yet a usable block."""

    request_id: str
    pool: str
    cidr: IPNetwork | None = None
    """The block IPAM answered, once it did: held at IPAM and blackholed, but its
    announcement is not confirmed yet, so no address of it is handed out."""


def ledger_event(
    *,
    kind: str,
    attachment: Attachment,
    address: Address,
    now: float,
    reason: str = "",
) -> dict[str, Any]:
    """A ``LedgerEventIn`` body (``ipam_service.schemas``) with a fresh event id."""
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "ip": str(address.ip),
        "at": datetime.fromtimestamp(now, UTC).isoformat(),
        "container_id": attachment.key.container_id[:256],
        "ifname": attachment.key.ifname,
        "network": attachment.key.network[:256],
        "pod_namespace": attachment.pod.namespace[:253],
        "pod_name": attachment.pod.name[:253],
        "pod_uid": attachment.pod.uid[:64],
        "reason": reason[:256],
    }
