"""Prometheus metrics of one service process, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.claims = Counter(
            "flatnet_ipam_block_claims",
            "Block claims by pool and result.",
            ["pool", "result"],
            registry=r,
        )
        self.releases = Counter(
            "flatnet_ipam_block_releases", "Block releases by pool.", ["pool"], registry=r
        )
        self.ledger_events = Counter(
            "flatnet_ipam_ledger_events", "Ledger events by outcome.", ["outcome"], registry=r
        )
        self.errors = Counter(
            "flatnet_ipam_errors",
            "Error responses by problem type.",
            ["type", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "flatnet_ipam_request_seconds",
            "Request latency by route.",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.pool_blocks = Gauge(
            "flatnet_ipam_pool_blocks",
            "Blocks of a pool by state (held, free).",
            ["pool", "state"],
            registry=r,
        )
        self.pool_utilisation = Gauge(
            "flatnet_ipam_pool_utilisation_ratio",
            "Held blocks over usable blocks.",
            ["pool"],
            registry=r,
        )
