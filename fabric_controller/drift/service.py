"""The drift report: read IPAM, take the collector's RIB, classify, remember, export.

A report is computed on every ``GET /v1/drift`` and every ``report_interval_seconds`` in
the background (so the metrics, and the alerts on them, stay current with nobody
asking). Requests that arrive while a report is being computed share its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from fabric_controller.drift import ipam as ipamview
from fabric_controller.drift.classifier import classify
from fabric_controller.drift.errors import CollectorUnavailable, IpamReadError
from fabric_controller.drift.ipam import IpamReader, NodeDirectory
from fabric_controller.drift.messages import versions
from fabric_controller.drift.metrics import DriftMetrics
from fabric_controller.drift.rib import TorView
from fabric_controller.drift.schemas import DriftReport
from fabric_controller.drift.settings import CollectorSettings, IPNetwork
from fabric_controller.drift.tracker import SinceTracker
from fabric_controller.errors import ControllerError

log = logging.getLogger(__name__)


class RibSource(Protocol):
    """What the report needs of the collector (:class:`~.collector.Collector` fits)."""

    def rib(self) -> tuple[TorView, ...]: ...

    def set_scope(self, cidrs: list[IPNetwork]) -> None: ...


class DriftService:
    def __init__(
        self,
        settings: CollectorSettings,
        *,
        ipam: IpamReader,
        rib: RibSource,
        metrics: DriftMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ipam = ipam
        self.source = rib
        self.metrics = metrics
        self.clock = clock
        self.tracker = SinceTracker()
        self.directory = NodeDirectory()
        self.versions = versions(settings.families)
        self._lock = asyncio.Lock()
        self._last: DriftReport | None = None
        self._started = 0
        """Reports begun; a caller waits for one numbered above the count it saw."""
        self._finished = 0

    async def report(self) -> DriftReport:
        """A fresh report: one whose computation started after this call was made."""
        wanted = self._started + 1
        async with self._lock:
            if self._last is not None and self._finished >= wanted:
                return self._last
            self._started += 1
            with self.metrics.report_seconds.time():
                try:
                    report = await self._compute(now=self.clock())
                except ControllerError:
                    self.metrics.report_errors.inc()
                    raise
            self._last, self._finished = report, self._started
            return report

    async def _compute(self, *, now: float) -> DriftReport:
        try:
            pools_read = await self.ipam.list_pools()
            nodes_read = await self.ipam.list_nodes()
        except ControllerError as exc:
            raise IpamReadError(f"cannot read IPAM for the drift report: {exc.detail}") from exc
        pools = [c for p in pools_read for c in p.cidrs]
        self.source.set_scope(pools)
        tors = self.source.rib()
        live = ipamview.node_refs(nodes_read, rack_label=self.settings.rack_label)
        held = ipamview.held_blocks(nodes_read)
        released = {}
        if ipamview.unexplained(tors, held, pools):
            try:
                rows = await self.ipam.list_blocks(state="released")
            except ControllerError as exc:
                raise IpamReadError(f"cannot read released blocks: {exc.detail}") from exc
            wanted = {p.prefix for t in tors for p in t.paths}
            released = ipamview.releases(rows, wanted=wanted)
        view = self.directory.view(pools=pools, live=live, held=held, released=released)
        entries = await asyncio.to_thread(classify, view, tors)
        blind = [(t.name, v) for t in tors for v in self.versions if v not in t.covered]
        entries = self.tracker.update(entries, blind=blind)
        self.metrics.observe(entries, generated_at=now)
        self.metrics.observe_rib(tors)
        return DriftReport.of(entries, tors, at=now, versions=self.versions)

    async def run(self, stop: asyncio.Event) -> None:
        """Recompute every ``report_interval_seconds`` until ``stop`` is set."""
        interval = self.settings.report_interval_seconds
        while not stop.is_set():
            try:
                report = await self.report()
                log.info(
                    "drift report: %s",
                    ", ".join(f"{k} {n}" for k, n in report.counts.items()),
                )
            except ControllerError as exc:
                log.warning("drift report failed: %s", exc.detail)
            except Exception:  # a bug must not stop the reports (or the alerts)
                log.exception("drift report crashed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def unavailable() -> CollectorUnavailable:
    return CollectorUnavailable(
        "the route collector is not running (FLATNET_CONTROLLER_COLLECTOR__ENABLED=true "
        "starts it with the controller)"
    )
