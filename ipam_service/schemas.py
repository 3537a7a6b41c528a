"""The IPAM API's wire contract: request and response models. No SQLAlchemy here.

Node agents, the fabric controller and operator scripts may import this module.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

IPNetwork = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address

NAME_RE = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"
REQUEST_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


def parse_cidr(value: object) -> IPNetwork:
    """Parse a CIDR strictly; host bits set is an error that shows the intended network."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not a CIDR such as 10.244.0.0/16 or fd00:244::/48")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid CIDR: {exc}") from None
        raise ValueError(f"{value!r} has host bits set; did you mean {loose}?") from None


def parse_ip(value: object) -> IPAddress:
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 or IPv6 address") from None


Cidr = Annotated[IPNetwork, BeforeValidator(parse_cidr)]
IP = Annotated[IPAddress, BeforeValidator(parse_ip)]
Name = Annotated[str, Field(pattern=NAME_RE, max_length=63)]
NodeName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", max_length=253)]
Labels = dict[
    Annotated[str, Field(min_length=1, max_length=317)], Annotated[str, Field(max_length=63)]
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReservationIn(Strict):
    """A reserved range: either ``cidr`` or ``first`` and ``last``."""

    cidr: Cidr | None = None
    first: IP | None = None
    last: IP | None = None
    description: str = Field(default="", max_length=256)


class ReservationRead(BaseModel):
    first: IP
    last: IP
    description: str


class SubnetIn(Strict):
    cidr: Cidr
    node_selector: Labels = Field(
        description='Node labels that pick this subnet, e.g. {"topology.flatnet.io/rack": "r1"}'
    )


class SubnetRead(BaseModel):
    cidr: Cidr
    node_selector: dict[str, str]


class PoolCreate(Strict):
    name: Name
    cidrs: list[Cidr] = Field(min_length=1, max_length=64)
    block_prefixlen: int = Field(ge=0, le=128)
    family: Literal[4, 6] | None = Field(default=None, description="Derived from cidrs if unset.")
    reservations: list[ReservationIn] = Field(default_factory=list, max_length=1024)
    subnets: list[SubnetIn] = Field(default_factory=list, max_length=4096)
    description: str = Field(default="", max_length=1024)


class PoolUpdate(Strict):
    add_cidrs: list[Cidr] = Field(default_factory=list, max_length=64)
    reservations: list[ReservationIn] | None = Field(
        default=None, max_length=1024, description="Replaces every reservation when given."
    )
    add_subnets: list[SubnetIn] = Field(default_factory=list, max_length=4096)
    remove_subnets: list[Cidr] = Field(default_factory=list, max_length=4096)
    description: str | None = Field(default=None, max_length=1024)


class PoolRead(BaseModel):
    name: str
    family: int
    block_prefixlen: int
    cidrs: list[Cidr]
    reservations: list[ReservationRead]
    subnets: list[SubnetRead]
    description: str
    created_at: datetime


class PoolUsage(BaseModel):
    pool: str
    family: int
    block_prefixlen: int
    blocks_total: int
    blocks_held: int
    blocks_free: int
    addresses_total: int
    addresses_used: int
    addresses_free: int


class NodeUpsert(Strict):
    node_ip: IP
    labels: Labels = Field(default_factory=dict)
    asn: int | None = Field(default=None, ge=1, le=4294967295)


class BlockRead(BaseModel):
    cidr: Cidr
    pool: str
    node: str
    request_id: str
    claimed_at: datetime
    released_at: datetime | None
    release_reason: str
    state: Literal["held", "released"]


MAX_BGP_SESSIONS = 64
"""Most BGP sessions one node may report (a node has one or two ToRs, two families each)."""


class BgpSessionIn(Strict):
    """One BGP session of a node, as its agent's speaker sees it."""

    peer: IP = Field(description="The ToR's peering address.")
    state: Literal["up", "down", "connecting"]
    last_error: str = Field(default="", max_length=1024)
    prefixes_sent: int = Field(default=0, ge=0, le=2**31 - 1)
    prefixes_acknowledged: int = Field(default=0, ge=0, le=2**31 - 1)
    since: AwareDatetime | None = Field(default=None, description="Last state change.")


class BgpSessionRead(BaseModel):
    peer: IP
    state: Literal["up", "down", "connecting"]
    last_error: str
    prefixes_sent: int
    prefixes_acknowledged: int
    since: datetime | None
    reported_at: datetime
    """When IPAM received the report that carried this session."""


class NodeRead(BaseModel):
    name: str
    node_ip: IP
    labels: dict[str, str]
    asn: int | None
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    blocks: list[BlockRead]
    bgp_sessions: list[BgpSessionRead] = Field(
        default_factory=list, description="The node's BGP sessions as its agent last reported."
    )


class BlockClaim(Strict):
    pool: Name
    request_id: str | None = Field(
        default=None,
        pattern=REQUEST_ID_RE,
        description="Client-chosen id; a retry with the same id returns the same block.",
    )


class LedgerEventIn(Strict):
    event_id: uuid.UUID
    kind: Literal["allocate", "release"]
    ip: IP
    at: AwareDatetime
    container_id: str = Field(min_length=1, max_length=256)
    ifname: str = Field(min_length=1, max_length=15)
    network: str = Field(default="", max_length=256)
    pod_namespace: str = Field(default="", max_length=253)
    pod_name: str = Field(default="", max_length=253)
    pod_uid: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=256)


class LedgerBatch(Strict):
    node: NodeName
    events: list[LedgerEventIn] = Field(min_length=1)


class LedgerBatchResult(BaseModel):
    applied: int
    duplicates: int


class LeaseRead(BaseModel):
    ip: IP
    pool: str
    block: Cidr
    node: str
    network: str
    container_id: str
    ifname: str
    pod_namespace: str
    pod_name: str
    pod_uid: str
    start: datetime
    end: datetime | None
    close_reason: str


class OwnerAt(BaseModel):
    ip: IP
    at: datetime
    owner: LeaseRead | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page.")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the offending field named."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
