"""Streaming blob transfer: a verifying download stream and the upload protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Protocol

import httpx

from adapter.registry.digest import DigestVerifier, parse_digest
from adapter.registry.reference import Kind
from migrate.core.errors import RegistryError


class _Uploader(Protocol):
    """What the upload protocol needs of :class:`adapter.registry.client.RegistryClient`.

    Declared here, not imported, so blobs.py does not import client.py (which
    imports blobs.py): the two modules stay acyclic.
    """

    @property
    def name(self) -> str: ...

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        retry: bool = True,
    ) -> httpx.Response: ...

    def check(self, response: httpx.Response, expected: set[int], what: str) -> None: ...

    def path_for(self, repository: str, kind: Kind, reference: str | None = None) -> str: ...


__all__ = ["BlobStream", "rechunk", "upload_blob"]


class BlobStream:
    """An open blob download. Iterate once for chunks; the digest is checked after the last one.

    ``size`` is the ``Content-Length`` when the registry sent one. Always
    close it (it is a context manager) to return the connection to the pool.
    """

    def __init__(self, response: httpx.Response, digest: str, what: str, chunk_size: int) -> None:
        self._response = response
        self.digest = digest
        self._verifier = DigestVerifier(digest)
        self._what = what
        self._chunk_size = chunk_size
        length = response.headers.get("Content-Length")
        self.size: int | None = int(length) if length and length.isdigit() else None

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()

    @property
    def verifier(self) -> DigestVerifier:
        """What the iteration hashed so far (``verify`` again after the last chunk is cheap)."""
        return self._verifier

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_bytes(self._chunk_size):
                self._verifier.update(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"{self._what}: download failed after {self._verifier.size} "
                f"bytes: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._response.close()
        if self.size is not None and self._verifier.size != self.size:
            raise RegistryError(f"{self._what}: got {self._verifier.size} of {self.size} bytes")
        self._verifier.verify(self._what)


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup a byte stream into pieces of exactly ``size`` bytes (the last may be shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _verified(chunks: Iterable[bytes], verifier: DigestVerifier) -> Iterator[bytes]:
    for chunk in chunks:
        verifier.update(chunk)
        yield chunk


def upload_blob(
    client: _Uploader,
    repository: str,
    digest: str,
    chunks: Iterable[bytes],
    *,
    size: int | None = None,
    chunk_size: int | None = None,
) -> int:
    """See :meth:`RegistryClient.upload_blob`."""
    parse_digest(digest)
    what = f"registry {client.name!r}: upload of {repository}@{digest}"
    response = client.request("POST", client.path_for(repository, "blobs/uploads/"))
    client.check(response, {202}, f"start upload to {repository}")
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"{what}: the registry gave no upload Location")
    body: Iterable[bytes]
    if isinstance(chunks, BlobStream) and chunks.digest == digest:
        # A download of the same digest hashes every byte and raises DigestMismatch after
        # its last one, inside this upload (under a second hash it raised first all the
        # same): hashing the bytes twice adds nothing. Checked again below, as any upload.
        verifier, body = chunks.verifier, chunks
    else:
        verifier = DigestVerifier(digest)
        body = _verified(chunks, verifier)
    try:
        if chunk_size is None:
            headers = {"Content-Type": "application/octet-stream"}
            if size is not None:
                headers["Content-Length"] = str(size)
            response = client.request(
                "PUT",
                location,
                params={"digest": digest},
                headers=headers,
                content=body,
                retry=False,
            )
        else:
            offset = 0
            for piece in rechunk(body, chunk_size):
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                }
                response = client.request("PATCH", location, headers=headers, content=piece)
                client.check(response, {202}, f"upload chunk at {offset} to {repository}")
                location = response.headers.get("Location", location)
                offset += len(piece)
            response = client.request("PUT", location, params={"digest": digest})
        verifier.verify(what)
        client.check(response, {201}, f"finish upload of {digest} to {repository}")
    except BaseException:
        _cancel(client, location)
        raise
    return verifier.size


def _cancel(client: _Uploader, location: str) -> None:
    with contextlib.suppress(RegistryError):
        client.request("DELETE", location, retry=False)
