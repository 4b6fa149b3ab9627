"""The one place that turns exceptions into the API's error body."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import DomainError, ErrorBody, ErrorDetail, FieldError, Unauthorized
from api.portal.paths import PORTAL_PREFIX, SIGN_IN_PATH

log = logging.getLogger(__name__)


def error_json(
    status_code: int,
    detail: ErrorDetail,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=detail).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _portal(request: Request) -> bool:
    return request.url.path.startswith(PORTAL_PREFIX)


def _portal_page(request: Request, status_code: int, message: str) -> Response:
    """The portal's own page for a refusal or failure: a person never sees JSON."""
    from api.portal.pages import error_page  # the portal imports the API, not the reverse

    return error_page(request, status_code, message)


async def _domain(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, Unauthorized) and _portal(request):
        # A person in a browser is sent to the sign-in page, not shown a JSON error.
        return RedirectResponse(SIGN_IN_PATH, status_code=303)
    if _portal(request):
        return _portal_page(request, exc.status_code, exc.message)
    return error_json(
        exc.status_code, ErrorDetail(code=exc.code, message=exc.message), headers=exc.headers
    )


PORTAL_HTTP_MESSAGES = {
    404: "There is no page at this address.",
    405: "This page cannot be used that way: go back and use its buttons.",
}


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if _portal(request):
        message = PORTAL_HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        return _portal_page(request, exc.status_code, message)
    # Routing failures (unknown path, wrong method) get the same body as domain errors.
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "http_error"
    return error_json(
        exc.status_code, ErrorDetail(code=code, message=str(exc.detail)), headers=exc.headers
    )


def _field_name(loc: tuple[object, ...] | list[object]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "form")]
    return (parts[-1] if parts else "a field").replace("_", " ")


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    if _portal(request):
        names = sorted({_field_name(error.get("loc", ())) for error in exc.errors()})
        return _portal_page(
            request, 422, f"Please check these fields and try again: {', '.join(names)}."
        )
    fields = [
        FieldError(loc=list(error.get("loc", ())), message=error["msg"], type=error["type"])
        for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(part) for part in field.loc)}: {field.message}" for field in fields
    )
    return error_json(
        422,
        ErrorDetail(
            code="validation_error",
            message=f"Invalid request: {summary}" if summary else "Invalid request",
            details=fields,
        ),
    )


async def _database_unavailable(request: Request, exc: OperationalError) -> Response:
    # Connection-level failures are transient for the client: 503 invites a retry, 500 doesn't.
    log.warning("database unavailable: %s", exc.orig)
    if _portal(request):
        return _portal_page(request, 503, "The service cannot reach its database just now.")
    return error_json(
        503, ErrorDetail(code="database_unavailable", message="The database is unavailable.")
    )


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    if _portal(request):
        return _portal_page(request, 500, "The page could not be shown because of a fault.")
    return error_json(
        500, ErrorDetail(code="internal_error", message="An unexpected error occurred.")
    )


EXCEPTION_HANDLERS: dict[
    int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]
] = {
    DomainError: _domain,
    StarletteHTTPException: _http,
    RequestValidationError: _validation,
    OperationalError: _database_unavailable,
    Exception: _internal,
}
