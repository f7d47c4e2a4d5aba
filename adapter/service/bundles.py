"""The published bundle: built from the policy sources, tested, swapped in atomically.

:class:`BundleManager` watches the policy sources (polling file sizes and
mtimes every ``interval`` seconds; a change must be stable for one poll before
it is read, so half-written files are not built). A change is loaded,
compiled into a bundle, every policy decides a synthetic image in the embedded
engine without an error (migrate/bundle/decides.py), and the bundle's tests
run (embedded engine); only if
all of that succeeds does the new :class:`PublishedBundle` replace the current
one (one reference assignment: readers see the old or the new revision, never a
mix). A rejected change keeps the last good bundle and is reported: a log
line, ``freightliner_policy_bundle_rebuild_failures_total`` and
:attr:`BundleManager.last_error` (shown by ``/ready`` and ``/v1/policies``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.service.audit import JsonlWriter
from adapter.service.metrics import ServiceMetrics
from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.bundle.decides import check_bundle_decides
from migrate.bundle.tester import run_bundle_tests
from migrate.core.clock import now_rfc3339
from migrate.core.errors import FreightlinerError
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents, policy_files
from migrate.policy.model import PolicySet

__all__ = ["BundleManager", "PublishedBundle", "RebuildError"]

log = logging.getLogger("freightliner.service.bundles")
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class RebuildError:
    """Why the latest policy change was rejected."""

    time: str
    message: str
    lines: list[str]
    files: dict[str, str]  # path -> sha256 of the rejected sources


@dataclass(frozen=True)
class PublishedBundle:
    """One published revision: the bundle, the tarball OPA downloads, the policy sources."""

    bundle: Bundle
    tarball: bytes
    policy_set: PolicySet
    files: dict[str, str]  # source path -> sha256
    published_at: str
    tests_passed: int
    engine: EmbeddedEngine  # compiled once when published; safe to share across threads

    @property
    def revision(self) -> str:
        return self.bundle.revision

    @property
    def etag(self) -> str:
        return f'"{self.bundle.revision}"'

    def policies(self) -> list[dict[str, Any]]:
        return [
            {
                "id": p.policy.id,
                "name": p.policy.name,
                "enabled": p.policy.enabled,
                "priority": p.policy.priority,
                "schedule": p.policy.schedule or "",
                "file": p.file,
                "line": p.line,
            }
            for p in sorted(self.policy_set.policies, key=lambda p: p.policy.id)
        ]


def _hash_files(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 per file, streamed (a huge file dropped into the directory is never read
    into memory here; the loader refuses it by size)."""
    hashes: dict[str, str] = {}
    for path in paths:
        with path.open("rb") as fh:
            hashes[str(path)] = hashlib.file_digest(fh, "sha256").hexdigest()
    return hashes


class BundleManager:
    """Builds, tests and publishes bundles from ``sources`` (policy files and directories)."""

    def __init__(
        self,
        sources: Sequence[Path],
        metrics: ServiceMetrics,
        change_log: JsonlWriter,
        interval: float = 0.5,
        test_runner: str = "embedded",
        signer: Any = None,
    ) -> None:
        self.sources = list(sources)
        self.metrics = metrics
        self.change_log = change_log
        self.interval = interval
        self.test_runner = test_runner
        self.signer = signer  # a migrate.bundle.signing.SigningConfig: sign what is published
        self.last_error: RebuildError | None = None
        self._current: PublishedBundle | None = None
        self._seen: Fingerprint | None = None
        self._pending: Fingerprint | None = None
        self._listeners: list[Callable[[PublishedBundle], None]] = []
        self._validators: list[Callable[[PublishedBundle], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._build_lock = threading.Lock()

    # -- reading -------------------------------------------------------------
    @property
    def current(self) -> PublishedBundle:
        bundle = self._current
        if bundle is None:
            raise RuntimeError("no bundle published yet")
        return bundle

    def on_publish(self, listener: Callable[[PublishedBundle], None]) -> None:
        self._listeners.append(listener)

    def on_validate(self, validator: Callable[[PublishedBundle], None]) -> None:
        """``validator(candidate)`` runs before a bundle is published; a FreightlinerError
        from it rejects the change like a failing bundle test."""
        self._validators.append(validator)

    def _files(self) -> list[Path]:
        return policy_files(p for p in self.sources if p.exists())

    def fingerprint(self) -> Fingerprint:
        entries: list[tuple[str, int, int]] = []
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)

    # -- building ------------------------------------------------------------
    def build(self, files: dict[str, str], policy_set: PolicySet | None = None) -> PublishedBundle:
        """Build, check and test a candidate bundle (of ``policy_set``, else of the sources;
        ``files``: the source hashes it comes from); nothing is published. Raises
        FreightlinerError when it is invalid, fails a test or a validator rejects it."""
        if policy_set is None:
            policy_set = load_policy_documents(self.sources)
        bundle = BundleBuilder().build(policy_set)
        check_bundle_decides(bundle)  # every policy decides without an engine error, or rejected
        report = run_bundle_tests(bundle, self.test_runner)
        if report.failed:
            failing = [
                f"{o.package}.{o.name}: {o.error or 'failed'}"
                for o in report.outcomes
                if not o.passed
            ]
            raise _TestsFailed(f"{report.failed} bundle test(s) failed", failing)
        served = bundle.without_tests()  # tested above; OPA need not compile the tests
        engine = EmbeddedEngine(served.modules(), served.data(), served.revision)  # or raises
        if self.signer is not None:
            from migrate.bundle.signing import sign_bundle

            served = sign_bundle(served, self.signer)
        candidate = PublishedBundle(
            served, served.tarball_bytes(), policy_set, files, now_rfc3339(), report.passed, engine
        )
        for validate in self._validators:
            validate(candidate)  # e.g. the scheduler: every schedule must be runnable
        return candidate

    def load_initial(self) -> PublishedBundle:
        """Build the first bundle; raises FreightlinerError (no last good bundle to keep)."""
        with self._build_lock:
            self._seen = self.fingerprint()
            files = _hash_files(self._files())
            published = self.build(files)
            self._publish(published, previous=None)
            return published

    def check(self) -> bool:
        """One poll: rebuild when the sources changed and stayed unchanged for one poll.

        Returns True when a new revision was published.
        """
        with self._build_lock:
            fingerprint = self.fingerprint()
            if fingerprint == self._seen:
                self._pending = None
                return False
            if fingerprint != self._pending:
                self._pending = fingerprint  # wait one poll: the writer may not be done
                return False
            self._seen, self._pending = fingerprint, None
            try:
                files = _hash_files(self._files())
            except OSError as exc:
                self._reject(f"cannot read the policy sources: {exc}", [], {})
                return False
            current = self._current
            if current is not None and files == current.files:
                self.last_error = None
                return False
            if self.last_error is not None and files == self.last_error.files:
                return False
            try:
                published = self.build(files)
            except FreightlinerError as exc:
                self._reject(exc.message, exc.lines(), files)
                return False
            if current is not None and published.revision == current.revision:
                self.last_error = None
                return False
            self._publish(published, previous=current)
            return True

    @contextmanager
    def locked(self) -> Iterator[PublishedBundle]:
        """Hold the build lock (the watcher and every other writer wait) and yield the
        current bundle: for an edit of the sources (:meth:`commit_edit`)."""
        with self._build_lock:
            yield self.current

    def commit_edit(
        self,
        published: PublishedBundle,
        previous: PublishedBundle,
        files: dict[str, str],
        token: str,
    ) -> PublishedBundle:
        """After an edit of the sources written under :meth:`locked` (the candidate
        ``published`` built from them): the watcher need not rebuild what it now sees;
        a new revision is published (the change log names ``token``), the same revision
        kept with the new source hashes. Returns the current bundle."""
        self._seen = self.fingerprint()
        self._pending = None
        if published.revision != previous.revision:
            self._publish(published, previous=previous, token=token)
        else:
            self._current = dataclasses.replace(previous, files=files)
        return self.current

    def _reject(self, message: str, lines: list[str], files: dict[str, str]) -> None:
        self.last_error = RebuildError(now_rfc3339(), message, lines, files)
        self.metrics.rebuild_failures.inc()
        self.metrics.errors.inc(type="bundle_rebuild")
        log.error(
            "policy change rejected; keeping the last good bundle",
            extra={
                "fields": {
                    "event": "bundle_rejected",
                    "error": message,
                    "problems": lines,
                    "revision": self._current.revision if self._current else None,
                }
            },
        )

    def _publish(
        self,
        published: PublishedBundle,
        previous: PublishedBundle | None,
        token: str | None = None,
    ) -> None:
        self._current = published  # the atomic swap
        self.last_error = None
        old = previous.files if previous else {}
        changed = sorted(
            p for p in set(old) | set(published.files) if old.get(p) != published.files.get(p)
        )
        record = {
            "revision": published.revision,
            "previous_revision": previous.revision if previous else None,
            "time": published.published_at,
            "files_changed": changed,
            "policies": [p["id"] for p in published.policies()],
            "tests_passed": published.tests_passed,
            "source": "api" if token else "files",
            "token": token,  # the name of the API token that made the change
        }
        self.change_log.write(record)
        if previous is not None:
            self.metrics.rebuilds.inc()
        log.info("bundle published", extra={"fields": {"event": "bundle_published", **record}})
        for listener in self._listeners:
            try:
                listener(published)
            except Exception:  # a listener must not stop publishing
                log.exception("bundle listener failed")

    # -- watching ------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="freightliner-bundle-watch", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("bundle watcher failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _TestsFailed(FreightlinerError):
    def __init__(self, message: str, failing: list[str]) -> None:
        super().__init__(message)
        self.failing = failing

    def lines(self) -> list[str]:
        return [self.message, *self.failing]
