"""Bearer tokens and roles, the same token file as IPAM plus the ``network`` role. Pure.

=================  ==============================  ==========================
role               may read                        may write
=================  ==============================  ==========================
``admin``          everything                      everything
``network``        everything                      fabrics, racks, ToRs, ASNs
``auditor``        everything (MD5 redacted)       nothing
``node:<name>``    ``/v1/nodes/<name>/bgp`` only   nothing
=================  ==============================  ==========================
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from fabric_controller.errors import Forbidden, Unauthorized

_NODE = re.compile(r"node:([a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)")


class Role(enum.Enum):
    ADMIN = "admin"
    NETWORK = "network"
    AUDITOR = "auditor"
    NODE = "node"


class Access(enum.Enum):
    READ = "read"
    WRITE = "write"
    SECRETS = "read secrets"


_GRANTS: dict[Role, frozenset[Access]] = {
    Role.ADMIN: frozenset(Access),
    Role.NETWORK: frozenset(Access),
    Role.AUDITOR: frozenset({Access.READ}),
    Role.NODE: frozenset(),
}


@dataclass(frozen=True)
class Principal:
    role: Role
    node: str | None = None

    def __str__(self) -> str:
        return f"node:{self.node}" if self.role is Role.NODE else self.role.value

    def may(self, access: Access) -> bool:
        return access in _GRANTS[self.role]


ADMIN = Principal(Role.ADMIN)


def principal_of(role: str) -> Principal:
    """'network' -> Principal(NETWORK); 'node:n1' -> Principal(NODE, 'n1')."""
    match = _NODE.fullmatch(role)
    if match is not None:
        return Principal(Role.NODE, match.group(1))
    if role in {"admin", "network", "auditor"}:
        return Principal(Role(role))
    raise ValueError(f"unknown role {role!r}; use admin, network, auditor or node:<name>")


class Tokens:
    """The token table. Only SHA-256 digests of the tokens are kept in memory."""

    def __init__(self, roles: dict[str, str]) -> None:
        self._roles = {self._digest(tok): principal_of(role) for tok, role in roles.items()}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    @classmethod
    def from_file(cls, path: Path | None) -> Tokens:
        if path is None:
            return cls({})
        data = json.loads(path.read_text())
        valid = isinstance(data, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        )
        if not valid:
            raise ValueError(f"{path}: expected a JSON object mapping tokens to roles")
        return cls(data)

    def authenticate(self, header: str | None) -> Principal:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>", field="Authorization")
        found = self._roles.get(self._digest(token.strip()))
        if found is None:
            raise Unauthorized("unknown token", field="Authorization")
        return found


def require(principal: Principal, access: Access) -> None:
    if not principal.may(access):
        raise Forbidden(f"role {str(principal)!r} may not {access.value} topology and policy")


def require_node_or_reader(principal: Principal, node: str) -> None:
    """A node may read its own peering; readers may read anyone's."""
    if principal.role is Role.NODE and principal.node == node:
        return
    if principal.may(Access.READ):
        return
    raise Forbidden(f"role {str(principal)!r} may not read the BGP peering of node {node!r}")
