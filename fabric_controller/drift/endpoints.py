"""HTTP endpoints of the drift report (mounted by the controller's app)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from fabric_controller.api.deps import ReaderDep
from fabric_controller.drift.schemas import DriftReport, Kind
from fabric_controller.drift.service import DriftService, unavailable
from ipam_service.schemas import Problem

router = APIRouter(prefix="/v1", tags=["drift"])


@router.get(
    "/drift",
    response_model=DriftReport,
    responses={502: {"model": Problem}, 503: {"model": Problem}},
)
async def get_drift(
    request: Request,
    _: ReaderDep,
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds (repeatable).")] = None,
    node: Annotated[str | None, Query(max_length=253, description="Only this node.")] = None,
    tor: Annotated[str | None, Query(max_length=63, description="Only this ToR.")] = None,
) -> Response:
    """The fabric's routes against IPAM: every difference, with node, ToR and start time.

    ``counts`` are over the whole report; ``entries`` honour the filters. The report is
    serialised once, here, not validated again on the way out: it was built from typed
    values, and a report of every block missing is tens of thousands of entries.
    """
    service: DriftService | None = getattr(request.app.state, "drift", None)
    if service is None:
        raise unavailable()
    report = await service.report()
    body = report.only(kinds=kind or (), node=node, tor=tor).model_dump_json()
    return Response(content=body, media_type="application/json")
