"""The policy API of ``serve``: read, write, export, validate and preview policies.

Routes (scopes in brackets; docs/policy-api.md)::

    GET    /v1/policies                 [policies:read]   the loaded set (JSON);
                                        ?format=yaml: the whole set as one YAML document
    GET    /v1/policies/{id}            [policies:read]   one policy (?format=yaml)
    PUT    /v1/policies/{id}            [policies:write]  create or replace (YAML or JSON body)
    DELETE /v1/policies/{id}            [policies:write]  delete
    POST   /v1/policies:validate        [policies:read]   validate, build and test a proposed set
    POST   /v1/policies:preview         [policies:read]   what a proposed change would decide

A write goes through the pipeline a file change does: the proposed sources
(the watched files with this one change applied, in memory) are loaded and
validated, built into a bundle and its generated tests run; only if all of that
succeeds is the file written (temp file + rename, in the watched directory: one
file ``<id>.yaml`` per API-managed policy) and the bundle published, under the
bundle manager's lock, so the watcher and other writers see the old or the new
state. A failing write changes nothing on disk and answers 422 with the
problems (file, line, policy, field). Writes need ``If-Match: "<bundle
revision>"`` (428 without it; 412 when the revision is no longer current).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import yaml

from adapter.runner.interface import ImageReference
from adapter.service.http import ApiError, Request, Response, json_response
from migrate.core.errors import FreightlinerError
from migrate.core.yaml_source import LocatedDict, LocatedList
from migrate.policy.loader import load_policy_documents, parse_policy_text
from migrate.policy.model import LoadedPolicy, PolicySet
from migrate.policy.values import parse_duration_ns

__all__ = ["PolicyApi", "dump_yaml", "plain"]

T = TypeVar("T")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
_MAX_PREVIEW_IMAGES = 10_000
_COLLECTION = "/v1/policies"


def plain(value: Any) -> Any:
    """A loaded YAML value as plain dicts and lists (for dumping)."""
    if isinstance(value, dict | LocatedDict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | LocatedList):
        return [plain(v) for v in value]
    return value


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(
        plain(value), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def _problems(exc: FreightlinerError) -> list[dict[str, Any]]:
    diagnostics = getattr(exc, "diagnostics", None) or []
    if diagnostics:
        return [
            {
                "file": d.file,
                "line": d.line,
                "policy_id": d.policy_id,
                "field": d.field,
                "message": d.message,
                "text": d.render(),
            }
            for d in diagnostics
        ]
    return [
        {"file": None, "line": None, "policy_id": None, "field": None, "message": m, "text": m}
        for m in exc.lines()
    ]


def _invalid(exc: FreightlinerError) -> Response:
    return json_response(
        {
            "error": {
                "code": "invalid_policy",
                "message": exc.message,
                "problems": _problems(exc),
            }
        },
        422,
    )


class PolicyApi:
    """The ``/v1/policies`` routes over a :class:`ServiceContext`."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    # -- routing ---------------------------------------------------------------
    @staticmethod
    def handles(path: str) -> bool:
        return (
            path == _COLLECTION
            or path.startswith(_COLLECTION + "/")
            or path.startswith(_COLLECTION + ":")
        )

    @staticmethod
    def route(path: str) -> str:
        """The metrics label of a path this API handles."""
        if path.startswith(_COLLECTION + "/"):
            return _COLLECTION + "/{id}"
        return (
            path
            if path in {f"{_COLLECTION}:validate", f"{_COLLECTION}:preview"}
            else (_COLLECTION if path == _COLLECTION else "other")
        )

    async def dispatch(self, request: Request) -> Response:
        path = request.path
        query = parse_qs(request.query)
        if path == _COLLECTION:
            self._allow(request, ("GET", "HEAD"))
            self._auth(request, "policies:read")
            if _one(query, "format", "json") == "yaml":
                return await self._run(self._export)
            view = await self._run(self.ctx.policies_view)
            return json_response(view, headers={"etag": f'"{view["bundle"]["revision"]}"'})
        if path in {f"{_COLLECTION}:validate", f"{_COLLECTION}:preview"}:
            self._allow(request, ("POST",))
            self._auth(request, "policies:read")
            if path.endswith(":validate"):
                text = _body_text(request)
                return await self._run(lambda: self._validate(text))
            body = request.json()
            if not isinstance(body, dict):
                raise ApiError("invalid_input", "the request body must be a JSON object")
            return await self._run(lambda: self._preview(body))
        if not path.startswith(_COLLECTION + "/"):
            raise ApiError("not_found", f"no route {path}")
        policy_id = path[len(_COLLECTION) + 1 :]
        self._allow(request, ("GET", "HEAD", "PUT", "DELETE"))
        if request.method in {"GET", "HEAD"}:
            self._auth(request, "policies:read")
            wanted = _one(query, "format", "json")
            return await self._run(lambda: self._get(policy_id, wanted))
        token = self._auth(request, "policies:write")
        if not _ID.fullmatch(policy_id):
            raise ApiError(
                "invalid_input",
                f"policy id {policy_id!r}: expected [A-Za-z0-9][A-Za-z0-9_.-]{{0,127}} "
                "(it names the policy's file)",
            )
        expected = _if_match(request.header("if-match"))
        if request.method == "PUT":
            text = _body_text(request)
            return await self._run(lambda: self._write(policy_id, text, expected, token.name))
        return await self._run(lambda: self._write(policy_id, None, expected, token.name))

    @staticmethod
    def _allow(request: Request, methods: tuple[str, ...]) -> None:
        if request.method not in methods:
            raise ApiError(
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path}",
                {"allow": ", ".join(methods)},
            )

    def _auth(self, request: Request, scope: str) -> Any:
        return self.ctx.auth.check(request.header("authorization"), scope)

    async def _run(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.ctx.pool, func)

    # -- reading ---------------------------------------------------------------
    def _export(self) -> Response:
        published = self.ctx.manager.current
        policies = [plain(p.raw) for p in sorted(published.policy_set.policies, key=_by_id)]
        header = (
            f"# freightliner-policy export: {len(policies)} policies, "
            f"bundle revision {published.revision}\n"
        )
        text = header + dump_yaml({"policies": policies})
        return Response(
            200,
            text.encode("utf-8"),
            {"content-type": "application/yaml", "etag": published.etag},
        )

    def _get(self, policy_id: str, wanted: str) -> Response:
        published = self.ctx.manager.current
        loaded = published.policy_set.by_id().get(policy_id)
        if loaded is None:
            raise ApiError("not_found", f"no policy {policy_id!r}")
        if wanted == "yaml":
            return Response(
                200,
                dump_yaml(loaded.raw).encode("utf-8"),
                {"content-type": "application/yaml", "etag": published.etag},
            )
        return json_response(
            {
                "id": policy_id,
                "file": loaded.file,
                "line": loaded.line,
                "api_managed": self._api_file(policy_id) == Path(loaded.file),
                "bundle_revision": published.revision,
                "policy": plain(loaded.raw),
            },
            headers={"etag": published.etag},
        )

    # -- writing ---------------------------------------------------------------
    def _directory(self) -> Path:
        for source in self.ctx.manager.sources:
            if source.is_dir():
                if not os.access(source, os.W_OK):
                    raise ApiError(
                        "conflict", f"the policy directory {source} is not writable by serve"
                    )
                return Path(source)
        raise ApiError(
            "conflict", "serve has no policy directory to write to (start it with --policies DIR)"
        )

    def _api_file(self, policy_id: str) -> Path:
        return self._directory() / f"{policy_id}.yaml"

    def _target(self, policy_set: PolicySet, policy_id: str) -> Path:
        """The file a write of ``policy_id`` replaces: its own single-policy file, else
        ``<dir>/<id>.yaml``; 409 when that would rewrite other policies."""
        existing = policy_set.by_id().get(policy_id)
        directory = self._directory()
        if existing is not None:
            own = Path(existing.file)
            if not own.is_relative_to(directory) or ".." in own.parts:
                raise ApiError(
                    "conflict",
                    f"policy {policy_id!r} is defined in {existing.file}, outside the policy "
                    f"directory {directory}; edit that file",
                )
            siblings = [p.policy.id for p in policy_set.policies if p.file == existing.file]
            if siblings != [policy_id]:
                raise ApiError(
                    "conflict",
                    f"policy {policy_id!r} is defined in {existing.file} with other policies "
                    f"({', '.join(s for s in siblings if s != policy_id)}); "
                    "edit that file, or move the policy to a file of its own",
                )
            return Path(existing.file)
        target = directory / f"{policy_id}.yaml"
        others = [p.policy.id for p in policy_set.policies if p.file == str(target)]
        if others or target.exists():
            raise ApiError(
                "conflict", f"{target} exists and holds other policies ({', '.join(others)})"
            )
        return target

    def _parse_one(self, policy_id: str, text: str, target: Path) -> None:
        """The body must be exactly the policy ``policy_id`` (checked with the body's lines)."""
        parsed = parse_policy_text(text, str(target))  # PolicyError with lines
        ids = [p.policy.id for p in parsed.policies]
        if ids != [policy_id]:
            raise ApiError(
                "invalid_input",
                f"the body must hold exactly the policy {policy_id!r} "
                f"(found: {', '.join(ids) or 'none'})",
            )

    def _write(self, policy_id: str, text: str | None, expected: str, token: str) -> Response:
        manager = self.ctx.manager
        with manager.locked() as current:  # the watcher and every other writer wait
            if expected != "*" and expected != current.revision:
                raise ApiError(
                    "precondition_failed",
                    f"If-Match {expected!r} is not the current bundle revision "
                    f"{current.revision!r}",
                    {"etag": current.etag},
                )
            if text is None:
                existing = current.policy_set.by_id().get(policy_id)
                if existing is None:
                    raise ApiError("not_found", f"no policy {policy_id!r}")
            target = self._target(current.policy_set, policy_id)
            try:
                if text is not None:
                    self._parse_one(policy_id, text, target)
                policy_set = load_policy_documents(manager.sources, {target: text})
                files = {k: v for k, v in current.files.items() if k != str(target)}
                if text is not None:
                    files[str(target)] = hashlib.sha256(text.encode("utf-8")).hexdigest()
                published = manager.build(files, policy_set)
            except ApiError:
                raise
            except FreightlinerError as exc:
                return _invalid(exc)
            _write_atomically(target, text)
            result = manager.commit_edit(published, current, files, token)
            changed = result.revision != current.revision
        return json_response(
            {
                "policy": policy_id,
                "action": "deleted" if text is None else "written",
                "file": str(target),
                "revision": result.revision,
                "previous_revision": current.revision,
                "changed": changed,
                "tests_passed": result.tests_passed,
                "token": token,
            },
            200,
            {"etag": result.etag},
        )

    # -- validate and preview ---------------------------------------------------
    def _proposed(self, text: str) -> tuple[PolicySet, Any]:
        """Parse, build and test a proposed set (nothing published)."""
        policy_set = parse_policy_text(text, "<request>")
        published = self.ctx.manager.build({}, policy_set)
        return policy_set, published

    def _validate(self, text: str) -> Response:
        try:
            policy_set, published = self._proposed(text)
        except FreightlinerError as exc:
            return _invalid(exc)
        return json_response(
            {
                "valid": True,
                "policies": [p.policy.id for p in policy_set.policies],
                "revision": published.revision,
                "tests_passed": published.tests_passed,
                "current_revision": self.ctx.manager.current.revision,
            }
        )

    def _proposed_for_preview(self, body: dict[str, Any]) -> PolicySet:
        mode = body.get("mode", "replace")
        if mode not in {"replace", "merge"}:
            raise ApiError("invalid_input", "'mode' must be 'replace' or 'merge'")
        proposed = body.get("proposed", "")
        if isinstance(proposed, dict | list):
            proposed = json.dumps(proposed)
        if not isinstance(proposed, str):
            raise ApiError(
                "invalid_input", "'proposed' must be a YAML/JSON text or a JSON document"
            )
        deleted = body.get("delete", [])
        if not isinstance(deleted, list) or not all(isinstance(d, str) for d in deleted):
            raise ApiError("invalid_input", "'delete' must be a list of policy ids")
        parsed = parse_policy_text(proposed, "<request>") if proposed.strip() else PolicySet([])
        if mode == "replace":
            return parsed
        changed = {p.policy.id for p in parsed.policies} | set(deleted)
        kept: list[LoadedPolicy] = [
            p for p in self.ctx.manager.current.policy_set.policies if p.policy.id not in changed
        ]
        return PolicySet(sorted([*kept, *parsed.policies], key=_by_id))

    def _preview(self, body: dict[str, Any]) -> Response:
        from adapter.service.preview import (
            DEFAULT_LIMIT,
            diff_decisions,
            recent_images,
            repository_images,
        )
        from migrate.core.clock import now_rfc3339

        unknown = sorted(
            set(body) - {"proposed", "mode", "delete", "repositories", "window", "limit", "now"}
        )
        if unknown:
            raise ApiError("invalid_input", f"unknown field(s): {', '.join(unknown)}")
        window_text = body.get("window", "24h")
        limit = body.get("limit", DEFAULT_LIMIT)
        repositories = body.get("repositories", [])
        now = body.get("now") or now_rfc3339()
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 0 <= limit <= _MAX_PREVIEW_IMAGES
        ):
            raise ApiError("invalid_input", f"'limit' must be an integer 0..{_MAX_PREVIEW_IMAGES}")
        try:
            window = timedelta(microseconds=parse_duration_ns(str(window_text)) / 1000)
        except ValueError as exc:
            raise ApiError("invalid_input", f"'window': {exc}") from None
        if not isinstance(repositories, list) or not all(isinstance(r, str) for r in repositories):
            raise ApiError("invalid_input", "'repositories' must be a list of registry/repository")
        references = []
        for text in repositories:
            try:
                reference = ImageReference.parse(text)
            except ValueError as exc:
                raise ApiError("invalid_input", str(exc)) from None
            if reference.registry not in self.ctx.clients:
                raise ApiError("unknown_registry", f"unknown registry {reference.registry!r}")
            references.append(reference)
        try:
            policy_set = self._proposed_for_preview(body)
            proposed = self.ctx.manager.build({}, policy_set)
        except FreightlinerError as exc:
            return _invalid(exc)
        current = self.ctx.manager.current
        audit = self.ctx.settings.audit_log
        images = recent_images(Path(audit) if audit else None, window=window, limit=limit)
        images += repository_images(self.ctx.replicator, references)
        result = diff_decisions(images, current.engine, proposed.engine, now)
        result.update(
            {
                "current_revision": current.revision,
                "proposed_revision": proposed.revision,
                "window": str(window_text),
                "limit": limit,
                "repositories": repositories,
                "published": False,
            }
        )
        return json_response(result)


def _by_id(p: LoadedPolicy) -> str:
    return p.policy.id


def _one(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name) or [default]
    value = values[-1]
    if name == "format" and value not in {"json", "yaml"}:
        raise ApiError("invalid_input", "format must be json or yaml")
    return value


def _if_match(header: str) -> str:
    value = header.strip()
    if not value:
        raise ApiError(
            "precondition_required",
            'writes need If-Match: "<bundle revision>" (GET /v1/policies gives it as ETag)',
        )
    if value == "*":
        return value
    value = value.removeprefix("W/")
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')) or "," in value:
        raise ApiError("bad_request", 'If-Match must be one quoted revision: "<revision>"')
    return value[1:-1]


def _body_text(request: Request) -> str:
    content_type = request.header("content-type").split(";")[0].strip().lower()
    if content_type and content_type not in _YAML_TYPES and content_type != "application/json":
        raise ApiError(
            "unsupported_media_type",
            f"expected application/yaml or application/json, got {content_type!r}",
        )
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("bad_request", "the request body is not UTF-8") from None
    if content_type == "application/json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise ApiError("invalid_json", f"the request body is not valid JSON: {exc}") from None
    return text


def _write_atomically(target: Path, text: str | None) -> None:
    """Replace ``target`` with ``text`` (temp file in the same directory, fsync, rename);
    ``None`` removes it."""
    if text is None:
        target.unlink()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # The temp name does not end in .yaml: the watcher never reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
