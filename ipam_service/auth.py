"""Bearer tokens mapped to roles, and what each role may do. Pure: no I/O but loading.

Roles: ``admin`` (everything), ``auditor`` (read-only), ``node:<name>`` (register
that node, claim and release its blocks, post its ledger events). Anything else
is refused.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ipam_service.errors import Forbidden, Unauthorized

NODE_ROLE = re.compile(r"^node:([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$")


class Access(enum.Enum):
    READ = "read"
    ADMIN = "admin"
    NODE = "node"


@dataclass(frozen=True)
class Principal:
    role: str
    node: str | None = None


ADMIN = Principal("admin")


def parse_role(role: str) -> Principal:
    if role in {"admin", "auditor"}:
        return Principal(role)
    match = NODE_ROLE.match(role)
    if match is None:
        raise ValueError(f"unknown role {role!r}; use admin, auditor or node:<name>")
    return Principal("node", match.group(1))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenTable:
    """Tokens are kept only as SHA-256 digests."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._by_digest = {_digest(t): parse_role(r) for t, r in tokens.items()}

    @classmethod
    def load(cls, path: Path | None) -> TokenTable:
        if path is None:
            return cls({})
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError(f"{path}: expected a JSON object of token to role strings")
        return cls(data)

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("send Authorization: Bearer <token>", field="Authorization")
        found = self._by_digest.get(_digest(authorization[7:].strip()))
        if found is None:
            raise Unauthorized("unknown token", field="Authorization")
        return found


def authorize(principal: Principal, access: Access, *, node: str | None = None) -> None:
    if principal.role == "admin":
        return
    if access is Access.READ and principal.role == "auditor":
        return
    if access is Access.NODE and principal.role == "node" and principal.node == node:
        return
    acting = principal.role if principal.node is None else f"node:{principal.node}"
    target = f" for node {node!r}" if node is not None else ""
    raise Forbidden(f"role {acting!r} may not perform this {access.value} action{target}")
