"""Errors of the fabric controller. Each carries its HTTP status; one handler renders them.

::

    ControllerError (500)
    ├── InvalidInput (422)               names the offending ``field``
    │   ├── MalformedJson (400)
    │   └── PayloadTooLarge (413)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    │   ├── FabricNotFound
    │   ├── RackNotFound
    │   ├── TorNotFound
    │   └── NodeNotFound                 IPAM has no such node
    ├── Conflict (409)
    │   ├── DuplicateConflict            the name (or address) is taken
    │   ├── AsnConflict                  the ASN is used elsewhere in the fabric
    │   ├── SubnetOverlapConflict        a rack subnet overlaps another rack's
    │   ├── InUseConflict                still referenced (a fabric with racks)
    │   ├── AsnExhausted                 no free ASN left in the per-node range
    │   └── SecretError                  the MD5 secret cannot be read or rendered
    ├── UpstreamError (502)              IPAM failed or could not be reached
    └── RoutingError (any 4xx)           no such route or method (from the framework)

Subclasses declare their problem type (``slug``) and, where it changes, status and title
as class arguments: ``class RackNotFound(NotFound, slug="rack-not-found")`` (class
attributes work too; the Kubernetes and drift subtrees use them).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ControllerError(Exception):
    status = 500
    title = "Internal error"
    slug = "internal"

    def __init_subclass__(
        cls,
        *,
        slug: str | None = None,
        status: int | None = None,
        title: str | None = None,
        **kw: Any,
    ) -> None:
        # Class arguments, when given, set what the class body would (both styles work).
        super().__init_subclass__(**kw)
        cls.slug = slug or cls.slug
        cls.status = status or cls.status
        cls.title = title or cls.title

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(ControllerError, slug="invalid-input", status=422, title="Invalid input"):
    """The request is well-formed but its values break a rule."""


class MalformedJson(InvalidInput, slug="malformed-json", status=400, title="Malformed JSON"):
    """The body is not JSON at all."""


class PayloadTooLarge(
    InvalidInput, slug="payload-too-large", status=413, title="Payload too large"
):
    """The body is declared larger than ``max_body_bytes``."""


class Unauthorized(ControllerError, slug="unauthorized", status=401, title="Unauthorized"):
    """No bearer token, or one the token file does not hold."""


class Forbidden(ControllerError, slug="forbidden", status=403, title="Forbidden"):
    """The token's role may not do this."""


class NotFound(ControllerError, slug="not-found", status=404, title="Not found"):
    """A named thing does not exist."""


class FabricNotFound(NotFound, slug="fabric-not-found"):
    """No fabric of that name."""


class RackNotFound(NotFound, slug="rack-not-found"):
    """No rack of that name (or a node's rack label names none)."""


class TorNotFound(NotFound, slug="tor-not-found"):
    """The rack has no ToR of that name."""


class NodeNotFound(NotFound, slug="node-not-found"):
    """IPAM has no live node of that name."""


class Conflict(ControllerError, slug="conflict", status=409, title="Conflict"):
    """The change conflicts with what is stored."""


class DuplicateConflict(Conflict, slug="duplicate"):
    """The name or the address is already taken."""


class AsnConflict(Conflict, slug="asn-conflict"):
    """The ASN is already used in the fabric, by a rack, a ToR or a node."""


class SubnetOverlapConflict(Conflict, slug="subnet-overlap"):
    """A subnet overlaps a subnet of another rack."""


class InUseConflict(Conflict, slug="in-use"):
    """Still referenced: a fabric that has racks."""


class AsnExhausted(Conflict, slug="asn-exhausted", title="ASN range exhausted"):
    """Every ASN of the fabric's per-node range is allocated."""


class SecretError(Conflict, slug="md5-secret", title="MD5 secret unusable"):
    """The MD5 secret cannot be read, or cannot be written into a config."""


class UpstreamError(ControllerError, slug="upstream", status=502, title="IPAM unavailable"):
    """IPAM answered with a server error, or could not be reached."""


class RoutingError(ControllerError, slug="http", title="Not routed"):
    """The framework's own 404/405 (no such path, or a method the path does not take)."""

    SLUGS: ClassVar[dict[int, str]] = {404: "not-found", 405: "method-not-allowed"}

    def __init__(self, detail: str, *, status: int, title: str) -> None:
        super().__init__(detail)
        self.status, self.title = status, title
        self.slug = self.SLUGS.get(status, "http")
