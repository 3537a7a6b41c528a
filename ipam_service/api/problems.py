"""Every error leaves as RFC 9457 problem+json that names the offending field."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ipam_service.errors import IpamError
from ipam_service.schemas import FieldError, Problem

log = logging.getLogger("flatnet.ipam.api")
MEDIA_TYPE = "application/problem+json"


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'cidrs', 0) -> 'cidrs[0]'; ('query', 'at') -> 'at'."""
    parts = list(loc[1:] if loc and loc[0] in {"body", "query", "path", "header"} else loc)
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-before[parse_cidr()]", "function-before[parse_ip()]"}:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def problem(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    field: str | None = None,
    errors: list[FieldError] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:flatnet:problem:{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        field=field,
        errors=errors or [],
    )
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(slug, str(status)).inc()
    return JSONResponse(body.model_dump(mode="json"), status_code=status, media_type=MEDIA_TYPE)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IpamError)
    return problem(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        field=exc.field,
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(field=field_path(e["loc"]), message=e["msg"]) for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return problem(
            request,
            status=400,
            slug="malformed-json",
            title="Malformed JSON",
            detail="the request body is not valid JSON",
            field="body",
            errors=errors,
        )
    first = errors[0] if errors else FieldError(field="body", message="invalid")
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem(
        request,
        status=422,
        slug="invalid-input",
        title="Invalid input",
        detail=detail,
        field=first.field,
        errors=errors,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem(
        request,
        status=exc.status_code,
        slug=slug,
        title=str(exc.detail),
        detail=f"{request.method} {request.url.path}: {exc.detail}",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(
        request,
        status=500,
        slug="internal",
        title="Internal error",
        detail="the service failed; see its log",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IpamError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
