"""Prometheus metrics of the BGP speaker, registered in the registry the agent passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class SpeakerMetrics:
    """Session state and prefix counts per peer, ExaBGP restarts and ack latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.session_up = Gauge(
            "flatnet_bgp_session_up",
            "1 when the BGP session to the peer is established.",
            ["peer"],
            registry=registry,
        )
        self.session_changes = Counter(
            "flatnet_bgp_session_changes",
            "BGP session state changes reported by ExaBGP.",
            ["peer", "state"],
            registry=registry,
        )
        self.prefixes_sent = Gauge(
            "flatnet_bgp_prefixes_sent",
            "Prefixes the speaker has handed to ExaBGP for the peer.",
            ["peer"],
            registry=registry,
        )
        self.prefixes_acknowledged = Gauge(
            "flatnet_bgp_prefixes_acknowledged",
            "Prefixes ExaBGP has acknowledged for the peer.",
            ["peer"],
            registry=registry,
        )
        self.prefixes_desired = Gauge(
            "flatnet_bgp_prefixes_desired",
            "Prefixes the node holds and wants announced.",
            registry=registry,
        )
        self.command_errors = Counter(
            "flatnet_bgp_command_errors",
            "Commands ExaBGP answered with 'error'.",
            registry=registry,
        )
        self.exabgp_up = Gauge(
            "flatnet_bgp_exabgp_up",
            "1 while ExaBGP runs and its API bridge is connected.",
            registry=registry,
        )
        self.exabgp_restarts = Counter(
            "flatnet_bgp_exabgp_restarts",
            "Times ExaBGP died and was started again.",
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "flatnet_bgp_ack_seconds",
            "Time from writing a command to ExaBGP's acknowledgement.",
            buckets=ACK_BUCKETS,
            registry=registry,
        )
