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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.errors import BundleError, Diagnostic, PolicyError
from migrate.bundle.atomic import atomic_directory
from migrate.bundle.index import IndexReport, build_index_with_report
from migrate.bundle.library import library_files
from migrate.bundle.program import guard_always, optimise
from migrate.bundle.testgen import policy_test_module
from migrate.policy.model import PolicySet
from migrate.policy.semantics import compile_policy

__all__ = ["BUNDLE_ROOT", "Bundle", "BundleBuilder", "read_bundle"]

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
        files[".manifest"] = _json_bytes({**manifest, "revision": revision})
        return Bundle(files=files, revision=revision, policy_ids=list(self.policy_ids))

    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.files["data.json"])
        return value

    def modules(self) -> dict[str, str]:
        """Every ``.rego`` file (library, generated tests) by path."""
        return {p: c.decode("utf-8") for p, c in self.files.items() if p.endswith(".rego")}

    def tarball_bytes(self) -> bytes:
        """The ``.tar.gz`` OPA downloads; identical bytes for identical input."""
        raw = io.BytesIO()
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
        ):
            for path in sorted(self.files):
                content = self.files[path]
                info = tarfile.TarInfo(name=f"/{path}" if not path.startswith("/") else path)
                info.size = len(content)
                info.mode = 0o644
                info.mtime = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(content))
        return raw.getvalue()

    def write_tarball(self, path: Path) -> None:
        """Write atomically: a temp file beside ``path``, then rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.tarball_bytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_directory(self, path: Path) -> None:
        """Write a bundle directory atomically: build beside it, then swap it in."""
        with atomic_directory(path) as staging:
            for rel, content in self.files.items():
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

    def write(self, out: Path) -> None:
        """``*.tar.gz`` → tarball, anything else → directory."""
        if out.name.endswith(".tar.gz"):
            self.write_tarball(out)
        else:
            self.write_directory(out)


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

    def __init__(self, *, generate_tests: bool = True, use_index: bool = True) -> None:
        self.generate_tests = generate_tests
        self.use_index = use_index
        #: What the index of the last build does (worst case, unindexed policies).
        self.report = IndexReport(worst_case=0)

    def build(
        self, policy_set: PolicySet, progress: Callable[[str], None] = lambda _: None
    ) -> Bundle:
        """The bundle; ``progress`` is told each step (and every 1,000 policies compiled)."""
        compiled: dict[str, dict[str, Any]] = {}
        files: dict[str, bytes] = dict(library_files())
        problems: list[Diagnostic] = []
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
                module = policy_test_module(loaded, policy)
                if module is not None:
                    files[module[0]] = module[1].encode("utf-8")
        if problems:
            raise PolicyError(f"{len(problems)} problem(s) in policy input", problems)
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
        self.report = report
        progress("writing data.json")
        files["data.json"] = _json_bytes(
            {
                BUNDLE_ROOT: {
                    "policy_set": {"policies": {p["id"]: p for p in ordered}, "index": index}
                }
            }
        )
        revision = _revision(files)
        manifest = {
            "revision": revision,
            "roots": [BUNDLE_ROOT],
            "rego_version": 1,
            "metadata": {
                "generator": "freightliner-policy",
                "policies": len(ordered),
                "worst_case_candidates": report.worst_case,
            },
        }
        files[".manifest"] = _json_bytes(manifest)
        return Bundle(files=files, revision=revision, policy_ids=sorted(compiled))


def _revision(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(files[path]).digest())
    return digest.hexdigest()[:32]


def read_bundle(path: Path) -> Bundle:
    """Read a built bundle (directory or ``.tar.gz``) back."""
    files: dict[str, bytes] = {}
    try:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                files[file.relative_to(path).as_posix()] = file.read_bytes()
        else:
            with tarfile.open(path, "r:gz") as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        if extracted is not None:
                            files[member.name.lstrip("/")] = extracted.read()
        manifest = json.loads(files[".manifest"])
    except (OSError, tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not a readable bundle ({exc})") from None
    ids = sorted(
        json.loads(files.get("data.json", b"{}"))
        .get(BUNDLE_ROOT, {})
        .get("policy_set", {})
        .get("policies", {})
    )
    return Bundle(files=files, revision=str(manifest.get("revision", "")), policy_ids=ids)
