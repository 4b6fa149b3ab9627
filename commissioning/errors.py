"""Commissioning's failures, in its own words, each with the HTTP status that means it. The API
writes them with the same handler as every other domain error (api.error_handlers)."""

from __future__ import annotations


class CommissioningError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(CommissioningError):
    """No such record, or one the caller may not see (404 either way)."""

    status_code = 404
    code = "not_found"


class Forbidden(CommissioningError):
    status_code = 403
    code = "forbidden"


class Conflict(CommissioningError):
    """The request's or offer's state does not allow it (already placed, offer expired)."""

    status_code = 409
    code = "conflict"


class Unprocessable(CommissioningError):
    status_code = 422
    code = "unprocessable"
