"""Replicate an image from one registry to another, byte for byte.

The source is named by the **digest that was decided** (the index digest for
a multi-platform image; a tag is accepted for tools and benchmarks). Order of
a copy, so that no partially copied image is ever visible at the target tag:

1. read the source manifest by that digest; the bytes must hash to it
   (:class:`DigestMismatch` otherwise), and for an index every child
   manifest, each verified against its digest;
2. if the target tag already resolves to that digest *and* (for an index)
   every child manifest is present at the target, stop (``skipped``);
   otherwise copy what is missing;
3. blobs (configs and layers): skipped when the target has them (``HEAD``),
   mounted across repositories when source and target are the same registry,
   otherwise streamed from source to target in chunks, sha256-verified on the
   way (:class:`DigestMismatch`, nothing tagged). A transient failure of one
   blob (connection error, 429/5xx, e.g. a 429 with ``Retry-After`` on the
   upload) restarts that blob's download and upload session, through the one
   retry helper (:func:`adapter.registry.http.with_retries`, ``Retry-After``
   honoured, jitter, bounded), with or without a policy ``retry_policy``;
4. child manifests pushed by digest, then the top manifest with one ``PUT``
   to the target tag (or digest), all as the exact source bytes, so digests
   are identical. That ``PUT`` comes only after every blob and child manifest
   is present (the registry refuses a manifest whose references are missing),
   stores the manifest and points the tag at it in one step, and the digest
   the registry reports for it must be the decided one
   (:meth:`RegistryClient.put_manifest`; :class:`RegistryError` otherwise). A
   separate ``PUT`` by digest before it would add a request and no guarantee.

``retry`` (a policy action's :class:`RetrySettings`) retries the whole copy
after transient failures; blobs already copied are skipped on the next attempt.
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
from adapter.registry.http import DEFAULT_SCHEDULE, RetrySchedule, with_retries
from adapter.registry.interface import Manifest
from adapter.registry.manifest import Descriptor, ParsedManifest, parse_manifest
from adapter.registry.retry import registry_verdict
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
        blob_retry: RetrySchedule = DEFAULT_SCHEDULE,
    ) -> None:
        self.chunk_size = chunk_size
        self.upload_chunk_size = upload_chunk_size
        self.blob_retry = blob_retry
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
        schedule = RetrySchedule.from_settings(retry) if retry is not None else _ONCE
        stats = _Stats()
        attempts = 0

        def attempt() -> CopyResult:
            nonlocal attempts
            attempts += 1
            return self._attempt(src, dst, stats)

        result = with_retries(attempt, registry_verdict, schedule, sleep=self._sleep)
        return _finish(result, attempts, time.monotonic() - started)

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
        if (
            existing is not None
            and existing.digest == top.digest
            and self._children_present(dst, top)
        ):
            return CopyResult(top.digest, existing.digest, skipped=True)
        manifests = self._collect(src, top, 0)
        for blob in _unique_blobs(parsed for _, parsed in manifests):
            if blob.digest not in stats.done:
                self._copy_blob(src, dst, blob, stats)
                stats.done.add(blob.digest)
        for child, _ in manifests[:-1]:
            dst.client.put_manifest(dst.repository, child.digest, child.content, child.media_type)
            stats.manifests_pushed += 1
        # Everything it references is in place: one PUT stores the manifest (under its
        # digest too) and points the tag at it; the registry's digest is verified.
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

    @staticmethod
    def _children_present(dst: ImageLocation, top: Manifest) -> bool:
        """For an index: every child manifest exists at the target (an image: ``True``)."""
        try:
            parsed = parse_manifest(top.content, top.media_type)
        except FreightlinerError:
            return False
        return all(
            dst.client.head_manifest(dst.repository, child.digest) is not None
            for child in parsed.manifests
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

        def transfer() -> int:  # a retry restarts both the download and the upload session
            with src.client.open_blob(src.repository, blob.digest, self.chunk_size) as stream:
                return dst.client.upload_blob(
                    dst.repository,
                    blob.digest,
                    stream,
                    size=blob.size,
                    chunk_size=self.upload_chunk_size,
                )

        sent = with_retries(transfer, registry_verdict, self.blob_retry, sleep=self._sleep)
        stats.blobs_copied += 1
        stats.bytes_copied += sent


def _unique_blobs(manifests: Iterable[ParsedManifest]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for parsed in manifests:
        for blob in parsed.blobs():
            if not blob.is_foreign:
                seen.setdefault(blob.digest, blob)
    return list(seen.values())


_ONCE = RetrySchedule(attempts=1)


def _finish(result: CopyResult, attempts: int, seconds: float) -> CopyResult:
    return replace(result, attempts=attempts, seconds=round(seconds, 6))


def copy_many(
    jobs: Iterable[CopyJob], max_concurrency: int = 4, copier: ImageCopier | None = None
) -> list[CopyOutcome]:
    """:meth:`ImageCopier.copy_many` with a default copier."""
    return (copier or ImageCopier()).copy_many(jobs, max_concurrency)
