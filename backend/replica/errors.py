"""A refused request, answered in each protocol's own error shape (the message names the column and
the row, as the backend's does):

- native: the backend's `{"detail", "field", "code"}` with its status (422, 413, 404, 409);
- MLflow's scoring server: `{"error_code", "message"}` (400 `BAD_REQUEST`; 413 `RESOURCE_LIMIT_EXCEEDED`);
- Open Inference Protocol: `{"error": message}` (400; 404 for another model; 413).
A replica with no model loaded yet answers 503 in each shape.
"""
from __future__ import annotations

from ..app import error_body
from ..errors import DomainError, NotFound, TooLarge
from ..responses import JSONBytes
from .service import NotReady

Refusal = DomainError | NotReady


def native_error(error: Refusal) -> JSONBytes:
    if isinstance(error, NotReady):
        return JSONBytes({"detail": str(error), "field": None, "code": "not_ready"}, status_code=503)
    status, body = error_body(error)
    return JSONBytes(body, status_code=status)


def mlflow_error(error: Refusal) -> JSONBytes:
    if isinstance(error, NotReady):
        return JSONBytes({"error_code": "TEMPORARILY_UNAVAILABLE", "message": str(error)}, status_code=503)
    if isinstance(error, TooLarge):
        return JSONBytes({"error_code": "RESOURCE_LIMIT_EXCEEDED", "message": error.message}, status_code=413)
    return JSONBytes({"error_code": "BAD_REQUEST", "message": _with_field(error)}, status_code=400)


def oip_error(error: Refusal | str, status: int = 400) -> JSONBytes:
    if isinstance(error, NotReady):
        return JSONBytes({"error": str(error)}, status_code=503)
    if isinstance(error, DomainError):
        status = 413 if isinstance(error, TooLarge) else 404 if isinstance(error, NotFound) else status
        error = _with_field(error)
    return JSONBytes({"error": error}, status_code=status)


def _with_field(error: DomainError) -> str:
    """The message, and where in the request the bad value sits when the message does not say."""
    if error.field and error.field not in error.message:
        return f"{error.message} ({error.field})"
    return error.message
