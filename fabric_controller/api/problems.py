"""Every failure leaves as RFC 9457 problem+json (``application/problem+json``) naming the field.

Whatever fails becomes a :class:`ControllerError` first (validation errors, the
framework's 404/405, crashes), and :func:`render` is the one place that writes the body.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fabric_controller.errors import ControllerError, InvalidInput, MalformedJson, RoutingError
from ipam_service.schemas import FieldError, Problem

log = logging.getLogger("flatnet.controller.api")
PROBLEM_JSON = "application/problem+json"
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def dotted(loc: Sequence[int | str]) -> str:
    """('body', 'tors', 0, 'asn') -> 'tors[0].asn'; ('query', 'format') -> 'format'."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith("function-"):  # pydantic validator frames
            text += f".{part}" if text else str(part)
    return text or "body"


def render(
    request: Request, error: ControllerError, errors: Sequence[FieldError] = ()
) -> JSONResponse:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(error.slug, str(error.status)).inc()
    body = Problem(
        type=f"urn:flatnet:problem:{error.slug}",
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=request.url.path,
        field=error.field,
        errors=list(errors),
    ).model_dump(mode="json")
    return JSONResponse(body, status_code=error.status, media_type=PROBLEM_JSON)


def _as_controller_error(exc: Exception) -> tuple[ControllerError, list[FieldError]]:
    if isinstance(exc, ControllerError):
        return exc, []
    if isinstance(exc, RequestValidationError):
        found = [FieldError(field=dotted(e["loc"]), message=e["msg"]) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return MalformedJson("the request body is not valid JSON", field="body"), found
        summary = "; ".join(f"{f.field}: {f.message}" for f in found) or "invalid request"
        return InvalidInput(summary, field=found[0].field if found else "body"), found
    if isinstance(exc, HTTPException):
        return RoutingError(str(exc.detail), status=exc.status_code, title=str(exc.detail)), []
    return ControllerError("the controller failed; see its log"), []


async def handle(request: Request, exc: Exception) -> JSONResponse:
    error, found = _as_controller_error(exc)
    if error.status >= 500 and not isinstance(exc, ControllerError):
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return render(request, error, found)


def install(app: FastAPI) -> None:
    for kind in (ControllerError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, handle)
