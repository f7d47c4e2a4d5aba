"""Minimal ASGI plumbing: requests with a body limit, JSON responses, the error shape.

Every error answer is ``{"error": {"code": "...", "message": "..."}}`` with a
stable, lower-case ``code`` (see :data:`ERROR_CODES`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from migrate.core.limits import InputLimitError, check_json_text

__all__ = [
    "ERROR_CODES",
    "ApiError",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "json_response",
    "read_request",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: HTTP status of every error code the service answers with.
ERROR_CODES: dict[str, int] = {
    "bad_request": 400,
    "invalid_json": 400,
    "invalid_input": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "conflict": 409,
    "precondition_failed": 412,
    "precondition_required": 428,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "engine_unavailable": 503,
    "undefined_decision": 502,
    "engine_error": 500,
    "registry_error": 502,
    "unknown_registry": 422,
    "not_ready": 503,
    "internal_error": 500,
}


class ApiError(Exception):
    """An error answered as JSON; ``code`` is a key of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = ERROR_CODES[code]
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response(
            {"error": {"code": self.code, "message": self.message}}, self.status, self.headers
        )


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    query: str
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        content_type = self.header("content-type").split(";")[0].strip().lower()
        if (
            content_type
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            raise ApiError(
                "unsupported_media_type", f"expected application/json, got {content_type!r}"
            )
        try:
            text = self.body.decode("utf-8")
            check_json_text(text)  # before json.loads recurses (100k-deep JSON)
            value = json.loads(text)
        except InputLimitError as exc:
            raise ApiError("invalid_input", f"the request body: {exc.message}") from None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApiError("invalid_json", f"the request body is not valid JSON: {exc}") from None
        if _has_surrogate(value):
            raise ApiError(
                "invalid_input",
                "the request body has a lone surrogate (\\ud800-\\udfff) in a string",
            )
        return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """A string with a lone UTF-16 surrogate (JSON allows the escape; UTF-8 cannot hold it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send, head_only: bool = False) -> None:
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
        ]
        headers.append((b"content-length", str(len(self.body) if not head_only else 0).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else self.body})


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"content-type": "application/json", **(headers or {})})


async def read_request(scope: Scope, receive: Receive, limit: int) -> Request:
    """Read the whole body; :class:`ApiError` ``payload_too_large`` past ``limit`` bytes."""
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
    }
    request = Request(
        scope["method"], scope["path"], headers, scope.get("query_string", b"").decode("latin-1")
    )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError("payload_too_large", f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    more = scope["method"] not in {"GET", "HEAD"} or bool(declared and declared != "0")
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError("bad_request", "the client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError("payload_too_large", f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
        more = bool(message.get("more_body", False))
    request.body = b"".join(chunks)
    return request
