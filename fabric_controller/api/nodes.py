"""/v1/nodes/{name}/bgp: a node's peering, as its agent fetches it; and ASN release."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from fabric_controller.api.deps import (
    MetricsDep,
    PlacementDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    WriterDep,
)
from fabric_controller.auth import require_node_or_reader
from fabric_controller.errors import NotFound
from fabric_controller.schemas import NodeBgpRead
from fabric_controller.services.asns import AsnService
from fabric_controller.services.peering import PeeringService
from ipam_service.schemas import NodeName, Problem

router = APIRouter(
    prefix="/v1/nodes",
    tags=["nodes"],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}},
)


@router.get("/{name}/bgp", responses={502: {"model": Problem}})
async def node_bgp(
    name: NodeName,
    session: SessionDep,
    settings: SettingsDep,
    placement: PlacementDep,
    principal: PrincipalDep,
    metrics: MetricsDep,
) -> NodeBgpRead:
    """The node's ToR sessions: addresses, ASNs, timers, graceful restart and MD5 file."""
    require_node_or_reader(principal, name)
    peering = await PeeringService(placement, settings).node_bgp(name)
    await session.commit()  # a per-node ASN is allocated on first use
    metrics.peerings.inc()
    return peering


@router.delete("/{name}/asn", status_code=status.HTTP_204_NO_CONTENT)
async def release_asn(name: NodeName, session: SessionDep, _: WriterDep) -> Response:
    """Forget the node's per-node ASN (after the node left for good)."""
    if not await AsnService(session).release(name):
        raise NotFound(f"node {name!r} holds no allocated ASN", field="name")
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
