"""Errors of the CNI plugin.

Exception tree::

    CniError                 a CNI error object: code, msg, details (SPEC section 5)
    AgentError (module agentclient)
    +-- AgentUnreachable     no socket, connection refused, reset before a reply
    +-- AgentTimeout         no complete reply within the deadline (CNI-046)
    +-- AgentRefused         the agent answered non-2xx with a contract AgentError
    +-- AgentProtocolError   the reply was not the HTTP/JSON the contract promises

Only ``CniError`` leaves the plugin: the verbs translate the agent errors, per verb,
in :mod:`cni.verbs`, and :mod:`cni.plugin` prints it on stdout (CNI-031/032).
The codes are the contract's (:mod:`cni.contract`); code 8 is Go's
``ErrInvalidNetNS``, which the spec table lacks (errata 10).
"""

from __future__ import annotations

from cni.contract import (
    ERR_DECODE,
    ERR_INCOMPATIBLE_VERSION,
    ERR_INTERNAL,
    ERR_INVALID_CONFIG,
    ERR_INVALID_ENV,
    ERR_IO,
    ERR_LIMITED_CONNECTIVITY,
    ERR_PLUGIN_NOT_AVAILABLE,
    ERR_TRY_AGAIN_LATER,
    ERR_UNKNOWN_CONTAINER,
    ERR_UNSUPPORTED_FIELD,
)

ERR_INVALID_NETNS = 8

__all__ = [
    "ERR_DECODE",
    "ERR_INCOMPATIBLE_VERSION",
    "ERR_INTERNAL",
    "ERR_INVALID_CONFIG",
    "ERR_INVALID_ENV",
    "ERR_INVALID_NETNS",
    "ERR_IO",
    "ERR_LIMITED_CONNECTIVITY",
    "ERR_PLUGIN_NOT_AVAILABLE",
    "ERR_TRY_AGAIN_LATER",
    "ERR_UNKNOWN_CONTAINER",
    "ERR_UNSUPPORTED_FIELD",
    "CniError",
]


class CniError(Exception):
    """A failure reported to the runtime as the spec's error object."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict[str, object]:
        """The error object; ``cniVersion`` is included as the spec asks (CNI-032)."""
        document: dict[str, object] = {"cniVersion": cni_version, "code": self.code}
        document["msg"] = self.msg
        if self.details:
            document["details"] = self.details
        return document

    def __repr__(self) -> str:
        return f"CniError(code={self.code}, msg={self.msg!r}, details={self.details!r})"
