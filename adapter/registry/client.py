"""``RegistryClient``: the OCI distribution API over one pooled ``httpx.Client``.

Reads (catalog, tags, manifests, blobs) and writes (blob mount, streamed
upload, manifest put), with authentication (see :mod:`adapter.registry.auth`)
and retries of 429/5xx and connection errors honouring ``Retry-After``.
Every error is a :class:`RegistryError` (:class:`AuthenticationError` for
credentials, :class:`DigestMismatch` for content) raised ``from`` the httpx
cause, so :func:`adapter.registry.retry.is_transient` can classify it.
The client is safe to share between threads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import httpx

from adapter.registry.auth import Authenticator, scopes_for
from adapter.registry.blobs import BlobStream, upload_blob
from adapter.registry.config import Credentials, RegistriesConfig, RegistryConfig
from adapter.registry.digest import DigestVerifier, compute_digest, is_digest, parse_digest
from adapter.registry.interface import Manifest, ManifestInfo
from adapter.registry.manifest import MANIFEST_ACCEPT, detect_media_type
from adapter.registry.retry import DEFAULT_RETRY, RETRYABLE_STATUSES, retry_delay
from migrate.core.errors import AuthenticationError, RegistryError
from migrate.core.retry import RetrySettings

__all__ = ["MAX_MANIFEST_BYTES", "RegistryClient", "open_clients"]

#: Manifests larger than this are refused (the spec suggests registries accept at least 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_Params = dict[str, str]


class RegistryClient:
    """A client for one configured registry.

    ``credentials`` default to ``config.credentials()`` (environment, then
    Docker config; :class:`ConfigError` if misconfigured); pass ``None`` for
    anonymous access. ``transport`` replaces
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
        self.retry = retry or DEFAULT_RETRY
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=config.url,
            verify=config.verify_tls,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=True,
            transport=transport,
            headers={"User-Agent": "freightliner-policy"},
        )
        resolved = config.credentials() if credentials == "config" else credentials
        self._auth = Authenticator(config.name, resolved, self._send_plain)
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
        return self._paginate(
            f"/v2/{repository}/tags/list", "tags", page_size, f"tags of {repository}"
        )

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """Digest, media type and size of a manifest, or ``None`` when it does not exist."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
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
        what = (
            f"manifest {repository}:{reference}"
            if not is_digest(reference)
            else (f"manifest {repository}@{reference}")
        )
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
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
        """Push manifest bytes unchanged under a tag or digest; returns the digest."""
        digest = compute_digest(content)
        if is_digest(reference) and reference != digest:
            raise RegistryError(
                f"registry {self.name!r}: manifest bytes hash to {digest}, "
                f"not to the reference {reference}"
            )
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=content,
            headers={"Content-Type": media_type},
        )
        self.check(response, {200, 201}, f"PUT manifest {repository}:{reference}")
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced != digest:
            raise RegistryError(
                f"registry {self.name!r}: stored manifest {repository}:{reference} "
                f"as {announced}, expected {digest}"
            )
        return digest

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (the registry must allow deletes)."""
        response = self.request("DELETE", f"/v2/{repository}/manifests/{digest}")
        self.check(response, {200, 202}, f"DELETE manifest {repository}@{digest}")

    def blob_exists(self, repository: str, digest: str) -> bool:
        """``HEAD /v2/NAME/blobs/DIGEST``."""
        parse_digest(digest)
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
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
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", stream=True)
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
        params = {"mount": digest, "from": from_repository}
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", params=params)
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
        """Send one request with authentication and, when ``retry`` and the body is
        replayable (``bytes`` or none), retries. The response is read unless ``stream``."""
        target = httpx.URL(self.base_url).join(url)
        if params:  # merge: an upload Location's own query (_state=...) must survive
            target = target.copy_merge_params(params)
        scopes = scopes_for(method, target.path, dict(target.params))
        replayable = retry and (content is None or isinstance(content, bytes))
        attempt, reauthenticated = 0, False
        while True:
            attempt += 1
            request = self._http.build_request(method, target, headers=headers, content=content)
            sent = self._auth.header_for(scopes)
            if sent is not None:
                request.headers["Authorization"] = sent
            try:
                self.requests += 1
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if replayable and attempt < self.retry.max_attempts:
                    self._sleep(retry_delay(self.retry, attempt, None, self.max_retry_after))
                    continue
                raise RegistryError(
                    f"registry {self.name!r}: {method} {target.path}: {type(exc).__name__}: {exc}"
                ) from exc
            if response.status_code == 401 and (replayable or content is None):
                response.read()
                response.close()
                self._auth.on_challenge(response, scopes, sent)  # raises if retrying cannot help
                if not reauthenticated:
                    reauthenticated = True
                    attempt -= 1
                    continue
                return response
            if (
                response.status_code in RETRYABLE_STATUSES
                and replayable
                and (attempt < self.retry.max_attempts)
            ):
                response.close()
                self._sleep(
                    retry_delay(
                        self.retry,
                        attempt,
                        response.headers.get("Retry-After"),
                        self.max_retry_after,
                    )
                )
                continue
            if not stream:
                try:
                    response.read()
                except httpx.TransportError as exc:
                    raise RegistryError(
                        f"registry {self.name!r}: {method} {target.path}: "
                        f"reading the response: {exc}"
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
        response = self._http.send(request)
        return response

    def _paginate(self, path: str, key: str, page_size: int | None, what: str) -> Iterator[str]:
        url: str | None = path
        params: _Params | None = {"n": str(page_size)} if page_size else None
        while url is not None:
            response = self.request("GET", url, params=params)
            self.check(response, {200}, f"list {what}")
            body = response.json()
            items = body.get(key) if isinstance(body, dict) else None
            yield from (str(i) for i in items or [])
            next_link = response.links.get("next", {}).get("url")
            url, params = (next_link, None) if next_link else (None, None)


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
