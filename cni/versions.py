"""CNI spec versions: what the plugin supports and how VERSION answers (CNI-001, 090).

This module is on the VERSION fast path, so it imports nothing beyond ``streams``.
"""

from __future__ import annotations

from cni import streams

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple, Union

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
"""Every version whose result shape we emit (CNI-060..062); no 0.1.0/0.2.0."""
LATEST = SUPPORTED_VERSIONS[-1]
IMPLICIT_VERSION = "0.1.0"
"""What an absent or empty ``cniVersion`` means (Go ``DecodeVersion``, CNI-002)."""

CONFLIST_VERSION = "1.0.0"
CONFLIST_VERSIONS = ("0.4.0", "1.0.0", "1.1.0")
"""What the shipped conflist advertises (CNI-004): libcni <= 1.1 picks 1.0.0."""

MIN_VERSION_FOR = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
"""Verbs gated by the request version (CNI-006)."""


def parse(version: str) -> Optional[Tuple[int, int, int]]:
    """``"1.0.0"`` -> ``(1, 0, 0)``; ``None`` unless it is exactly ``X.Y.Z`` digits."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    parsed, floor = parse(version), parse(minimum)
    return parsed is not None and floor is not None and parsed >= floor


def requested(conf: object) -> str:
    """The ``cniVersion`` a decoded config asks for, ``0.1.0`` when absent."""
    if not isinstance(conf, dict):
        return IMPLICIT_VERSION
    value = conf.get("cniVersion")
    if value is None or value == "":
        return IMPLICIT_VERSION
    return value if isinstance(value, str) else repr(value)


def reply_version(stdin_text: str) -> str:
    """The request's version when we support it, else our latest (CNI-090).

    Used for the VERSION answer and for the ``cniVersion`` of error objects; it
    never fails, whatever stdin holds (CNI-091).
    """
    try:
        version = requested(streams.loads(stdin_text))
    except (ValueError, RecursionError):
        return LATEST
    return version if version in SUPPORTED_VERSIONS else LATEST


def version_reply(stdin_text: str) -> Dict[str, Union[str, List[str]]]:
    """The VERSION result document."""
    return {
        "cniVersion": reply_version(stdin_text),
        "supportedVersions": list(SUPPORTED_VERSIONS),
    }
