"""BundleBuilder: a policy set to an OPA bundle, byte for byte deterministic.

Layout (bundle root ``freightliner``)::

    .manifest                                    revision (content hash), roots, rego_version
    data.json                                    {"freightliner": {"policy_set": {...}}}
    freightliner/<package>/*.rego                the hand-written library (rego/ in the repository)
    freightliner/generated/<key>/policy_test.rego   generated tests, one module per policy

Policies are data, interpreted by the library: evaluation cost then depends on
the candidates the index selects, not on the number of policies
(docs/benchmarks.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.bundle.atomic import (
    OUTPUT_MARKER,
    atomic_directory,
    bundle_file_mode,
    directory_mode,
    remove_leftovers,
    temp_prefix,
)
from migrate.bundle.background import Background
from migrate.bundle.early_tests import EarlyTests
from migrate.bundle.early_tests import test_modules as _test_modules
from migrate.bundle.index import IndexReport, build_index_with_report, mark_extended
from migrate.bundle.library import library_files
from migrate.bundle.program import guard_always, optimise
from migrate.bundle.tar_layout import ustar_header
from migrate.core.errors import BundleError, Diagnostic, PolicyError
from migrate.core.limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBER_BYTES, MAX_ARCHIVE_MEMBERS
from migrate.policy.model import LoadedPolicy, PolicySet
from migrate.policy.semantics import compile_policy

__all__ = ["BUNDLE_ROOT", "Bundle", "BundleBuilder", "read_bundle", "verify_bundle"]

BUNDLE_ROOT = "freightliner"


@dataclass(frozen=True)
class Bundle:
    """A built bundle: file contents by path, in memory."""

    files: dict[str, bytes]
    revision: str
    policy_ids: list[str] = field(default_factory=list)

    def without_tests(self) -> Bundle:
        """The same bundle without test modules, for serving: OPA compiles every module
        it loads, and the generated tests are most of them (10,000 policies: 80,000 test
        rules). Its own revision (its content differs)."""
        files = {
            p: c for p, c in self.files.items() if not p.endswith("_test.rego") and p != ".manifest"
        }
        manifest = json.loads(self.files[".manifest"])
        revision = _revision(files)
        metadata = {**manifest.get("metadata", {}), "files": _digests(files)}
        files[".manifest"] = _json_bytes({**manifest, "revision": revision, "metadata": metadata})
        return Bundle(files=files, revision=revision, policy_ids=list(self.policy_ids))

    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.files["data.json"])
        return value

    def modules(self) -> dict[str, str]:
        """Every ``.rego`` file (library, generated tests) by path."""
        return {p: c.decode("utf-8") for p, c in self.files.items() if p.endswith(".rego")}

    def tarball_bytes(self) -> bytes:
        """The ``.tar.gz`` OPA downloads; identical bytes for identical input.

        The tar stream is laid out here as :mod:`tarfile` writes it (each member's
        ustar header from :meth:`tarfile.TarInfo.tobuf`, its content padded to a block,
        two zero blocks, padding to a record) and deflated in one write: the same bytes
        as ``tarfile.open(mode="w")`` member by member (tests/integration/migrate/bundle/
        test_tarball_bytes.py), without its per-member calls (10,000 policies, 10,010
        members: 0.83 -> 0.72 s; the deflate itself is 0.40 s); each header laid out
        by :func:`~migrate.bundle.tar_layout.ustar_header` (tarfile's bytes, 0.72 -> 0.45 s).
        """
        parts: list[bytes] = []
        offset = 0
        for path in sorted(self.files):
            content = self.files[path]
            header = ustar_header(f"/{path}" if not path.startswith("/") else path, len(content))
            padding = -len(content) % tarfile.BLOCKSIZE
            parts += (header, content, bytes(padding))
            offset += len(header) + len(content) + padding
        offset += 2 * tarfile.BLOCKSIZE
        parts.append(bytes(2 * tarfile.BLOCKSIZE + (-offset % tarfile.RECORDSIZE)))
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            gz.write(b"".join(parts))
        return raw.getvalue()

    def write_tarball(
        self, path: Path, mode: int | None = None, *, payload: bytes | None = None
    ) -> None:
        """Write atomically: a temp file beside ``path``, then rename. The file gets ``mode``
        (default :func:`~migrate.bundle.atomic.bundle_file_mode`: 0644). ``payload``: this
        bundle's :meth:`tarball_bytes`, when the caller made them already."""
        mode = bundle_file_mode() if mode is None else mode
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.tarball_bytes() if payload is None else payload)
                os.fchmod(fh.fileno(), mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_directory(self, path: Path, mode: int | None = None) -> None:
        """Write a bundle directory atomically: build beside it, then swap it in. Files get
        ``mode`` (default 0644, :func:`~migrate.bundle.atomic.bundle_file_mode`), directories
        the same with execute where read."""
        mode = bundle_file_mode() if mode is None else mode
        with atomic_directory(path, directory_mode(mode)) as staging:
            for rel, content in self.files.items():
                target = staging / rel
                for parent in reversed(target.relative_to(staging).parents[:-1]):
                    (staging / parent).mkdir(exist_ok=True)
                    os.chmod(staging / parent, directory_mode(mode))
                target.write_bytes(content)
                os.chmod(target, mode)

    def write(self, out: Path, mode: int | None = None) -> None:
        """``*.tar.gz`` → tarball, anything else → directory."""
        if out.name.endswith(".tar.gz"):
            self.write_tarball(out, mode)
        else:
            self.write_directory(out, mode)


def _json_bytes(value: Any) -> bytes:
    # No indent: json's C encoder is used only without one (a 10,000-policy
    # data.json took seconds with indent=1).
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


class BundleBuilder:
    """Compiles a :class:`PolicySet` into a :class:`Bundle`.

    ``generate_tests`` adds the per-policy test modules; ``use_index`` files
    policies in the candidate index (off: every policy is evaluated for every
    image - used to check the index is sound).
    """

    def __init__(
        self, *, generate_tests: bool = True, use_index: bool = True, parallel: bool = False
    ) -> None:
        self.generate_tests = generate_tests
        self.use_index = use_index
        #: Generate the tests in a forked child while the index is built (the same bytes;
        #: migrate/bundle/background.py). Only for a command's own process.
        self.parallel = parallel
        #: What the index of the last build does (worst case, unindexed policies).
        self.report = IndexReport(worst_case=0)
        #: The last build's data.json as built (what json.loads of it gives, without the
        #: parse: 10,000 policies are 18 MB). Read it; do not change it.
        self.data: dict[str, Any] = {}

    def build(
        self,
        policy_set: PolicySet,
        progress: Callable[[str], None] = lambda _: None,
        on_data: Callable[[dict[str, bytes], dict[str, Any]], None] | None = None,
        early_tests: EarlyTests | None = None,
    ) -> Bundle:
        """The bundle; ``progress`` is told each step (and every 1,000 policies compiled).

        ``on_data(files, data)`` is called as soon as the data is complete, before
        data.json is written out and the generated tests are added: ``files`` the
        library modules, ``data`` as :attr:`data` (``policy build`` starts its decides
        check there). ``early_tests``: the tests of some of the policies, started while
        the others loaded (:mod:`migrate.bundle.early_tests`); the rest are made here."""
        compiled: dict[str, dict[str, Any]] = {}
        files: dict[str, bytes] = dict(library_files())
        problems: list[Diagnostic] = []
        tested: list[tuple[LoadedPolicy, dict[str, Any]]] = []
        total = len(policy_set.policies)
        for number, loaded in enumerate(policy_set.policies, 1):
            if number % 1000 == 0:
                progress(f"compiled {number:,}/{total:,} policies")
            policy, errors = compile_policy(loaded.policy)
            problems.extend(
                Diagnostic(
                    m, file=loaded.file, line=loaded.line, policy_id=loaded.policy.id, field=f
                )
                for f, m in errors
            )
            policy["source"] = {"file": loaded.file, "line": loaded.line}
            compiled[loaded.policy.id] = policy
            if self.generate_tests and not errors:
                tested.append((loaded, policy))
        if problems:
            raise PolicyError(f"{len(problems)} problem(s) in policy input", problems)
        # The tests are made from the compiled form as it is now (before optimise below).
        if not self.generate_tests:
            early_tests = None
        early: frozenset[str] = early_tests.ids if early_tests is not None else frozenset()
        rest = [item for item in tested if item[0].policy.id not in early] if early else tested
        with (
            Background(lambda: _test_modules(rest), lambda: _test_modules(rest, recompile=True))
            if self.parallel and rest
            else _Now(lambda: _test_modules(rest)) as tests
        ):
            self._index_and_data(compiled, files, tests, progress, on_data, early_tests, tested)
        return self._finish(files)

    def _index_and_data(
        self,
        compiled: dict[str, dict[str, Any]],
        files: dict[str, bytes],
        tests: Background[list[tuple[str, bytes]]] | _Now,
        progress: Callable[[str], None],
        on_data: Callable[[dict[str, bytes], dict[str, Any]], None] | None,
        early_tests: EarlyTests | None = None,
        tested: list[tuple[LoadedPolicy, dict[str, Any]]] | None = None,
    ) -> None:
        ordered = [compiled[k] for k in sorted(compiled)]
        progress("indexing")
        if self.use_index:
            index, report, chosen = build_index_with_report(ordered)
        else:
            always = sorted(p["id"] for p in ordered if p["enabled"])
            index = {"exact": {}, "prefix": {}, "always": always}
            report, chosen = IndexReport(worst_case=len(always), always=always), {}
        for policy in ordered:
            optimise(policy, chosen.get(policy["id"]))
        if self.use_index:
            guard_always(index, compiled)
            mark_extended(index)
        self.report = report
        progress("writing data.json")
        self.data = {
            BUNDLE_ROOT: {"policy_set": {"policies": {p["id"]: p for p in ordered}, "index": index}}
        }
        if on_data is not None:
            on_data(dict(files), self.data)
        data_json = _json_bytes(self.data)
        modules = tests.result()
        if early_tests is not None and early_tests.ids:
            first = early_tests.result()
            modules = first + modules
            if len({path for path, _ in modules}) != len(modules):  # two ids, one path
                modules = _test_modules(tested or [], recompile=True)  # the order decides
        files.update(modules)
        files["data.json"] = data_json
        self._policy_ids = sorted(compiled)

    def _finish(self, files: dict[str, bytes]) -> Bundle:
        report = self.report
        hashes = _file_hashes(files)
        revision = _revision(files, hashes)
        manifest = {
            "revision": revision,
            "roots": [BUNDLE_ROOT],
            "rego_version": 1,
            "metadata": {
                "generator": "freightliner-policy",
                "policies": len(self._policy_ids),
                "worst_case_candidates": report.worst_case,
                "files": _digests(files, hashes),  # names the file that differs if one changed
            },
        }
        files[".manifest"] = _json_bytes(manifest)
        return Bundle(files=files, revision=revision, policy_ids=list(self._policy_ids))


class _Now:
    """What :class:`Background` gives, computed here and now."""

    def __init__(self, compute: Callable[[], list[tuple[str, bytes]]]) -> None:
        self._value = compute()

    def __enter__(self) -> _Now:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def result(self) -> list[tuple[str, bytes]]:
        return self._value


def _file_hashes(files: dict[str, bytes]) -> dict[str, bytes]:
    """Each file's SHA-256, by path (sorted): what the revision and the manifest's digests
    are made of (10,000 policies: 40 MB, hashed once instead of twice)."""
    return {p: hashlib.sha256(c).digest() for p, c in sorted(files.items())}


def _revision(files: dict[str, bytes], hashes: dict[str, bytes] | None = None) -> str:
    """The content hash of every file but ``.manifest`` (the bundle's revision);
    ``hashes``: :func:`_file_hashes` of ``files``, when known."""
    hashes = _file_hashes(files) if hashes is None else hashes
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode("utf-8") + b"\0")
        digest.update(hashes[path])
    return digest.hexdigest()[:32]


def _digests(files: dict[str, bytes], hashes: dict[str, bytes] | None = None) -> dict[str, str]:
    hashes = _file_hashes(files) if hashes is None else hashes
    return {p: hashes[p].hex()[:32] for p in sorted(files)}


def verify_bundle(files: dict[str, bytes], source: str, *, signed: bool = False) -> str:
    """The revision of a bundle's files when it is their content hash; else BundleError
    naming the file that differs from what the manifest recorded. ``signed``: the files'
    signature was verified already (it covers every file, so it proves their integrity
    whatever revision the bundle's builder chose, e.g. ``opa build``'s)."""
    try:
        manifest = json.loads(files[".manifest"])
    except KeyError:
        raise BundleError(f"{source}: not a bundle: no .manifest") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{source}: .manifest is not valid JSON: {exc}") from None
    revision = manifest.get("revision") if isinstance(manifest, dict) else None
    if not isinstance(revision, str) or not revision:
        raise BundleError(f"{source}: .manifest has no revision")
    if signed:
        return revision
    content = {p: c for p, c in files.items() if p != ".manifest"}
    if _revision(content) == revision:
        return revision
    metadata = manifest.get("metadata")
    listed = metadata.get("files") if isinstance(metadata, dict) else None
    if isinstance(listed, dict):
        actual = _digests(content)
        for path in sorted(set(listed) | set(actual)):
            if path not in actual:
                problem = f"{path} is missing"
            elif path not in listed:
                problem = f"{path} was added"
            elif listed[path] != actual[path]:
                problem = f"{path} differs"
            else:
                continue
            raise BundleError(
                f"{source}: {problem}: the content does not match the manifest's revision "
                f"{revision} (the bundle was changed after it was built; rebuild it)"
            )
    raise BundleError(
        f"{source}: the content does not match the manifest's revision {revision} "
        "(the bundle was changed after it was built; rebuild it)"
    )


def _member_name(name: str, source: str) -> str:
    rel = name.lstrip("/")
    parts = rel.split("/")
    if not rel or any(part in {"", ".", ".."} for part in parts) or "\0" in rel:
        raise BundleError(f"{source}: unsafe member name {name!r}")
    return rel


def _read_tarball(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    with tarfile.open(path, "r|gz") as tar:
        for count, member in enumerate(tar, start=1):
            if count > MAX_ARCHIVE_MEMBERS:
                raise BundleError(f"{path}: more than {MAX_ARCHIVE_MEMBERS} members (input limits)")
            if not member.isfile():
                continue
            if member.size > MAX_ARCHIVE_MEMBER_BYTES:
                raise BundleError(
                    f"{path}: {member.name} inflates to {member.size} bytes; the limit is "
                    f"{MAX_ARCHIVE_MEMBER_BYTES} (input limits)"
                )
            total += member.size
            if total > MAX_ARCHIVE_BYTES:
                raise BundleError(
                    f"{path}: inflates to more than {MAX_ARCHIVE_BYTES} bytes (input limits)"
                )
            name = _member_name(member.name, str(path))
            extracted = tar.extractfile(member)
            content = extracted.read(member.size) if extracted is not None else b""
            if len(content) != member.size:
                raise EOFError("unexpected end of data")
            if name in files:
                raise BundleError(f"{path}: member {name} appears twice")
            files[name] = content
    return files


def _read_directory(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for count, file in enumerate(sorted(path.rglob("*")), start=1):
        if count > MAX_ARCHIVE_MEMBERS:
            raise BundleError(f"{path}: more than {MAX_ARCHIVE_MEMBERS} files (input limits)")
        rel = file.relative_to(path).as_posix()
        if rel == OUTPUT_MARKER:
            continue
        if file.is_symlink():
            raise BundleError(f"{path}: {rel} is a symbolic link; a bundle holds plain files")
        if not file.is_file():
            continue
        size = file.stat().st_size
        total += size
        if size > MAX_ARCHIVE_MEMBER_BYTES or total > MAX_ARCHIVE_BYTES:
            raise BundleError(f"{path}: {rel}: the bundle is too large (input limits)")
        files[rel] = file.read_bytes()
    return files


def read_bundle(path: Path, verification: Any = None) -> Bundle:
    """Read a built bundle (directory or ``.tar.gz``) back, within the input limits,
    and verify that its content hashes to its revision (BundleError otherwise).

    ``verification`` (a :class:`migrate.bundle.signing.VerificationConfig`): check the
    bundle's signature first (SignatureError with OPA's message when it does not verify).
    """
    try:
        files = _read_directory(path) if path.is_dir() else _read_tarball(path)
    except BundleError:
        raise
    except EOFError:
        raise BundleError(
            f"{path}: not a readable bundle (truncated: unexpected end of data)"
        ) from None
    except (OSError, tarfile.TarError, zlib.error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if "end of data" in reason or "end-of-stream" in reason:
            reason = f"truncated: {reason}"
        raise BundleError(f"{path}: not a readable bundle ({reason})") from None
    if verification is not None:
        from migrate.bundle.signing import SignatureError, verify_files

        try:
            verify_files(files, verification)
        except SignatureError as exc:
            raise SignatureError(exc.reason, str(path)) from exc
    files.pop(".signatures.json", None)  # checked above (or not asked for): not content
    revision = verify_bundle(files, str(path), signed=verification is not None)
    try:
        data = json.loads(files.get("data.json", b"{}"))
        ids = sorted(data.get(BUNDLE_ROOT, {}).get("policy_set", {}).get("policies", {}))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise BundleError(f"{path}: data.json is not a bundle's data: {exc}") from None
    return Bundle(files=files, revision=revision, policy_ids=ids)
