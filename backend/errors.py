"""Errors the store and services raise; the app turns each into a JSON response.

Every error body is `{"detail": "<message>", "field": "<field or null>", "code": "<kind>"}`.
"""
from __future__ import annotations


class ApiError(Exception):
    """A client-caused error: status 4xx, a message, and the field at fault when there is one."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, str | None]:
        return {"detail": self.message, "field": self.field, "code": self.code}


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Invalid(ApiError):
    status_code = 422
    code = "invalid"


class TooLarge(ApiError):
    status_code = 413
    code = "too_large"
