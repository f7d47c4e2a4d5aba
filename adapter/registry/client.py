"""``RegistryClient``: the OCI distribution API over one pooled ``httpx.Client``.

Reads (catalog, tags, manifests, blobs) and writes (blob mount, streamed
upload, manifest put), with authentication bound to the registry's origin
(:class:`adapter.registry.auth.RegistryAuth`) and retries of 429/5xx and
connection errors through :func:`adapter.registry.http.with_retries`.
Every request path is built from names checked against the grammar
(:mod:`adapter.registry.reference`) and must stay on the registry's origin;
listings follow ``Link`` only on that origin and path, without repeats, up to
:data:`MAX_PAGES` pages. Every error is a :class:`RegistryError`
(:class:`AuthenticationError` for credentials, :class:`DigestMismatch` for
content) raised ``from`` the httpx cause, so
:func:`adapter.registry.retry.registry_verdict` can classify it.
The client is safe to share between threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, Literal

import httpx

from adapter.registry.auth import RegistryAuth, origin_of
from adapter.registry.blobs import BlobStream, upload_blob
from adapter.registry.config import Credentials, RegistriesConfig, RegistryConfig, is_loopback
from adapter.registry.credentials import CredentialProvider, StaticCredentials
from adapter.registry.digest import DigestVerifier, compute_digest, is_digest, parse_digest
from adapter.registry.http import (
    DEFAULT_SCHEDULE,
    Retry,
    RetrySchedule,
    http_client,
    http_verdict,
    with_retries,
)
from adapter.registry.interface import Manifest, ManifestInfo
from adapter.registry.manifest import MANIFEST_ACCEPT, detect_media_type
from adapter.registry.reference import InvalidName, Kind, api_path, shown
from adapter.registry.tls import describe_tls_failure, verify_setting
from migrate.core.errors import AuthenticationError, RegistryError
from migrate.core.retry import RetrySettings

__all__ = ["MAX_MANIFEST_BYTES", "MAX_PAGES", "RegistryClient", "open_clients"]

#: Manifests larger than this are refused (the spec suggests registries accept at least 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: A catalog or tags listing stops with an error after this many pages.
MAX_PAGES = 10_000
_Params = dict[str, str]


class RegistryClient:
    """A client for one configured registry.

    ``credentials`` default to the configured sources (``config.credential_source()``:
    resolved now, :class:`ConfigError` if misconfigured; re-read when a secret file
    changes and fetched again once on a 401); pass ``None`` for anonymous access.
    TLS follows the registry's ``ca_file``/``client_cert``/``certs_dir``/``insecure``
    (:mod:`adapter.registry.tls`). ``transport`` replaces
    httpx's network transport (tests).
    ``retry`` sets attempts and backoff for every replayable request;
    ``max_retry_after`` caps a server's ``Retry-After``.
    """

    def __init__(
        self,
        config: RegistryConfig,
        *,
        credentials: Credentials | Literal["config"] | None = "config",
        retry: RetrySettings | None = None,
        max_retry_after: float = 60.0,
        timeout: float = 60.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.name = config.name
        self.base_url = config.url
        self.schedule = (
            RetrySchedule.from_settings(retry, max_retry_after=max_retry_after)
            if retry is not None
            else replace(DEFAULT_SCHEDULE, max_retry_after=max_retry_after)
        )
        self._sleep = sleep
        self._origin = origin_of(httpx.URL(config.url))
        self._http = http_client(
            base_url=config.url,
            verify=verify_setting(config),
            timeout=timeout,
            connect_timeout=min(timeout, 10.0),
            max_connections=max_connections,
            transport=transport,
            follow_redirects=True,
        )
        provider: CredentialProvider
        if credentials == "config":
            source = config.credential_source()
            source.current()  # resolved now: a misconfiguration fails at start
            provider = source
        else:
            provider = StaticCredentials(credentials, config.credential_source().ways())
        self._auth = RegistryAuth(
            config.name,
            provider,
            self._send_plain,
            origin=config.url,
            plain_realm_ok=config.insecure or is_loopback(config.hostname),
        )
        #: Number of HTTP requests sent (token requests excluded), for diagnostics and tests.
        self.requests = 0

    # -- lifecycle -----------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient({self.name!r}, {self.base_url!r})"

    # -- API ------------------------------------------------------------
    def ping(self) -> None:
        """``GET /v2/``: check the registry answers and the credentials are accepted."""
        response = self.request("GET", "/v2/")
        self.check(response, {200}, "ping")

    def catalog(self, page_size: int | None = None) -> Iterator[str]:
        """Every repository name, following ``Link: <...>; rel="next"`` pages of ``n=page_size``."""
        return self._paginate("/v2/_catalog", "repositories", page_size, "catalog")

    def tags(self, repository: str, page_size: int | None = None) -> Iterator[str]:
        """Every tag of ``repository`` (``/v2/NAME/tags/list``, paginated like :meth:`catalog`)."""
        path = self.path_for(repository, "tags/list")
        return self._paginate(path, "tags", page_size, f"tags of {repository}")

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """Digest, media type and size of a manifest, or ``None`` when it does not exist."""
        path = self.path_for(repository, "manifests", reference)
        response = self.request("HEAD", path, headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        self.check(response, {200}, f"HEAD manifest {repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:  # some registries omit it on HEAD: fall back to GET
            manifest = self.get_manifest(repository, reference)
            return ManifestInfo(manifest.digest, manifest.media_type, len(manifest.content))
        size = int(response.headers.get("Content-Length", "0") or 0)
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return ManifestInfo(digest, media_type, size)

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest's exact bytes, media type and digest.

        The digest is ``Docker-Content-Digest`` checked against the bytes, or
        the bytes' sha256; when ``reference`` is a digest the bytes must hash
        to it (:class:`DigestMismatch` otherwise). A missing manifest is a
        :class:`RegistryError`.
        """
        path = self.path_for(repository, "manifests", reference)
        what = (
            f"manifest {repository}:{reference}"
            if not is_digest(reference)
            else (f"manifest {repository}@{reference}")
        )
        response = self.request("GET", path, headers={"Accept": MANIFEST_ACCEPT})
        self.check(response, {200}, f"GET {what}")
        content = response.content
        if len(content) > MAX_MANIFEST_BYTES:
            raise RegistryError(
                f"registry {self.name!r}: {what} is larger than {MAX_MANIFEST_BYTES}"
            )
        announced = response.headers.get("Docker-Content-Digest", "")
        expected = reference if is_digest(reference) else announced
        if expected:
            verifier = DigestVerifier(expected)
            verifier.update(content)
            verifier.verify(f"registry {self.name!r}: {what}")
        digest = expected or compute_digest(content)
        try:
            document: Any = json.loads(content)
        except ValueError as exc:
            raise RegistryError(f"registry {self.name!r}: {what} is not JSON") from exc
        media_type = detect_media_type(
            document if isinstance(document, dict) else {}, response.headers.get("Content-Type", "")
        )
        return Manifest(content, media_type, digest)

    def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        """Push manifest bytes unchanged under a tag or digest; returns their digest.

        The digest the registry reports (``Docker-Content-Digest``) must be the
        bytes' digest; a registry that reports none for a tag is asked with a
        ``HEAD`` of that tag. :class:`RegistryError` when it stored anything else.
        """
        path = self.path_for(repository, "manifests", reference)
        digest = compute_digest(content)
        if is_digest(reference) and reference != digest:
            raise RegistryError(
                f"registry {self.name!r}: manifest bytes hash to {digest}, "
                f"not to the reference {reference}"
            )
        response = self.request(
            "PUT",
            path,
            content=content,
            headers={"Content-Type": media_type},
        )
        self.check(response, {200, 201}, f"PUT manifest {repository}:{reference}")
        announced = response.headers.get("Docker-Content-Digest")
        if not announced and not is_digest(reference):
            stored = self.head_manifest(repository, reference)
            announced = stored.digest if stored is not None else "(nothing)"
        if announced and announced != digest:
            raise RegistryError(
                f"registry {self.name!r}: stored manifest {repository}:{reference} "
                f"as {announced}, expected {digest}"
            )
        return digest

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (the registry must allow deletes)."""
        response = self.request("DELETE", self.path_for(repository, "manifests", digest))
        self.check(response, {200, 202}, f"DELETE manifest {repository}@{digest}")

    def blob_exists(self, repository: str, digest: str) -> bool:
        """``HEAD /v2/NAME/blobs/DIGEST``."""
        parse_digest(digest)
        response = self.request("HEAD", self.path_for(repository, "blobs", digest))
        if response.status_code == 404:
            return False
        self.check(response, {200}, f"HEAD blob {repository}@{digest}")
        return True

    def open_blob(self, repository: str, digest: str, chunk_size: int = 1 << 20) -> BlobStream:
        """Start a streamed download: ``with client.open_blob(repo, digest) as blob: ...``.

        Iterating yields chunks and raises :class:`DigestMismatch` after the
        last one if the content did not hash to ``digest``.
        """
        parse_digest(digest)
        response = self.request("GET", self.path_for(repository, "blobs", digest), stream=True)
        try:
            self.check(response, {200}, f"GET blob {repository}@{digest}")
        except RegistryError:
            response.close()
            raise
        return BlobStream(
            response, digest, f"registry {self.name!r}: blob {repository}@{digest}", chunk_size
        )

    def get_blob(self, repository: str, digest: str, max_size: int = 64 << 20) -> bytes:
        """A small blob (an image config) in memory, digest-verified."""
        with self.open_blob(repository, digest) as blob:
            if blob.size is not None and blob.size > max_size:
                raise RegistryError(
                    f"registry {self.name!r}: blob {digest} is over {max_size} bytes"
                )
            return b"".join(blob)

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; ``True`` when mounted, ``False`` when the registry declined."""
        parse_digest(digest)
        self.path_for(from_repository, "blobs", digest)
        params = {"mount": digest, "from": from_repository}
        response = self.request("POST", self.path_for(repository, "blobs/uploads/"), params=params)
        if response.status_code == 201:
            return True
        self.check(response, {202}, f"mount {digest} from {from_repository} into {repository}")
        location = response.headers.get("Location")
        if location:  # the registry opened an ordinary upload instead: cancel it
            self.request("DELETE", location, retry=False)
        return False

    def upload_blob(
        self,
        repository: str,
        digest: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        chunk_size: int | None = None,
    ) -> int:
        """Upload a blob streamed from ``chunks``; returns the bytes sent.

        Monolithic by default (``POST`` then one streamed ``PUT ?digest=``);
        with ``chunk_size``, chunked (``PATCH`` with ``Content-Range`` per
        chunk, then ``PUT ?digest=``). The content is hashed on the way and a
        mismatch raises :class:`DigestMismatch` and cancels the upload, so
        nothing is committed. Not retried here (the stream is consumed): retry
        the whole blob.
        """
        return upload_blob(self, repository, digest, chunks, size=size, chunk_size=chunk_size)

    # -- plumbing (used by adapter.registry.blobs) ---------------------
    def path_for(self, repository: str, kind: Kind, reference: str | None = None) -> str:
        """A request path from checked names only (:class:`RegistryError` otherwise)."""
        try:
            return api_path(repository, kind, reference)
        except InvalidName as exc:
            raise RegistryError(f"registry {self.name!r}: {exc}") from exc

    def url_for(self, url: str, params: _Params | None = None) -> httpx.URL:
        """The absolute URL of ``url`` (a path built by :meth:`path_for` or a registry's upload
        ``Location``): on the registry's own origin, and unchanged by normalisation."""
        try:
            target = httpx.URL(self.base_url).join(url)
        except httpx.InvalidURL as exc:
            raise RegistryError(f"registry {self.name!r}: invalid URL {shown(url)}") from exc
        if origin_of(target) != self._origin:
            raise RegistryError(
                f"registry {self.name!r}: refusing {shown(str(target))}: not the registry's "
                f"origin {self.base_url}"
            )
        if url.startswith("/") and "?" not in url and target.raw_path.decode("ascii") != url:
            raise RegistryError(f"registry {self.name!r}: path {shown(url)} would be rewritten")
        if params:  # merge: an upload Location's own query (_state=...) must survive
            target = target.copy_merge_params(params)
        return target

    def request(
        self,
        method: str,
        url: str,
        *,
        params: _Params | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one request on the registry's origin, authenticated (:class:`RegistryAuth`)
        and, when ``retry`` and the body is replayable (``bytes`` or none), retried through
        :func:`adapter.registry.http.with_retries`. The response is read unless ``stream``."""
        target = self.url_for(url, params)
        replayable = retry and (content is None or isinstance(content, bytes))

        def send() -> httpx.Response:
            request = self._http.build_request(method, target, headers=headers, content=content)
            self.requests += 1
            return self._http.send(request, stream=True, auth=self._auth)

        try:
            response = with_retries(
                send,
                _verdict,
                self.schedule if replayable else _ONCE,
                sleep=self._sleep,
                discard=_close,
            )
        except httpx.HTTPError as exc:
            why = describe_tls_failure(exc, self.config.host) or f"{type(exc).__name__}: {exc}"
            raise RegistryError(f"registry {self.name!r}: {method} {target.path}: {why}") from exc
        if not stream:
            try:
                response.read()
            except httpx.HTTPError as exc:
                raise RegistryError(
                    f"registry {self.name!r}: {method} {target.path}: reading the response: {exc}"
                ) from exc
            finally:
                response.close()
        return response

    def check(self, response: httpx.Response, expected: set[int], what: str) -> None:
        """Raise the right :class:`RegistryError` unless ``response.status_code`` is expected."""
        status = response.status_code
        if status in expected:
            return
        detail = _error_detail(response)
        cause = httpx.HTTPStatusError(f"HTTP {status}", request=response.request, response=response)
        message = f"registry {self.name!r}: {what}: HTTP {status}{detail}"
        if status in (401, 403):
            raise AuthenticationError(
                message + " (credentials missing, rejected or not authorised)"
            ) from cause
        raise RegistryError(message) from cause

    def _send_plain(self, request: httpx.Request) -> httpx.Response:
        return self._http.send(request)

    def _paginate(self, path: str, key: str, page_size: int | None, what: str) -> Iterator[str]:
        """Every entry of a listing. ``Link: <...>; rel="next"`` is followed only on the
        registry's own origin and the same path; a repeated page URL or more than
        :data:`MAX_PAGES` pages is an error for the listing. Entries are returned as the
        registry wrote them (strings); callers check them against the grammar."""
        target: httpx.URL | None = self.url_for(path, {"n": str(page_size)} if page_size else None)
        seen: set[str] = set()
        while target is not None:
            if len(seen) >= MAX_PAGES:
                raise RegistryError(
                    f"registry {self.name!r}: list {what}: more than {MAX_PAGES} pages; stopped"
                )
            seen.add(str(target))
            response = self.request("GET", str(target))
            self.check(response, {200}, f"list {what}")
            try:
                body = response.json()
            except ValueError as exc:
                raise RegistryError(
                    f"registry {self.name!r}: list {what}: the answer is not JSON"
                ) from exc
            items = body.get(key) if isinstance(body, dict) else None
            if items is not None and not isinstance(items, list):
                raise RegistryError(f"registry {self.name!r}: list {what}: {key!r} is not a list")
            for item in items or []:
                if not isinstance(item, str):
                    raise RegistryError(
                        f"registry {self.name!r}: list {what}: an entry is not a string"
                    )
                yield item
            target = self._next_page(response, path, seen, what)

    def _next_page(
        self, response: httpx.Response, path: str, seen: set[str], what: str
    ) -> httpx.URL | None:
        header = response.headers.get("Link")
        if not header:
            return None
        try:
            link = response.links.get("next", {}).get("url")
            if not link:
                return None
            target = response.url.join(link)
        except (httpx.InvalidURL, ValueError) as exc:
            raise RegistryError(
                f"registry {self.name!r}: list {what}: invalid Link header {shown(header)}"
            ) from exc
        if origin_of(target) != self._origin:
            raise RegistryError(
                f"registry {self.name!r}: list {what}: Link to another origin "
                f"{shown(str(target))} refused (the registry is {self.base_url})"
            )
        if target.path != path or target.raw_path.decode("ascii").split("?", 1)[0] != path:
            raise RegistryError(
                f"registry {self.name!r}: list {what}: Link to another path "
                f"{shown(str(target))} refused"
            )
        if str(target) in seen:
            raise RegistryError(
                f"registry {self.name!r}: list {what}: pagination repeats {shown(str(target))}; "
                "stopped"
            )
        return target


_ONCE = RetrySchedule(attempts=1)


def _verdict(outcome: httpx.Response | BaseException) -> Retry | None:
    """:func:`http_verdict`, except that a TLS failure (untrusted certificate, refused client
    certificate) is not retried: it is a setting, not a passing fault."""
    if isinstance(outcome, httpx.TransportError) and describe_tls_failure(outcome, "") is not None:
        return None
    return http_verdict(outcome)


def _close(response: httpx.Response) -> None:
    response.close()


def _error_detail(response: httpx.Response) -> str:
    """``: CODE: message`` from the spec's error body, when there is one."""
    try:
        response.read()
        body = response.json()
        first = body["errors"][0]
        return f": {first.get('code', '')}: {first.get('message', '')}".rstrip(": ")
    except Exception:
        return ""


def open_clients(
    registries: RegistriesConfig, *, retry: RetrySettings | None = None
) -> dict[str, RegistryClient]:
    """One client per configured registry, keyed by name (credentials from the environment).

    Raises :class:`ConfigError` when a registry's credentials are misconfigured.
    Close each client when done.
    """
    return {name: RegistryClient(registries.get(name), retry=retry) for name in registries}
