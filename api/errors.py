"""The API's errors: the domain's (core.errors, re-exported here) and the ones only HTTP has
(401, 429, 503). Each carries its status and a stable code that clients can switch on, so
services raise meaning and one set of handlers (api.error_handlers) writes the body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable

__all__ = [
    "ERROR_RESPONSES",
    "NOT_FOUND_RESPONSES",
    "Conflict",
    "DomainError",
    "ErrorBody",
    "ErrorDetail",
    "FieldError",
    "Forbidden",
    "NotFound",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "error_response",
]


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        # RFC 6750: a bearer-protected resource names its scheme when it refuses a request.
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class TooManyRequests(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"


class FieldError(BaseModel):
    loc: list[str | int]
    message: str
    type: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    # Only request validation fills this: which fields were wrong, and why.
    details: list[FieldError] | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": {"code": "not_found", "message": "provider P042 not found"}}]
        }
    )

    error: ErrorDetail


def error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Declared on every router so the OpenAPI document shows the real error body instead of
# FastAPI's default validation schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response("No valid access token: sign in at /auth/token."),
    403: error_response("The caller's role may not use this operation."),
    422: error_response("The request's parameters or body are invalid."),
    503: error_response("The database is unavailable."),
}
NOT_FOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: error_response("No such record, or not visible to the caller."),
}
