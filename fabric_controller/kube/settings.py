"""Settings of the Kubernetes node-lifecycle loop (nested in ``ControllerSettings``).

Every timing constant of the Kubernetes side lives here: the API client's timeouts, the
watch, leader election, the per-key retry engine and the node grace period.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeSettings(BaseModel):
    """How the controller reaches the Kubernetes API and runs its node lifecycle loop."""

    enabled: bool = False
    """Run the node lifecycle loop (needs a reachable API server)."""
    api_url: str = ""
    """Base URL of the Kubernetes API server; empty means in-cluster discovery."""
    rack_label: str = "topology.flatnet.io/rack"
    """Node label that maps a node to its rack."""

    # -- credentials -------------------------------------------------------------------------
    token: SecretStr | None = None
    """Bearer token; when unset, ``token_file`` (or the service-account token) is read."""
    token_file: Path | None = None
    """File holding the bearer token; re-read when it changes (bound tokens rotate)."""
    ca_file: Path | None = None
    """CA bundle of the API server; unset means the service-account ``ca.crt`` in-cluster,
    or the system store for an explicit ``api_url``."""
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    """Where in-cluster credentials are mounted (token, ca.crt, namespace)."""

    # -- API client ----------------------------------------------------------------------------
    request_timeout: float = Field(default=10.0, gt=0)
    """Seconds one non-watch API request may take."""
    watch_timeout: int = Field(default=300, ge=1)
    """``timeoutSeconds`` asked of the server for one watch; the watch is then resumed."""
    watch_read_slack: float = Field(default=30.0, gt=0)
    """Extra seconds of silence tolerated on a watch beyond ``watch_timeout``."""
    watch_backoff_initial: float = Field(default=0.5, gt=0)
    """First delay before re-watching after a transport or server error."""
    watch_backoff_max: float = Field(default=30.0, gt=0)
    """Longest delay between two watch attempts."""
    resync_period: float = Field(default=600.0, gt=0)
    """Every object in the cache is handed to the handlers again this often (level trigger)."""

    # -- leader election ---------------------------------------------------------------------
    lease_namespace: str = "flatnet-system"
    """Namespace of the coordination.k8s.io Lease used for leader election."""
    lease_name: str = "flatnet-fabric-controller"
    """Name of the leader-election Lease."""
    identity: str = ""
    """This replica's holder identity; empty means ``<hostname>_<random>``."""
    lease_duration: float = Field(default=15.0, gt=0)
    """Seconds a non-leader waits after the last observed renewal before taking over."""
    renew_deadline: float = Field(default=10.0, gt=0)
    """Seconds the leader keeps trying to renew before it stops its work."""
    retry_period: float = Field(default=2.0, gt=0)
    """Seconds between two acquire or renew attempts."""

    # -- per-key reconcile engine ------------------------------------------------------------
    backoff_initial: float = Field(default=1.0, gt=0)
    """First retry delay of a failed handler; doubles at every failure."""
    backoff_max: float = Field(default=60.0, gt=0)
    """Longest retry delay of a failed handler."""
    retry_limit: int = Field(default=12, ge=1)
    """Failures in a row after which a key is dropped until its next event or resync."""
    worker_idle_timeout: float = Field(default=60.0, gt=0)
    """A key's worker exits after this many idle seconds (it is respawned on demand)."""

    # -- node lifecycle ----------------------------------------------------------------------
    grace_period: float = Field(default=300.0, ge=0)
    """Seconds a Node object must stay gone before its blocks are released in IPAM."""
    release_orphans: bool = True
    """Also release IPAM nodes that have no Node object at all (after the grace period)."""
    register_racks: bool = True
    """Create the rack named by ``rack_label`` in the controller when a node shows one."""
    route_check_interval: float = Field(default=10.0, gt=0)
    """Seconds between two drift-report checks that a released node's routes are gone."""
    route_check_attempts: int = Field(default=12, ge=1)
    """Checks after which lingering routes are reported (log + metric) and left to drift."""

    # -- namespace pools ---------------------------------------------------------------------
    watch_namespaces: bool = True
    """Watch namespaces and publish their pool annotation (on every replica)."""
    pool_annotation: str = "flatnet.io/pool"
    """Namespace annotation that picks the IPAM pool of the namespace's pods."""

    @model_validator(mode="after")
    def _check_timings(self) -> KubeSettings:
        # The leader must give up before anyone else may take over (client-go's rule).
        if not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError("need lease_duration > renew_deadline > retry_period")
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        if self.watch_backoff_initial > self.watch_backoff_max:
            raise ValueError("watch_backoff_initial must not exceed watch_backoff_max")
        if self.token is not None and self.token_file is not None:
            raise ValueError("set either token or token_file, not both")
        return self
