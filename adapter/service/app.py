"""The ASGI application of ``freightliner-policy serve`` (no web framework).

Endpoints (``/v1/`` and ``/bundles/`` need ``Authorization: Bearer <token>`` of a token
with the endpoint's scope, adapter.service.auth)::

    POST /v1/evaluate            {"reference": "registry/repo:tag"}
                                 | {"image": ImageMetadata, "now"?: RFC 3339, "explain"?: bool}
    POST /v1/replicate           {"reference": "registry/repo[:tag]", "dry_run"?: bool}
    /v1/policies...              the policy API (adapter.service.policy_api)
    GET  /bundles/<name>.tar.gz  the bundle (OPA bundle service API: ETag, If-None-Match -> 304)
    GET  /health                 alive
    GET  /ready                  bundle active and OPA reachable (when configured); 503 with details
    GET  /metrics                Prometheus text exposition

Errors: ``{"error": {"code", "message"}}`` (codes in :data:`adapter.service.http.ERROR_CODES`).
Blocking work (engines, registries) runs on the service's thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import generate_latest
from pydantic import ValidationError

from adapter.runner.interface import ImageReference
from adapter.service.context import ServiceContext
from adapter.service.engine import error_type
from adapter.service.http import (
    ApiError,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
)
from adapter.service.metrics import CONTENT_TYPE
from adapter.service.policy_api import PolicyApi
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError, EngineError, FreightlinerError, RegistryError
from migrate.policy.values import check_rfc3339

__all__ = ["ServiceApp"]

log = logging.getLogger("freightliner.service.http")
T = TypeVar("T")
_SCOPES = {"/v1/evaluate": "decisions", "/v1/replicate": "replicate"}
_ROUTES = {
    "/v1/evaluate": ("POST",),
    "/v1/replicate": ("POST",),
    "/health": ("GET", "HEAD"),
    "/ready": ("GET", "HEAD"),
    "/metrics": ("GET", "HEAD"),
}


class ServiceApp:
    """ASGI callable; ``lifespan`` starts and stops the context's background work."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.bundle_path = f"/bundles/{ctx.bundle_name}.tar.gz"
        self.policy_api = PolicyApi(ctx)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        route = (
            scope["path"]
            if scope["path"] in _ROUTES or scope["path"] == self.bundle_path
            else PolicyApi.route(scope["path"])
            if PolicyApi.handles(scope["path"])
            else "other"
        )
        try:
            request = await read_request(scope, receive, self.ctx.settings.max_request_bytes)
            response = await self._dispatch(request)
        except ApiError as exc:
            response = exc.response()
        except Exception:
            log.exception("unhandled error", extra={"fields": {"path": scope["path"]}})
            self.ctx.metrics.errors.inc(type="internal")
            response = ApiError("internal_error", "internal error").response()
        self.ctx.metrics.requests.inc(route=route, status=str(response.status))
        await response.send(send, head_only=scope["method"] == "HEAD")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.get_running_loop().run_in_executor(None, self.ctx.start)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.ctx.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _run(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.ctx.pool, func)

    async def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path == self.bundle_path:
            if request.method not in {"GET", "HEAD"}:
                raise ApiError("method_not_allowed", f"{request.method} is not allowed on {path}")
            self.ctx.auth.check(request.header("authorization"), "bundle:read")
            return self._bundle(request)
        if PolicyApi.handles(path):
            return await self.policy_api.dispatch(request)
        methods = _ROUTES.get(path)
        if methods is None:
            raise ApiError("not_found", f"no route {path}")
        if request.method not in methods:
            raise ApiError(
                "method_not_allowed",
                f"{request.method} is not allowed on {path}",
                {"allow": ", ".join(methods)},
            )
        if path.startswith("/v1/"):
            self.ctx.auth.check(request.header("authorization"), _SCOPES[path])
        if path == "/health":
            return json_response({"status": "ok"})
        if path == "/metrics":
            body = self.ctx.metrics.render().encode()
            queue_metrics = self.ctx.queue_metrics
            if queue_metrics is not None:  # queue mode (adapter.queue.metrics)
                body += await self._run(lambda: generate_latest(queue_metrics))
            return Response(200, body, {"content-type": CONTENT_TYPE})
        if path == "/ready":
            ready, checks = await self._run(self.ctx.readiness)
            if ready:
                return json_response({"ready": True, "checks": checks})
            failing = ", ".join(
                f"{k}: {v.get('message', 'not ready')}" for k, v in checks.items() if not v["ok"]
            )
            return json_response(
                {
                    "error": {"code": "not_ready", "message": failing},
                    "ready": False,
                    "checks": checks,
                },
                503,
            )
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError("invalid_input", "the request body must be a JSON object")
        if path == "/v1/evaluate":
            return json_response(await self._evaluate(body))
        return json_response(await self._replicate(body))

    def _bundle(self, request: Request) -> Response:
        published = self.ctx.manager.current
        headers = {
            "etag": published.etag,
            "cache-control": "no-cache",
            "x-freightliner-revision": published.revision,
        }
        wanted = {
            t.strip().removeprefix("W/").strip('"')
            for t in request.header("if-none-match").split(",")
        }
        if published.revision in wanted:
            self.ctx.metrics.bundle_downloads.inc(status="304")
            return Response(304, b"", headers)
        self.ctx.metrics.bundle_downloads.inc(status="200")
        return Response(200, published.tarball, {"content-type": "application/gzip", **headers})

    async def _evaluate(self, body: dict[str, Any]) -> dict[str, Any]:
        if ("image" in body) == ("reference" in body):
            raise ApiError("invalid_input", "give exactly one of 'image' and 'reference'")
        if "image" in body:
            unknown = sorted(set(body) - {"image", "now", "explain"})
            if unknown:
                raise ApiError("invalid_input", f"unknown field(s): {', '.join(unknown)}")
            try:
                image = ImageMetadata.model_validate(body["image"])
            except ValidationError as exc:
                raise ApiError("invalid_input", _pydantic_message("image", exc)) from exc
            now = body.get("now")
            if now is not None:
                try:
                    check_rfc3339(now)  # before any engine sees it
                except ValueError as exc:
                    raise ApiError("invalid_input", f"'now': {exc}") from None
            explain = body.get("explain", False)
            if not isinstance(explain, bool):
                raise ApiError("invalid_input", "'explain' must be a boolean")
            return await self._run(
                lambda: _guard(lambda: self.ctx.evaluate_image(image, now, explain=explain))
            )
        reference = _reference(body, {"reference"})
        return await self._run(lambda: _guard(lambda: self.ctx.evaluate_reference(reference)))

    async def _replicate(self, body: dict[str, Any]) -> dict[str, Any]:
        reference = _reference(body, {"reference", "dry_run"})
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ApiError("invalid_input", "'dry_run' must be a boolean")
        return await self._run(lambda: _guard(lambda: self.ctx.replicate(reference, dry_run)))


def _reference(body: dict[str, Any], allowed: set[str]) -> ImageReference:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError("invalid_input", f"unknown field(s): {', '.join(unknown)}")
    text = body.get("reference")
    if not isinstance(text, str) or not text:
        raise ApiError(
            "invalid_input", "'reference' must be a non-empty string registry/repository[:tag]"
        )
    try:
        return ImageReference.parse(text)
    except ValueError as exc:
        raise ApiError("invalid_input", str(exc)) from exc


def _pydantic_message(prefix: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(s) for s in (prefix, *error["loc"]))
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def _guard(func: Callable[[], T]) -> T:
    """Map the error tree to API errors (runs in the worker thread)."""
    try:
        return func()
    except ApiError:
        raise
    except ConfigError as exc:
        raise ApiError("unknown_registry", exc.message) from exc
    except EngineError as exc:
        code = error_type(exc)
        raise ApiError(code if code != "engine_error" else "engine_error", exc.message) from exc
    except RegistryError as exc:
        raise ApiError("registry_error", exc.message) from exc
    except FreightlinerError as exc:
        raise ApiError("internal_error", exc.message) from exc
