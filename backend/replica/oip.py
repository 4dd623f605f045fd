"""The Open Inference Protocol's REST form (KServe v2; Seldon MLServer and Triton speak it), so their
clients and load tools work unchanged:

- `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2` (server metadata);
- `GET /v2/models/{name}` (metadata: the inputs are the signature's columns), `GET /v2/models/{name}/ready`;
- `POST /v2/models/{name}[/versions/{version}]/infer` with `{"id"?, "inputs": [{"name", "shape", "datatype",
  "data"}], "outputs"?: [{"name"}]}`: one tensor per column (shape `[n]` or `[n, 1]`), or a single 2-D
  tensor `[n, k]` holding the k columns in the signature's order. The answer's `predict` output holds one
  prediction per row; asking for the `predict_proba` output adds a classifier's class probabilities
  (`[n, classes]`). The rows' request ids (for feedback) are in the answer's `parameters.request_ids`.
"""
from __future__ import annotations

import math
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from .. import __version__
from ..errors import DomainError, Invalid, NotFound, TooLarge
from ..pipelines.signature import dtype_kind
from ..responses import JSONBytes
from ..serving import inputs
from .errors import oip_error
from .protocol import predict, replica_of
from .service import NotReady, Reader, Replica

router = APIRouter(prefix="/v2")

PREDICT = "predict"
PROBA = "predict_proba"


@router.get("/health/live")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
def ready(request: Request) -> Response:
    loaded = replica_of(request).follower.current is not None
    return JSONBytes({"ready": loaded}, status_code=200 if loaded else 503)


@router.get("")
def server_metadata() -> dict[str, Any]:
    return {"name": "mlops-tui-replica", "version": __version__, "extensions": []}


@router.get("/models/{name}")
def model_metadata(name: str, request: Request) -> Response:
    replica = replica_of(request)
    try:
        model = _served(replica, name)
    except (DomainError, NotReady) as error:
        return oip_error(error)
    outputs = [{"name": PREDICT, "datatype": _datatype(model.classes or [0.5]), "shape": [-1]}]
    if model.classes is not None:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(model.classes)]})
    return JSONBytes({"name": model.name, "versions": [str(model.version)], "platform": "scikit-learn",
                      "inputs": [{"name": column, "datatype": _signature_datatype(dtype), "shape": [-1]}
                                 for column, dtype in model.inputs.items()],
                      "outputs": outputs})


@router.get("/models/{name}/ready")
def model_ready(name: str, request: Request) -> Response:
    try:
        _served(replica_of(request), name)
    except (DomainError, NotReady) as error:
        return oip_error(error)
    return JSONBytes({"name": name, "ready": True})


@router.post("/models/{name}/infer")
async def infer(name: str, request: Request) -> Response:
    return await _infer(replica_of(request), name, None, await request.body())


@router.post("/models/{name}/versions/{version}/infer")
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _infer(replica_of(request), name, version, await request.body())


async def _infer(replica: Replica, name: str, version: str | None, body: bytes) -> Response:
    try:
        model = _served(replica, name)
        if version is not None and version != str(model.version):
            raise NotFound(f"{name} version {version} is not served here (version {model.version} is)", "version")
        payload = _payload(body)
        wanted = _wanted_outputs(payload)
        served = await predict(replica, _tensor_reader(payload, replica.config.max_predict_rows), PROBA in wanted)
    except (DomainError, NotReady) as error:
        return oip_error(error)
    rows = len(served.output.predictions)
    outputs = []
    if PREDICT in wanted:
        outputs.append({"name": PREDICT, "shape": [rows], "datatype": _datatype(served.output.predictions),
                        "data": served.output.predictions})
    if served.output.probabilities is not None:
        width = len(served.output.classes or [])
        outputs.append({"name": PROBA, "shape": [rows, width], "datatype": "FP64",
                        "data": [p for row in served.output.probabilities for p in row]})
    request_id = payload.get("id")
    return JSONBytes({"model_name": served.model.name, "model_version": str(served.model.version),
                      "id": request_id if isinstance(request_id, str) else uuid.uuid4().hex, "outputs": outputs,
                      "parameters": {"request_ids": served.request_ids}})


def _served(replica: Replica, name: str) -> Any:
    if name != replica.config.name:
        raise NotFound(f"model {name!r} is not served here (this replica serves {replica.config.name!r})", "name")
    return replica.model


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"body is not valid JSON: {error}", "body") from None
    if not isinstance(payload, dict):
        raise Invalid("body must be an object with `inputs`: [{name, shape, datatype, data}]", "body")
    return payload


def _wanted_outputs(payload: dict[str, Any]) -> set[str]:
    asked = payload.get("outputs")
    if asked is None:
        return {PREDICT}
    if not isinstance(asked, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
        raise Invalid("outputs must be a list of {name}", "outputs")
    names = {o["name"] for o in asked}
    unknown = sorted(names - {PREDICT, PROBA})
    if unknown:
        raise Invalid(f"outputs: no output named {', '.join(map(repr, unknown))} (there are {PREDICT!r} and "
                      f"{PROBA!r})", "outputs")
    return names


def _tensor_reader(payload: dict[str, Any], max_rows: int) -> Reader:
    return lambda order: read_tensors(payload, order, max_rows)


def read_tensors(payload: dict[str, Any], order: list[str], max_rows: int) -> inputs.Table:
    """The request's tensors as a table of rows: one tensor per column, or one `[n, k]` tensor of the k
    signature columns. A malformed tensor is `Invalid` naming it (`inputs[i]`)."""
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise Invalid("inputs must be a non-empty list of tensors {name, shape, datatype, data}", "inputs")
    shaped = [_tensor(tensor, index, max_rows) for index, tensor in enumerate(tensors)]
    if len(shaped) == 1 and len(shaped[0][1]) == 2 and (shaped[0][1][1] != 1 or shaped[0][0] not in order):
        return _matrix(*shaped[0], order)
    columns: dict[str, list[Any]] = {}
    position: dict[str, int] = {}
    for index, (name, shape, values) in enumerate(shaped):
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise Invalid(f"inputs[{index}] ({name!r}): a column's shape is [rows] or [rows, 1], not {shape}",
                          f"inputs[{index}].shape")
        if name in columns:
            raise Invalid(f"inputs[{index}]: column {name!r} is sent twice", f"inputs[{index}].name")
        if columns and shape[0] != len(next(iter(columns.values()))):
            raise Invalid(f"inputs[{index}] ({name!r}): {shape[0]} rows, other inputs have "
                          f"{len(next(iter(columns.values())))}", f"inputs[{index}].shape")
        columns[name] = values
        position[name] = index
    rows = len(next(iter(columns.values())))
    return inputs.Table(columns, rows, lambda row, column: f"inputs[{position[column]}].data[{row}]",
                        lambda column: "inputs")


def _matrix(name: str, shape: list[int], values: list[Any], order: list[str]) -> inputs.Table:
    rows, width = shape
    if width != len(order):
        raise Invalid(f"inputs[0] ({name!r}): a 2-D tensor holds the model's {len(order)} columns in order "
                      f"({', '.join(order)}), not {width}", "inputs[0].shape")
    columns = {column: values[j::width] for j, column in enumerate(order)}
    return inputs.Table(columns, rows, lambda row, column: f"inputs[0].data[{row}][{order.index(column)}]",
                        lambda column: "inputs[0]")


def _tensor(tensor: Any, index: int, max_rows: int) -> tuple[str, list[int], list[Any]]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise Invalid(f"{where} must be a tensor {{name, shape, datatype, data}}", where)
    shape, data = tensor.get("shape"), tensor.get("data")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise Invalid(f"{where}.shape must be a list of sizes, e.g. [rows] or [rows, columns]", f"{where}.shape")
    if shape[0] > max_rows:
        raise TooLarge(f"{where}: {shape[0]} rows sent; a request may carry at most {max_rows} rows "
                       "(MLOPS_MAX_PREDICT_ROWS)", f"{where}.shape")
    if not isinstance(data, list):
        raise Invalid(f"{where}.data must be a list of values", f"{where}.data")
    values = _flat(data)
    if len(values) != math.prod(shape):
        raise Invalid(f"{where} ({tensor['name']!r}): shape {shape} holds {math.prod(shape)} values, data has "
                      f"{len(values)}", f"{where}.data")
    return tensor["name"], shape, values


def _flat(data: list[Any]) -> list[Any]:
    """Row-major values of nested lists (OIP allows the data flat or nested as the shape)."""
    if not any(isinstance(value, list) for value in data):
        return data
    out: list[Any] = []
    for value in data:
        out.extend(_flat(value) if isinstance(value, list) else [value])
    return out


def _signature_datatype(dtype: str) -> str:
    kind = dtype_kind(dtype)
    lowered = dtype.lower()
    if kind == "number":
        return "UINT64" if lowered.startswith("uint") else "INT64" if lowered.startswith("int") else "FP64"
    return "BOOL" if kind == "bool" else "BYTES"


def _datatype(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"
