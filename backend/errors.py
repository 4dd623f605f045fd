"""Domain errors: what the store, the services, the pipelines and the job worker raise when a request
cannot be served. They say what went wrong and which field is at fault, and nothing about HTTP: the
app's exception handler (`backend.app`) maps each kind to its status code and JSON body.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot be served as given: a message, and the field at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """What the request names does not exist."""


class Conflict(DomainError):
    """The request clashes with what is stored (a taken name, a changed param, a finished job)."""


class AlreadyExists(Conflict):
    """The name or id the request would create is taken (MLflow's RESOURCE_ALREADY_EXISTS)."""


class Forbidden(DomainError):
    """The caller may not do this (approve their own request, move a protected alias directly)."""


class Invalid(DomainError):
    """A value breaks a rule (a bad name, a malformed file, an unknown pipeline key)."""


class TooLarge(DomainError):
    """A body, file or batch is over its size limit."""


class TooMany(DomainError):
    """The server is at a limit for now (the job queue is full): try again after `retry_after` seconds."""

    def __init__(self, message: str, field: str | None = None, retry_after: int = 30) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class JobFailure(Exception):
    """A job's step failed: `kind` is data, validation, training or config; `report` explains. The
    job worker records it as the job's outcome (FAILED, `error_kind` = kind); it never reaches HTTP."""

    def __init__(self, kind: str, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.report = report or {}
