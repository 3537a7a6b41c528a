"""Errors raised by the node agent.

Every error the agent raises derives from :class:`AgentError`, so the local API
can map any of them to a CNI error object in one handler. ``cni_code`` is the
CNI error code (SPEC section 5) that handler puts on the wire.

Tree::

    AgentError
    ├── InterfaceNameError        an ifname the kernel would refuse
    ├── NetlinkError              the kernel refused a netlink or netns operation
    │   ├── NamespaceNotFound     the netns path is missing or not a network namespace
    │   ├── LinkNotFound          no link with that name or ifindex (ENODEV)
    │   ├── LinkConflict          a link with that name already exists (EEXIST)
    │   └── RouteNotFound         no such route (ESRCH)
    ├── PodCheckError             CHECK found the pod wiring differs from what was expected
    ├── RequestError              a local API request that breaks the contract
    ├── UnknownPoolError          the netconf names a pool the agent does not serve
    ├── AttachmentNotFound        CHECK for an attachment the agent does not hold
    ├── AttachmentConflict        ADD for an attachment that is already wired (CNI-041)
    ├── PoolExhausted             no free address and no block could be claimed in time
    ├── ShuttingDownError         the agent is stopping; the runtime should retry
    ├── DrainedError              the node is drained (routes withdrawn): no new pods, no claims
    ├── StoreError                the local SQLite state could not be read or written
    ├── IpamError                 a call to the central IPAM service failed
    │   ├── IpamUnavailable       unreachable or timed out (retry later)
    │   │   └── IpamServerError   answered 5xx (a transient failure inside IPAM)
    │   └── IpamRejected          answered 4xx with problem+json
    │       ├── IpamNodeNotFound  the node is not registered (404 node-not-found)
    │       ├── IpamPoolExhausted the pool has no free block for this node
    │       └── IpamBlockConflict the block still has live owners in the ledger
    └── BgpError                  the BGP speaker (ExaBGP) failed
        ├── BgpConfigError        the peers cannot be made into an ExaBGP config
        ├── ExabgpError           ExaBGP cannot be started or its API bridge is gone
        ├── BgpCommandError       ExaBGP answered ``error`` to a command
        ├── BgpTimeoutError       ExaBGP did not acknowledge in time
        └── PeeringError          the fabric controller gave no peering (unreachable, not ready)
            ├── PeeringNodeNotFound   it does not know the node (not registered in IPAM yet)
            └── PeeringRefusedError   it refused the request (401/403/4xx): asking again won't help

``http_status`` is what the local API answers for the error; IPAM errors never
reach the CNI plugin directly (they are wrapped in ``PoolExhausted`` first).

Add new errors under the branch that describes *what failed*, draw them in the
tree above, and keep the names ending in ``NotFound``, ``Conflict``,
``Exhausted`` or ``Error``.
"""

from __future__ import annotations

from typing import ClassVar

from cni.contract import (
    ERR_DECODE,
    ERR_INTERNAL,
    ERR_INVALID_CONFIG,
    ERR_INVALID_ENV,
    ERR_IO,
    ERR_TRY_AGAIN_LATER,
    ERR_UNKNOWN_CONTAINER,
)


class AgentError(Exception):
    """Base of every error the node agent raises."""

    cni_code: ClassVar[int] = ERR_INTERNAL
    http_status: ClassVar[int] = 500


class InterfaceNameError(AgentError):
    """An interface name is empty, longer than 15 bytes or has forbidden characters."""

    cni_code = ERR_INVALID_ENV


class NetlinkError(AgentError):
    """The kernel refused a netlink or network-namespace operation.

    ``errno`` is the kernel's error number, or ``None`` when the error was
    detected without a syscall.
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class NamespaceNotFound(NetlinkError):
    """The netns path does not exist or no longer refers to a network namespace."""

    cni_code = ERR_INVALID_ENV


class LinkNotFound(NetlinkError):
    """No link with the given name or ifindex (ENODEV)."""


class LinkConflict(NetlinkError):
    """A link with the requested name already exists (EEXIST)."""


class RouteNotFound(NetlinkError):
    """The route to delete does not exist (ESRCH)."""


class PodCheckError(AgentError):
    """CHECK found the pod's wiring missing or different from what was expected."""


class RequestError(AgentError):
    """A local API request that is not the shape :mod:`cni.contract` defines."""

    cni_code = ERR_DECODE
    http_status = 400


class UnknownPoolError(AgentError):
    """The netconf names a pool that is neither in ``pools`` nor in ``extra_pools``."""

    cni_code = ERR_INVALID_CONFIG
    http_status = 422


class AttachmentNotFound(AgentError):
    """CHECK for an attachment (network, container_id, ifname) the agent does not hold."""

    cni_code = ERR_UNKNOWN_CONTAINER
    http_status = 404


class AttachmentConflict(AgentError):
    """ADD for an attachment that is already wired; the runtime must DEL it first."""

    http_status = 409


class PoolExhausted(AgentError):
    """No free address in the node's blocks and no new block could be claimed in time."""

    cni_code = ERR_TRY_AGAIN_LATER
    http_status = 503

    def __init__(self, message: str, *, pool: str = "") -> None:
        super().__init__(message)
        self.pool = pool


class ShuttingDownError(AgentError):
    """The agent is stopping and takes no new work; the runtime retries later."""

    cni_code = ERR_TRY_AGAIN_LATER
    http_status = 503


class DrainedError(AgentError):
    """The node is drained (``flatnet agent drain``): its routes are withdrawn, so a new pod
    would be unreachable from other nodes. The runtime retries later (or elsewhere)."""

    cni_code = ERR_TRY_AGAIN_LATER
    http_status = 503


class StoreError(AgentError):
    """The local SQLite state could not be read or written."""

    cni_code = ERR_IO


class IpamError(AgentError):
    """A call to the central IPAM service failed."""

    cni_code = ERR_TRY_AGAIN_LATER
    http_status = 503


class IpamUnavailable(IpamError):
    """IPAM was unreachable or timed out: try again later."""


class IpamServerError(IpamUnavailable):
    """IPAM answered 5xx: it is up but failed this call (a deadlock, a restart)."""


class IpamRejected(IpamError):
    """IPAM answered 4xx; ``status`` and the problem ``slug`` say why."""

    def __init__(self, message: str, *, status: int, slug: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug


class IpamNodeNotFound(IpamRejected):
    """IPAM does not know this node (it was deleted, or never registered)."""


class IpamPoolExhausted(IpamRejected):
    """IPAM has no free block in the pool for this node."""


class IpamBlockConflict(IpamRejected):
    """IPAM refused to release a block that still has live owners in its ledger."""


class BgpError(AgentError):
    """The BGP speaker failed. The prefixes stay desired and are replayed later."""

    cni_code = ERR_TRY_AGAIN_LATER
    http_status = 503


class BgpConfigError(BgpError):
    """The BGP peers cannot be made into an ExaBGP config (bad family, unreadable MD5 file)."""

    cni_code = ERR_INVALID_CONFIG
    http_status = 500


class ExabgpError(BgpError):
    """ExaBGP cannot be started, or its API bridge is not connected."""


class BgpCommandError(BgpError):
    """ExaBGP answered ``error`` to a command; ``command`` is the line it refused."""

    def __init__(self, message: str, *, command: str) -> None:
        super().__init__(message)
        self.command = command


class BgpTimeoutError(BgpError):
    """ExaBGP did not acknowledge a command within ``BgpSettings.ack_timeout``."""


class PeeringError(BgpError):
    """The fabric controller gave the node no BGP peering in time: unreachable, a 5xx, or
    not ready (the node, its rack or a ToR not known yet)."""


class PeeringNodeNotFound(PeeringError):
    """The fabric controller does not know the node: IPAM has no such node (yet)."""


class PeeringRefusedError(PeeringError):
    """The fabric controller refused the request (bad token, wrong role, bad node name)."""

    cni_code = ERR_INVALID_CONFIG
    http_status = 500
