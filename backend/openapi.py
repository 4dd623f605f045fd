"""What `/openapi.json` says about errors, so a schema-driven client (or fuzzer) can trust it.

Routes declare the errors their own code raises (`responses=errors(404, 409)`); `describe` adds
the ones the middleware answers before any route runs (a body too large, not JSON, an empty POST
without the client header, a wrong Host, a missing token), judged from each operation's shape.
Every error body is the contract's `ErrorBody`: `{"detail", "field", "code"}`.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from mlops_tui.contract import ErrorBody, LogBatch
from mlops_tui.contract.imports import RunImport

from .access import GuardedRoute

MEANING = {
    400: "The request cannot be read (e.g. a malformed multipart or form body).",
    401: "A token is configured and the request does not carry it.",
    403: "An empty POST or a raw upload without the X-Mlops-Client header (or the token); or the caller may "
         "not do this (approve their own request).",
    404: "What the path names does not exist.",
    409: "The request clashes with what is stored.",
    413: "The body, file or batch is over its size limit.",
    415: "A body that is not application/json.",
    421: "The Host header does not name this server.",
    422: "A value breaks a rule; `field` names it.",
    429: "The server is at a limit for now (the job queue is full); `Retry-After` says when to try again.",
    507: "The server's disk is full: nothing of the request was stored.",
}
REF_TEMPLATE = "#/components/schemas/{model}"
_ERROR_REF = {"$ref": REF_TEMPLATE.format(model="ErrorBody")}


class ContractRoute(GuardedRoute):
    """A route whose response model checks and documents the answer, and leaves out what the route
    left out: a field the service did not return (say `stats` in a listing) is not sent as null."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(*args, **kwargs)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status code with its meaning and the error body."""
    return {code: {"model": ErrorBody, "description": MEANING[code]} for code in codes}


RAW_BODY: dict[str, Any] = {"required": False, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
"""A request body that is a file's bytes (none: an empty file)."""


def file_answer() -> dict[int | str, dict[str, Any]]:
    """`responses=` of a file download: the bytes (`application/octet-stream`, never sniffed), or part of them."""
    binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return {200: {"description": "The file's bytes, as application/octet-stream.", "content": binary},
            206: {"description": "The part a `Range` header asked for.", "content": binary},
            416: {"description": "The `Range` lies outside the file.", "content": {"text/plain": {}}}}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads its own JSON body (fast): the body is `model`, added to
    the components by `describe`."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}}}}


def _error(code: int) -> dict[str, Any]:
    return {"description": MEANING[code], "content": {"application/json": {"schema": _ERROR_REF}}}


def _middleware_errors(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The errors the middleware may answer on this operation (see `backend.guards`, `backend.app`)."""
    found = [421]
    if path != "/healthz":
        found.append(401)
    body = operation.get("requestBody", {}).get("content", {})
    if method not in ("get", "head", "options"):
        if "application/json" in body:
            found += [413, 415]
        else:
            found += [403, 413]
        if method == "post" and not body:
            found.append(415)  # a body sent anyway must still be JSON
    return found


def describe(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document: FastAPI's, plus the middleware's errors and the models that routes
    reading their own body (`/batch`, for speed) refer to."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, LogBatch, RunImport):
        _add_component(schemas, model)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            if _uses_fastapi_422(responses):
                responses["422"] = _error(422)
            for code in _middleware_errors(path, method, operation):
                responses.setdefault(str(code), _error(code))
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = document
    return document


def _add_component(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    """`model` and the models it refers to, as components (pydantic nests them under `$defs`)."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, nested in schema.pop("$defs", {}).items():
        schemas.setdefault(name, nested)
    schemas.setdefault(model.__name__, schema)


def _uses_fastapi_422(responses: dict[str, Any]) -> bool:
    """FastAPI documents its own validation error shape; this app answers `ErrorBody` instead."""
    ref = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.endswith("/HTTPValidationError")
