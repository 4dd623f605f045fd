"""How MLflow's REST protocol carries requests and errors.

The MLflow client sends a GET request's fields as query parameters (a list field as repeated keys) and
every other method's as a JSON body, DELETE included. `read_message` accepts both on every route and
validates them with a pydantic model of the MLflow message. Errors are `{"error_code", "message"}`
with MLflow's status for the code, always 4xx for a request the backend refuses.
"""
from __future__ import annotations

import types
import typing
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_tui.contract.fields import dotted_path

from ..errors import AlreadyExists, DomainError, Forbidden, Invalid, NotFound
from ..responses import JSONBytes

PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow/")
"""Paths answered in MLflow's shapes (errors included)."""

RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
PERMISSION_DENIED = "PERMISSION_DENIED"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
BAD_REQUEST = "BAD_REQUEST"

STATUS_OF_CODE = {
    RESOURCE_DOES_NOT_EXIST: 404,
    ENDPOINT_NOT_FOUND: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    INVALID_PARAMETER_VALUE: 400,
    BAD_REQUEST: 400,
    PERMISSION_DENIED: 403,
}
"""MLflow's HTTP status for each error code this API answers (`mlflow.exceptions`)."""


def is_mlflow_path(path: str) -> bool:
    """Under one of the `PREFIXES`, or one of them without its last slash (`/api/2.0/mlflow-artifacts`)."""
    return path.startswith(PREFIXES) or f"{path}/" in PREFIXES


class MlflowError(Exception):
    """An error answered exactly as MLflow would: its code (and the status that code has)."""

    def __init__(self, message: str, code: str = INVALID_PARAMETER_VALUE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def code_of(error: DomainError) -> str:
    """The MLflow error code of one of the backend's domain errors."""
    if isinstance(error, NotFound):
        return RESOURCE_DOES_NOT_EXIST
    if isinstance(error, AlreadyExists):
        return RESOURCE_ALREADY_EXISTS
    if isinstance(error, Forbidden):
        return PERMISSION_DENIED
    return INVALID_PARAMETER_VALUE  # Invalid, Conflict (a changed param, a deleted run), TooLarge


def error_response(code: str, message: str) -> JSONBytes:
    return JSONBytes({"error_code": code, "message": message}, status_code=STATUS_OF_CODE.get(code, 400))


def domain_error_response(error: DomainError) -> JSONBytes:
    """MLflow's body has no field of its own, so a message that does not name its field says it at the end."""
    message = error.message
    if error.field and error.field not in message:
        message = f"{message} (parameter '{error.field}')"
    return error_response(code_of(error), message)


Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer field of a message (protobuf's int64): a larger number (JSON allows one) is refused with
INVALID_PARAMETER_VALUE before it reaches SQLite, which cannot store it (an OverflowError: a 500)."""


class Message(BaseModel):
    """Base of MLflow request messages: unknown fields are ignored (clients of other versions send
    more), as MLflow's own server does."""

    model_config = ConfigDict(extra="ignore")


M = TypeVar("M", bound=Message)


class Tag(Message):
    """MLflow's key-value pair (tags, params); an empty value is left out by the client."""

    key: str
    value: str = ""


def tag_map(tags: list[Tag]) -> dict[str, str]:
    return {tag.key: tag.value for tag in tags}


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin is list


async def read_message(request: Request, model: type[M]) -> M:
    """The request's fields (query parameters, then the JSON body on top) validated as `model`.

    A field the model types as a list takes every value of a repeated query key; any other field takes
    the last. A body that is not a JSON object, or a field that does not validate, is an `Invalid`
    naming the field (answered as INVALID_PARAMETER_VALUE)."""
    fields: dict[str, Any] = {}
    for key in request.query_params:
        info = model.model_fields.get(key)
        values = request.query_params.getlist(key)
        fields[key] = values if info is not None and _is_list(info.annotation) else values[-1]
    body = await request.body()
    if body.strip():
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise Invalid(f"body is not valid JSON: {error}", "body") from None
        if not isinstance(parsed, dict):
            raise Invalid("body must be a JSON object", "body")
        fields.update(parsed)
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = dotted_path(first.get("loc", ())) or "body"
        if first.get("type") == "missing":
            raise Invalid(f"Missing value for required parameter '{field}'", field) from None
        raise Invalid(f"Invalid value for parameter '{field}': {first['msg']}", field) from None


def message(model: type[M]) -> Any:
    """A dependency reading the request as `model`: `m: Annotated[CreateRun, message(CreateRun)]`. The
    reading is async (it awaits the body); the route itself can stay a plain `def`, run in the
    threadpool like the native routes, since the store's calls block."""

    async def dependency(request: Request) -> M:
        return await read_message(request, model)

    return Depends(dependency)


def answer(body: dict[str, Any]) -> JSONBytes:
    """A 200 with MLflow's JSON body, rendered by orjson (long metric histories stay fast)."""
    return JSONBytes(body)
