"""Prometheus metrics of the route collector and the drift report.

Alert on ``flatnet_drift_entries > 0`` (by ``kind``), on a drift that has lasted
(``time() - flatnet_drift_oldest_start_timestamp_seconds > 300``), on a collector
session that is down (``flatnet_collector_session_up == 0``), and on a report that
stopped updating (``time() - flatnet_drift_last_report_timestamp_seconds``).

The gauges describe the last report and are built when Prometheus scrapes (a custom
collector), not kept as one child object per node and kind: a report naming thousands
of nodes costs a dictionary, not thousands of label sets created and cleared.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fabric_controller.drift.classifier import DriftEntry, DriftKind
from fabric_controller.drift.rib import TorView


class _LastReport(Collector):
    def __init__(self) -> None:
        self.by_kind: dict[str, int] = {k.value: 0 for k in DriftKind}
        self.by_node: dict[tuple[str, str], int] = {}
        self.oldest: dict[str, float] = {}
        self.generated_at: float | None = None
        self.sessions: dict[tuple[str, str], bool] = {}
        self.complete: dict[tuple[str, str], bool] = {}
        self.paths: dict[str, int] = {}

    def describe(self) -> Iterator[Metric]:
        return self._families(empty=True)

    def collect(self) -> Iterator[Metric]:
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        def family(
            name: str, text: str, labels: list[str], values: dict[tuple[str, ...], float]
        ) -> Metric:
            out = GaugeMetricFamily(name, text, labels=labels)
            for key, value in ({} if empty else values).items():
                out.add_metric(list(key), value)
            return out

        yield family(
            "flatnet_drift_entries",
            "Drift entries by kind.",
            ["kind"],
            {(k,): float(v) for k, v in self.by_kind.items()},
        )
        yield family(
            "flatnet_drift_node_entries",
            "Drift entries by kind and node (node '' when nobody known announced).",
            ["kind", "node"],
            {k: float(v) for k, v in self.by_node.items()},
        )
        yield family(
            "flatnet_drift_oldest_start_timestamp_seconds",
            "Start time of the oldest drift entry of each kind (absent: none).",
            ["kind"],
            {(k,): v for k, v in self.oldest.items()},
        )
        yield family(
            "flatnet_drift_last_report_timestamp_seconds",
            "When the last drift report was computed.",
            [],
            {} if self.generated_at is None else {(): self.generated_at},
        )
        yield family(
            "flatnet_collector_session_up",
            "1 when the collector's session with the ToR address is established.",
            ["tor", "peer"],
            {k: float(v) for k, v in self.sessions.items()},
        )
        yield family(
            "flatnet_collector_view_complete",
            "1 when the collector's view of the ToR's family is complete (End-of-RIB seen).",
            ["tor", "family"],
            {k: float(v) for k, v in self.complete.items()},
        )
        yield family(
            "flatnet_collector_paths",
            "Paths in the pod pools per ToR.",
            ["tor"],
            {(k,): float(v) for k, v in self.paths.items()},
        )


@dataclass
class DriftMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.last = _LastReport()
        r.register(self.last)
        self.report_seconds = Histogram(
            "flatnet_drift_report_seconds",
            "Time to compute one drift report, IPAM reads included.",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.report_errors = Counter(
            "flatnet_drift_report_errors",
            "Drift reports that failed (IPAM unreadable).",
            registry=r,
        )
        self.exabgp_starts = Counter(
            "flatnet_collector_exabgp_starts",
            "Times the collector's ExaBGP was started.",
            registry=r,
        )
        self.message_errors = Counter(
            "flatnet_collector_message_errors",
            "ExaBGP API lines the collector could not read.",
            registry=r,
        )

    def observe(self, entries: Sequence[DriftEntry], *, generated_at: float) -> None:
        by_kind = Tally(e.kind.value for e in entries)
        oldest: dict[str, float] = {}
        for e in entries:
            kind = e.kind.value
            if kind not in oldest or e.since < oldest[kind]:
                oldest[kind] = e.since
        last = self.last
        last.by_kind = {k.value: by_kind[k.value] for k in DriftKind}
        last.by_node = dict(Tally((e.kind.value, e.node or "") for e in entries))
        last.oldest = oldest
        last.generated_at = generated_at

    def observe_rib(self, tors: Sequence[TorView]) -> None:
        last = self.last
        last.paths = {t.name: len(t.paths) for t in tors}
        last.sessions = {(t.name, str(s.peer)): s.state == "up" for t in tors for s in t.sessions}
        last.complete = {(t.name, f"ipv{v}"): v in t.covered for t in tors for v in (4, 6)}
