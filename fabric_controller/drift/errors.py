"""Errors of the route collector and drift report, inside the controller's error tree.

::

    ControllerError                       (fabric_controller.errors; one problem+json handler)
    └── DriftError (500)
        ├── CollectorUnavailable (503)    the collector is disabled or not running yet
        ├── CollectorConfigError (500)    the ExaBGP config cannot be rendered (MD5 file, ...)
        ├── MessageError (500)            an ExaBGP API line that cannot be understood
        └── IpamReadError (502)           IPAM could not be read for the report
"""

from __future__ import annotations

from fabric_controller.errors import ControllerError


class DriftError(ControllerError):
    status, title, slug = 500, "Route drift error", "drift"


class CollectorUnavailable(DriftError):
    status, title, slug = 503, "Route collector unavailable", "collector-unavailable"


class CollectorConfigError(DriftError):
    title, slug = "Route collector misconfigured", "collector-config"


class MessageError(DriftError):
    title, slug = "Unreadable ExaBGP message", "exabgp-message"


class IpamReadError(DriftError):
    status, title, slug = 502, "IPAM unavailable", "upstream"
