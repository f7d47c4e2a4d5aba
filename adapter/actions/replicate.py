"""Replicate an image from one registry to another, byte for byte.

Order of a copy, so that no partially copied image is ever visible at the
target tag:

1. read the source manifest (and, for an index, every child manifest, each
   verified against its digest);
2. if the target tag already resolves to the same digest, stop (``skipped``);
3. blobs (configs and layers): skipped when the target has them (``HEAD``),
   mounted across repositories when source and target are the same registry,
   otherwise streamed from source to target in chunks, sha256-verified on the
   way (:class:`DigestMismatch`, nothing tagged);
4. child manifests pushed by digest, then the top manifest pushed under the
   target tag, all as the exact source bytes, so digests are identical.

``retry`` (a policy action's :class:`RetrySettings`) retries the whole copy
after transient failures (connection errors, 429/5xx after the client's own
per-request retries); blobs already copied are skipped on the next attempt.
Errors: :class:`RegistryError` and its subclasses as raised by the clients;
:class:`ActionError` when the image cannot be copied as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from adapter.registry.client import RegistryClient
from adapter.registry.interface import Manifest
from adapter.registry.manifest import Descriptor, ParsedManifest, parse_manifest
from adapter.registry.retry import backoff_delay, is_transient
from migrate.core.errors import ActionError, FreightlinerError
from migrate.core.retry import RetrySettings

__all__ = ["CopyJob", "CopyOutcome", "CopyResult", "ImageCopier", "ImageLocation", "copy_many"]

_MAX_INDEX_DEPTH = 2


class ImageLocation(NamedTuple):
    """``(client, repository, reference)``; the reference is a tag (or a digest for a source)."""

    client: RegistryClient
    repository: str
    reference: str


@dataclass(frozen=True)
class CopyResult:
    """What one copy did."""

    source_digest: str
    target_digest: str
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests_pushed: int = 0
    skipped: bool = False  # the target tag already had the same digest: nothing was done
    attempts: int = 1
    seconds: float = 0.0


@dataclass(frozen=True)
class CopyJob:
    source: ImageLocation | tuple[RegistryClient, str, str]
    target: ImageLocation | tuple[RegistryClient, str, str]
    retry: RetrySettings | None = None


@dataclass(frozen=True)
class CopyOutcome:
    """A job and either its result or the error it ended with."""

    job: CopyJob
    result: CopyResult | None = None
    error: FreightlinerError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Stats:
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests_pushed: int = 0
    done: set[str] = field(default_factory=set)


class ImageCopier:
    """Copies images; stateless apart from its settings, safe to share between threads.

    ``chunk_size`` is the streaming unit (memory per blob in flight is about
    one chunk); ``upload_chunk_size`` switches uploads to chunked ``PATCH``es.
    """

    def __init__(
        self,
        chunk_size: int = 1 << 20,
        upload_chunk_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.chunk_size = chunk_size
        self.upload_chunk_size = upload_chunk_size
        self._sleep = sleep

    def copy(
        self,
        source: ImageLocation | tuple[RegistryClient, str, str],
        target: ImageLocation | tuple[RegistryClient, str, str],
        retry: RetrySettings | None = None,
    ) -> CopyResult:
        """Copy ``source`` to ``target`` (see the module docstring)."""
        src, dst = ImageLocation(*source), ImageLocation(*target)
        started = time.monotonic()
        attempts = retry.max_attempts if retry is not None else 1
        stats = _Stats()
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(src, dst, stats)
            except FreightlinerError as exc:
                if attempt >= attempts or retry is None or not is_transient(exc):
                    raise
                self._sleep(backoff_delay(retry, attempt))
                continue
            return _finish(result, attempt, time.monotonic() - started)
        raise AssertionError("unreachable")  # pragma: no cover

    def copy_many(self, jobs: Iterable[CopyJob], max_concurrency: int = 4) -> list[CopyOutcome]:
        """Run jobs on a bounded thread pool; outcomes in job order, errors captured per job."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        job_list = list(jobs)

        def run(job: CopyJob) -> CopyOutcome:
            try:
                return CopyOutcome(job, result=self.copy(job.source, job.target, job.retry))
            except FreightlinerError as exc:
                return CopyOutcome(job, error=exc)

        with ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="freightliner-copy"
        ) as pool:
            return list(pool.map(run, job_list))

    # -- one attempt -------------------------------------------------------
    def _attempt(self, src: ImageLocation, dst: ImageLocation, stats: _Stats) -> CopyResult:
        top = src.client.get_manifest(src.repository, src.reference)
        existing = dst.client.head_manifest(dst.repository, dst.reference)
        if existing is not None and existing.digest == top.digest:
            return CopyResult(top.digest, existing.digest, skipped=True)
        manifests = self._collect(src, top, 0)
        for blob in _unique_blobs(parsed for _, parsed in manifests):
            if blob.digest not in stats.done:
                self._copy_blob(src, dst, blob, stats)
                stats.done.add(blob.digest)
        for child, _ in manifests[:-1]:
            dst.client.put_manifest(dst.repository, child.digest, child.content, child.media_type)
            stats.manifests_pushed += 1
        pushed = dst.client.put_manifest(dst.repository, dst.reference, top.content, top.media_type)
        stats.manifests_pushed += 1
        if pushed != top.digest:
            raise ActionError(
                f"{dst.client.name}/{dst.repository}:{dst.reference} stored as "
                f"{pushed}, source is {top.digest}"
            )
        return CopyResult(
            top.digest,
            pushed,
            stats.bytes_copied,
            stats.blobs_copied,
            stats.blobs_skipped,
            stats.blobs_mounted,
            stats.manifests_pushed,
        )

    def _collect(
        self, src: ImageLocation, manifest: Manifest, depth: int
    ) -> list[tuple[Manifest, ParsedManifest]]:
        """Manifests in push order: every child before its index, ``manifest`` last."""
        try:
            parsed = parse_manifest(manifest.content, manifest.media_type)
        except FreightlinerError as exc:
            raise ActionError(f"cannot copy {src.repository}@{manifest.digest}: {exc}") from exc
        if not parsed.is_index:
            return [(manifest, parsed)]
        if depth >= _MAX_INDEX_DEPTH:
            raise ActionError(f"{src.repository}@{manifest.digest}: indexes nested too deeply")
        ordered: list[tuple[Manifest, ParsedManifest]] = []
        for child in parsed.manifests:
            child_manifest = src.client.get_manifest(src.repository, child.digest)
            ordered.extend(self._collect(src, child_manifest, depth + 1))
        ordered.append((manifest, parsed))
        return ordered

    def _copy_blob(
        self, src: ImageLocation, dst: ImageLocation, blob: Descriptor, stats: _Stats
    ) -> None:
        if dst.client.blob_exists(dst.repository, blob.digest):
            stats.blobs_skipped += 1
            return
        same_registry = src.client is dst.client or src.client.base_url == dst.client.base_url
        if (
            same_registry
            and src.repository != dst.repository
            and dst.client.mount_blob(dst.repository, blob.digest, src.repository)
        ):
            stats.blobs_mounted += 1
            return
        with src.client.open_blob(src.repository, blob.digest, self.chunk_size) as stream:
            sent = dst.client.upload_blob(
                dst.repository,
                blob.digest,
                stream,
                size=blob.size,
                chunk_size=self.upload_chunk_size,
            )
        stats.blobs_copied += 1
        stats.bytes_copied += sent


def _unique_blobs(manifests: Iterable[ParsedManifest]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for parsed in manifests:
        for blob in parsed.blobs():
            if not blob.is_foreign:
                seen.setdefault(blob.digest, blob)
    return list(seen.values())


def _finish(result: CopyResult, attempts: int, seconds: float) -> CopyResult:
    return replace(result, attempts=attempts, seconds=round(seconds, 6))


def copy_many(
    jobs: Iterable[CopyJob], max_concurrency: int = 4, copier: ImageCopier | None = None
) -> list[CopyOutcome]:
    """:meth:`ImageCopier.copy_many` with a default copier."""
    return (copier or ImageCopier()).copy_many(jobs, max_concurrency)
