"""A JSON response rendered by orjson: fast for long metric histories and search pages."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse
from starlette.types import Send


class JSONBytes(JSONResponse):
    """A JSONResponse (so OpenAPI documents a route's response model) that orjson renders."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer from inside a middleware, before any route runs."""
    payload = JSONBytes(body).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})
