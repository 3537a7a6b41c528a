"""``RouteReport`` over the drift report the collector keeps on ``app.state.drift``.

Only the report's wire contract (``drift.schemas.DriftReport``) is used: the lifecycle loop
needs "which entries name this node", not the drift service's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from fabric_controller.drift.schemas import DriftReport
from fabric_controller.kube.errors import TemporaryError


class ReportSource(Protocol):
    async def report(self) -> DriftReport: ...


class DriftRoutes:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def routes_of(self, node: str) -> Sequence[str]:
        service: ReportSource | None = getattr(self.app.state, "drift", None)
        if service is None:
            raise TemporaryError("the route collector is not running yet")
        report = await service.report()
        found = [
            f"{e.prefix} on {e.tor} ({e.kind})"
            for e in report.entries
            if e.node == node and e.kind != "missing"
        ]
        if not report.complete:
            # a ToR whose view is incomplete may still carry the node's routes
            found.append("drift report incomplete: some ToR views are not complete")
        return found
