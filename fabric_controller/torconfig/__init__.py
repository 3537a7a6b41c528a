"""Generated ToR configs (BIRD 2, FRR 8.4): pure rendering from a :class:`TorConfigSpec`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fabric_controller.torconfig import bird, frr
from fabric_controller.torconfig.spec import NodeSide, Policy, TorConfigSpec, TorSide, ident

RENDERERS: dict[str, Callable[[TorConfigSpec], str]] = {"bird": bird.render, "frr": frr.render}


def render(spec: TorConfigSpec, *, fmt: str) -> str:
    """The config text in ``fmt`` ('bird' or 'frr'); KeyError for any other format."""
    return RENDERERS[fmt](spec)


def etag(text: str) -> str:
    """A strong ETag: the quoted SHA-256 of the rendered bytes (first 32 hex digits)."""
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


__all__ = ["RENDERERS", "NodeSide", "Policy", "TorConfigSpec", "TorSide", "etag", "ident", "render"]
