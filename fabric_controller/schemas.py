"""The controller API's wire contract: request and response models. No SQLAlchemy here.

Node agents may import this module: :class:`PeerRead` has exactly the fields of the
agent's ``BgpPeer``, so ``BgpPeer.model_validate(peer.model_dump())`` converts one.
"""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ipam_service.schemas import IP, Cidr, Name, NodeName

AsnModel = Literal["per-rack", "per-node"]
Peering = Literal["static", "dynamic"]
TorFormat = Literal["bird", "frr"]
Asn = Annotated[int, Field(ge=1, le=4294967295)]
SecretRef = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")]


def _absolute(path: Path) -> Path:
    if not path.is_absolute():
        raise ValueError(f"{path} is not an absolute path")
    return path


AbsPath = Annotated[Path, AfterValidator(_absolute)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AsnRange(Strict):
    """A per-node ASN range, inclusive."""

    first: Asn
    last: Asn


class BgpPolicyIn(Strict):
    """Session policy of a fabric; a field left out keeps its current or default value."""

    hold_time: int | None = Field(default=None, ge=3, le=65535)
    keepalive_time: int | None = Field(default=None, ge=1, le=21845)
    graceful_restart_time: int | None = Field(default=None, ge=0, le=4095)
    max_prefixes: int | None = Field(default=None, ge=1, le=1_000_000)
    md5_password_file: AbsPath | None = Field(
        default=None, description="File with the TCP MD5 password, same path on every host."
    )
    md5_secret_ref: SecretRef | None = Field(
        default=None, description="Name of a secret in the controller's and nodes' secrets dir."
    )
    clear_md5: bool = Field(default=False, description="Remove the MD5 setting.")


class BgpPolicyRead(BaseModel):
    """Session policy as stored. The MD5 secret itself is never returned."""

    hold_time: int
    keepalive_time: int
    graceful_restart_time: int
    max_prefixes: int
    md5_password_file: Path | None
    md5_secret_ref: str | None


class FabricCreate(Strict):
    name: Name
    asn_model: AsnModel
    asn_range: AsnRange | None = Field(
        default=None, description="Per-node model only; default: the whole private 4-byte range."
    )
    bgp: BgpPolicyIn = Field(default_factory=BgpPolicyIn)
    description: str = Field(default="", max_length=1024)


class FabricUpdate(Strict):
    asn_range: AsnRange | None = None
    bgp: BgpPolicyIn | None = None
    description: str | None = Field(default=None, max_length=1024)


class FabricRead(BaseModel):
    name: str
    asn_model: AsnModel
    asn_range: AsnRange | None
    bgp: BgpPolicyRead
    description: str
    created_at: datetime
    updated_at: datetime


class TorCreate(Strict):
    name: Name
    asn: Asn
    address_v4: IPv4Address | None = Field(default=None, description="IPv4 peering address.")
    address_v6: IPv6Address | None = Field(default=None, description="IPv6 peering address.")
    router_id: IPv4Address | None = Field(default=None, description="Default: address_v4.")


class TorRead(BaseModel):
    name: str
    rack: str
    asn: int
    address_v4: IPv4Address | None
    address_v6: IPv6Address | None
    router_id: IPv4Address | None


class RackCreate(Strict):
    name: Name
    fabric: Name
    asn: Asn | None = Field(default=None, description="The nodes' ASN (per-rack model only).")
    subnets: list[Cidr] = Field(
        min_length=1,
        max_length=64,
        description="The rack's own networks, where node and ToR peering addresses live.",
    )
    pool_subnets: list[Cidr] = Field(
        default_factory=list, max_length=256, description="The rack's pod address space."
    )
    peering: Peering = Field(
        default="static", description="static: one ToR peer per node; dynamic: a listen range."
    )
    tors: list[TorCreate] = Field(default_factory=list, max_length=8)
    description: str = Field(default="", max_length=1024)


class RackUpdate(Strict):
    asn: Asn | None = None
    subnets: list[Cidr] | None = Field(default=None, min_length=1, max_length=64)
    pool_subnets: list[Cidr] | None = Field(default=None, max_length=256)
    peering: Peering | None = None
    description: str | None = Field(default=None, max_length=1024)


class RackRead(BaseModel):
    name: str
    fabric: str
    asn: int | None
    subnets: list[Cidr]
    pool_subnets: list[Cidr]
    peering: Peering
    tors: list[TorRead]
    description: str
    created_at: datetime
    updated_at: datetime


class RackNodeRead(BaseModel):
    """A node of a rack as the ToR sees it: its address, ASN and current blocks."""

    name: str
    node_ip: IP
    asn: int
    blocks: list[Cidr]


class NodeAsnRead(BaseModel):
    node: str
    fabric: str
    asn: int
    allocated_at: datetime


class PeerRead(BaseModel):
    """One ToR session of a node; the same fields as ``node_agent.bgp.settings.BgpPeer``."""

    address: IPv4Address | IPv6Address
    peer_as: int
    local_as: int
    local_address: IPv4Address | IPv6Address | None
    router_id: IPv4Address | None
    hold_time: int
    graceful_restart: int
    md5_password_file: Path | None
    families: list[str]
    next_hop_ipv4: IPv4Address | None = None
    """None: the agent announces with the session's own address (the ToR checks that)."""
    next_hop_ipv6: IPv6Address | None = None


class NodeBgpRead(BaseModel):
    """``GET /v1/nodes/{name}/bgp``: everything a node agent needs to peer with its ToRs."""

    node: NodeName
    rack: str
    fabric: str
    asn_model: AsnModel
    local_as: int
    keepalive_time: int
    peers: list[PeerRead]
    tors: list[str] = Field(description="ToR name of each entry of peers, in the same order.")
