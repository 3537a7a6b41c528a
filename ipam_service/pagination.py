"""Opaque cursors for keyset pagination: base64url of a small JSON list."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ipam_service.errors import InvalidInput


def encode(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, *, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this service issued", field="cursor") from None
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("cursor is not one this service issued", field="cursor")
    return key
