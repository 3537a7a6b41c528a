"""The wire contract between the CNI plugin and the node agent.

The plugin speaks HTTP/1.1 with JSON bodies to the agent over a unix socket
(default ``/run/flatnet/agent.sock``). This module is standard library only and
runs on Python 3.9, because the plugin executes under the host's ``python3``.
The node agent imports these dataclasses to serve the same shapes.

Endpoints (all ``POST`` unless noted, body = ``asdict(<Request>)``):

* ``/v1/cni/add``    ``AddRequest``   -> ``Attachment``
* ``/v1/cni/del``    ``DelRequest``   -> ``{}`` (idempotent: unknown keys succeed)
* ``/v1/cni/check``  ``CheckRequest`` -> ``{}``
* ``/v1/cni/gc``     ``GcRequest``    -> ``{"released": [...]}``
* ``GET /v1/cni/status``              -> ``StatusReply``

A failure answers a non-2xx status with ``asdict(AgentError)``; ``code`` is a CNI
error code (spec section 5) that the plugin passes through unchanged. Use
:func:`asdict` from here (it is :func:`cni.records.asdict`) to put a message on
the wire: the classes are records at run time, dataclasses to the type checker.
"""

from __future__ import annotations

from cni.records import asdict as asdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Type checkers see real dataclasses; at run time the plugin uses the light
    # records of cni.records (importing dataclasses costs ~13 ms per CNI call).
    from dataclasses import dataclass, field
    from typing import Dict, List, Optional
else:
    from cni.records import field
    from cni.records import record as dataclass

DEFAULT_SOCKET = "/run/flatnet/agent.sock"

# CNI error codes used across the contract (SPEC section 5 "Error").
ERR_INCOMPATIBLE_VERSION = 1
ERR_UNSUPPORTED_FIELD = 2
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENV = 4
ERR_IO = 5
ERR_DECODE = 6
ERR_INVALID_CONFIG = 7
ERR_TRY_AGAIN_LATER = 11
ERR_PLUGIN_NOT_AVAILABLE = 50
ERR_LIMITED_CONNECTIVITY = 51
ERR_INTERNAL = 999


@dataclass
class PodRef:
    """Kubernetes identity from ``CNI_ARGS`` (``K8S_POD_*``); metadata only."""

    namespace: str = ""
    name: str = ""
    uid: str = ""


@dataclass
class AttachmentKey:
    """An attachment is keyed by (network, container_id, ifname) (CNI-132)."""

    network: str
    container_id: str
    ifname: str


@dataclass
class AddRequest:
    key: AttachmentKey
    netns: str
    pod: PodRef = field(default_factory=PodRef)
    pool: Optional[str] = None
    """Pool named in the netconf; ``None`` means the agent's default."""
    mtu: Optional[int] = None
    """MTU from the netconf; ``None`` means the agent's setting."""


@dataclass
class DelRequest:
    key: AttachmentKey
    netns: str = ""
    """May be empty: DEL must succeed without a netns (CNI-052)."""


@dataclass
class IPConfig:
    address: str
    """Address with prefix length, e.g. ``10.244.1.5/32`` or ``fd00::5/128``."""
    gateway: str
    """Link-local gateway the pod routes through (169.254.1.1 or fe80::1)."""


@dataclass
class Route:
    dst: str
    gw: Optional[str] = None


@dataclass
class Attachment:
    """What the agent wired; the plugin shapes it into a versioned CNI result."""

    host_ifname: str
    host_mac: str
    ifname: str
    mac: str
    sandbox: str
    mtu: int
    ips: List[IPConfig] = field(default_factory=list)
    routes: List[Route] = field(default_factory=list)


@dataclass
class CheckRequest:
    key: AttachmentKey
    netns: str
    ips: List[str] = field(default_factory=list)
    """Addresses that ``prevResult`` claims for this attachment."""


@dataclass
class GcRequest:
    network: str
    valid: List[AttachmentKey] = field(default_factory=list)
    """Attachments to keep; every other attachment of ``network`` is released."""


@dataclass
class StatusReply:
    ready: bool
    reason: str = ""


@dataclass
class AgentError:
    code: int
    msg: str
    details: str = ""
    extra: Dict[str, str] = field(default_factory=dict)
