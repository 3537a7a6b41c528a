"""/v1/racks/{rack}/tor-config: the ToR's generated config, with a strong ETag.

Automation polls with ``If-None-Match``; while the blocks, nodes and policy stay the
same the text (and so the ETag) stays the same and the answer is ``304``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from fabric_controller.api.deps import MetricsDep, PlacementDep, ReaderDep, SessionDep, SettingsDep
from fabric_controller.auth import Access
from fabric_controller.schemas import TorFormat
from fabric_controller.services.torconfig import TorConfigService
from ipam_service.schemas import Name, Problem

router = APIRouter(tags=["tor-config"])
SUFFIX = {"bird": "bird.conf", "frr": "frr.conf"}


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


@router.get(
    "/v1/racks/{rack}/tor-config",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The config, ready to load."},
        304: {"description": "Unchanged since the ETag given in If-None-Match."},
        404: {"model": Problem},
        422: {"model": Problem},
        502: {"model": Problem},
    },
)
async def tor_config(
    rack: str,
    session: SessionDep,
    settings: SettingsDep,
    placement: PlacementDep,
    principal: ReaderDep,
    metrics: MetricsDep,
    format: Annotated[TorFormat, Query(description="bird (BIRD 2) or frr (FRR 8.4).")],
    tor: Annotated[Name | None, Query(description="The ToR, when the rack has several.")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    service = TorConfigService(placement, settings)
    config = await service.generate(rack, tor=tor, fmt=format, reveal=principal.may(Access.SECRETS))
    await session.commit()  # per-node ASNs allocated on first use
    headers = {"ETag": config.etag, "Cache-Control": "no-cache"}
    if etag_matches(if_none_match, config.etag):
        metrics.tor_configs.labels(format, "not_modified").inc()
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    metrics.tor_configs.labels(format, "rendered").inc()
    headers["Content-Disposition"] = f'inline; filename="{config.tor}.{SUFFIX[format]}"'
    return Response(config.text, media_type="text/plain; charset=utf-8", headers=headers)
