"""Prometheus metrics of the Kubernetes side, on the registry the controller hands in."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class KubeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.handler_runs = Counter(
            "flatnet_controller_kube_handler_runs",
            "Handler runs of the per-key engine by queue and outcome"
            " (ok, requeued, retry, gave_up, permanent).",
            ["queue", "outcome"],
            registry=r,
        )
        self.watch_events = Counter(
            "flatnet_controller_kube_watch_events",
            "Events handed over by a watcher, by resource and type.",
            ["resource", "type"],
            registry=r,
        )
        self.is_leader = Gauge(
            "flatnet_controller_kube_leader",
            "1 while this replica holds the leader-election Lease.",
            registry=r,
        )
        self.leader_transitions = Counter(
            "flatnet_controller_kube_leader_changes",
            "Times this replica gained or lost leadership, by direction.",
            ["direction"],
            registry=r,
        )
        self.nodes_released = Counter(
            "flatnet_controller_kube_nodes_released",
            "Nodes whose blocks were released after their grace period.",
            registry=r,
        )
        self.releases_cancelled = Counter(
            "flatnet_controller_kube_releases_cancelled",
            "Pending releases cancelled because the Node came back in time.",
            registry=r,
        )
        self.pending_releases = Gauge(
            "flatnet_controller_kube_pending_releases",
            "Nodes gone from Kubernetes and waiting out their grace period.",
            registry=r,
        )
        self.lingering_routes = Gauge(
            "flatnet_controller_kube_lingering_routes",
            "Routes the drift report still shows for a released node after every check.",
            ["node"],
            registry=r,
        )
