"""Domain errors: what went wrong, in the domain's words, with the HTTP status that means it.

Domains raise these; one handler in the API (api.error_handlers) writes the response body, and
a CLI prints the message. They carry a stable code that clients can switch on. The API adds its
own (401, 429, 503) in api.errors."""

from __future__ import annotations


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


class NotFound(DomainError):
    """No such record, or one the caller may not see (never told apart: 404 either way)."""

    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    """The caller's role may not do this at all."""

    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    """The record's state does not allow the change (already paid, already approved)."""

    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    """The input is understood but breaks a rule (a bad contract, a period the wrong way)."""

    status_code = 422
    code = "unprocessable"
