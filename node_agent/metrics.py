"""Prometheus metrics of one agent, in a registry of its own (no global state).

Served as text at ``GET /metrics`` on the unix socket and, when
``metrics_listen`` is set, over TCP.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds; CNI calls take milliseconds unless a block claim is waited for."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cni_seconds = Histogram(
            "flatnet_agent_cni_seconds",
            "Time the agent spent on one CNI request, by verb and outcome.",
            ["verb", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.free_addresses = Gauge(
            "flatnet_agent_free_addresses",
            "Addresses free for allocation now (cooling ones excluded).",
            ["pool"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "flatnet_agent_outbox_depth", "Ledger events waiting to be sent to IPAM.", registry=r
        )
        self.outbox_sent = Counter(
            "flatnet_agent_outbox_sent", "Ledger events delivered to IPAM.", registry=r
        )
        self.dead_letters = Counter(
            "flatnet_agent_outbox_dead_letters",
            "Ledger events IPAM refused for good.",
            registry=r,
        )
        self.ipam_errors = Counter(
            "flatnet_agent_ipam_errors", "Failed IPAM calls, by call.", ["call"], registry=r
        )
        self.block_claims = Counter(
            "flatnet_agent_block_claims", "Blocks claimed, by pool.", ["pool"], registry=r
        )
        self.block_releases = Counter(
            "flatnet_agent_block_releases", "Blocks returned, by pool.", ["pool"], registry=r
        )
        self.reconcile_actions = Counter(
            "flatnet_agent_reconcile_actions",
            "Repairs made by reconcile, by kind.",
            ["action"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "flatnet_agent_reconcile_seconds",
            "Duration of one reconcile pass.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.links_pending_delete = Gauge(
            "flatnet_agent_links_pending_delete",
            "Host veths of deleted attachments still being removed.",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
