"""Errors of the IPAM service. Each carries its HTTP status; one handler renders problem+json.

::

    IpamError (500)
    ├── InvalidInput (422)              names the offending ``field``
    │   └── PayloadTooLarge (413)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    │   ├── PoolNotFound
    │   ├── NodeNotFound
    │   └── BlockNotFound
    └── Conflict (409)
        ├── PoolOverlapConflict          CIDRs overlap another pool or subnet
        ├── PoolInUseConflict            pool still has held blocks
        ├── PoolExhausted                no free block left for the node
        ├── BlockInUseConflict           live owners remain in the block
        ├── RequestIdConflict            request id reused for another pool
        └── OwnershipConflict            an IP already has a live owner
"""

from __future__ import annotations


class IpamError(Exception):
    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(IpamError):
    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class PayloadTooLarge(InvalidInput):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class Unauthorized(IpamError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(IpamError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(IpamError):
    status = 404
    title = "Not found"
    slug = "not-found"


class PoolNotFound(NotFound):
    slug = "pool-not-found"


class NodeNotFound(NotFound):
    slug = "node-not-found"


class BlockNotFound(NotFound):
    slug = "block-not-found"


class Conflict(IpamError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PoolOverlapConflict(Conflict):
    slug = "pool-overlap"


class PoolInUseConflict(Conflict):
    slug = "pool-in-use"


class PoolExhausted(Conflict):
    title = "Pool exhausted"
    slug = "pool-exhausted"


class BlockInUseConflict(Conflict):
    slug = "block-in-use"


class RequestIdConflict(Conflict):
    slug = "request-id-conflict"


class OwnershipConflict(Conflict):
    slug = "ownership-conflict"
