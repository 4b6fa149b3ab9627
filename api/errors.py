"""Domain errors. Each carries its HTTP status and a stable code that clients can switch on,
so services raise meaning and one set of handlers (api.error_handlers) writes the body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class DomainError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers
        if code is not None:
            self.code = code


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        # RFC 6750: a bearer-protected resource names its scheme when it refuses a request.
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    status_code = 422
    code = "unprocessable"


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
