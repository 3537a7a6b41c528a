"""Errors of the Kubernetes side of the controller: a subtree of ``ControllerError``.

::

    ControllerError (fabric_controller.errors)
    ├── NotFound (404)
    │   └── NamespaceNotFound            no such namespace in the watched cache
    ├── KubeError (503)
    │   ├── KubeConfigError              no API URL or credentials could be found
    │   ├── NamespacesUnsyncedError      the namespace watch has not listed yet (or is off)
    │   ├── KubeUnavailableError         transport failure: refused, reset, timed out
    │   └── KubeApiError                 the API server answered with a failure ``Status``
    │       ├── ObjectNotFound           404 NotFound
    │       ├── ObjectConflict           409 Conflict / AlreadyExists (stale resourceVersion)
    │       └── WatchExpiredError        410 Gone / Expired: the resourceVersion was compacted
    └── ReconcileError                   raised by handlers of the per-key engine
        ├── TemporaryError(delay)        retry the key after ``delay`` (or the engine's backoff)
        └── PermanentError               give up on this event; the next event tries again

Handlers may raise anything else too; the engine treats it like a ``TemporaryError``
without a delay and logs the traceback.
"""

from __future__ import annotations

from typing import Any

from fabric_controller.errors import ControllerError, NotFound


class KubeError(ControllerError):
    """Base of every error of the Kubernetes adapter."""

    status, title, slug = 503, "Kubernetes API unavailable", "kube-unavailable"


class KubeConfigError(KubeError):
    pass


class NamespacesUnsyncedError(KubeError):
    title, slug = "Namespace pools not known yet", "namespaces-unsynced"


class NamespaceNotFound(NotFound):
    slug = "namespace-not-found"


class KubeUnavailableError(KubeError):
    pass


class KubeApiError(KubeError):
    """A failure ``Status`` from the API server; ``reason`` is its machine-readable reason."""

    def __init__(self, *, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message

    @classmethod
    def from_status(cls, code: int, status: dict[str, Any] | None) -> KubeApiError:
        """Build the most specific error for an HTTP code and a (possibly absent) Status."""
        body = status or {}
        code = int(body.get("code") or code)
        reason = str(body.get("reason") or "Unknown")
        message = str(body.get("message") or "")
        kind: type[KubeApiError] = {
            404: ObjectNotFound,
            409: ObjectConflict,
            410: WatchExpiredError,
        }.get(code, KubeApiError)
        return kind(code=code, reason=reason, message=message)


class ObjectNotFound(KubeApiError):
    pass


class ObjectConflict(KubeApiError):
    pass


class WatchExpiredError(KubeApiError):
    pass


class ReconcileError(ControllerError):
    """Base of what handlers raise to steer the engine."""


class TemporaryError(ReconcileError):
    """Retry later: after ``delay`` seconds, or after the engine's backoff when ``None``."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(ReconcileError):
    """Retrying the same event cannot help; wait for the object to change."""
