"""Prometheus metrics of one controller process, on a registry of its own.

Other parts of the controller (the drift report, the lifecycle loop) register their
own collectors on ``Metrics.registry`` so that ``/metrics`` serves them all.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "flatnet_controller_request_seconds",
            "Request latency by route template.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.errors = Counter(
            "flatnet_controller_errors",
            "Problem responses by problem type.",
            ["type", "status"],
            registry=self.registry,
        )
        self.tor_configs = Counter(
            "flatnet_controller_tor_configs",
            "ToR configs asked for, by format and outcome (rendered, not_modified).",
            ["format", "outcome"],
            registry=self.registry,
        )
        self.peerings = Counter(
            "flatnet_controller_node_peerings",
            "Node BGP peering answers served.",
            registry=self.registry,
        )
