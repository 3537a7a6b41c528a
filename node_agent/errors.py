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
    └── PodCheckError             CHECK found the pod wiring differs from what was expected

Add new errors under the branch that describes *what failed*, draw them in the
tree above, and keep the names ending in ``NotFound``, ``Conflict``,
``Exhausted`` or ``Error``.
"""

from __future__ import annotations

from typing import ClassVar

from cni.contract import ERR_INTERNAL, ERR_INVALID_ENV


class AgentError(Exception):
    """Base of every error the node agent raises."""

    cni_code: ClassVar[int] = ERR_INTERNAL


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
