"""Running a bundle's tests: with ``opa test`` when an ``opa`` binary is on
PATH, else with the embedded engine (regorus). Both report per test.

A generated test that fails prints what it expected and what the engine
gave (``_expect`` in migrate/bundle/templates/policy_test.rego.tmpl: the
policy id, its file:line, the example or derived case, expected versus
actual); that printed text is the outcome's ``error``: from ``opa test``'s
JSON ``output`` (base64), or the embedded engine's gathered prints. A plain
``opa test`` on a built bundle shows the same lines under each failed test.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import regorus

from migrate.bundle.builder import Bundle
from migrate.core.errors import BundleError
from migrate.patterns.dialect import RegexRefused, rust_policy_data

__all__ = ["TestOutcome", "TestReport", "run_bundle_tests"]

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\s+(?:if\b|:=|=|\{)", re.MULTILINE)


@dataclass(frozen=True)
class TestOutcome:
    name: str
    package: str
    passed: bool
    error: str = ""


@dataclass
class TestReport:
    runner: str
    outcomes: list[TestOutcome] = field(default_factory=list)
    output: str = ""

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and bool(self.outcomes)


def _embedded(bundle: Bundle) -> TestReport:
    engine = regorus.Engine()
    # Generated tests carry policy values verbatim; lift regorus's 1 MiB file limit.
    engine.set_policy_length_config(max_col=1 << 28, max_file_bytes=1 << 28, max_lines=1 << 24)
    tests: list[tuple[str, str]] = []
    for path, text in sorted(bundle.modules().items()):
        try:
            engine.add_policy(path, text)
        except (
            BaseException
        ) as exc:  # regorus panics (pyo3 PanicException) on lines over 65,535 columns
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(
                f"the embedded engine cannot load {path}: {first}; run the tests with opa"
            ) from exc
        package = _PACKAGE.search(text)
        if package and path.endswith("_test.rego"):
            names = dict.fromkeys(_TEST_RULE.findall(text))
            tests.extend((package.group(1), name) for name in names)
    try:
        engine.add_data_json(json.dumps(rust_policy_data(bundle.data())))  # as EmbeddedEngine
    except RegexRefused as exc:
        raise BundleError(f"the embedded engine cannot run the bundle's regex: {exc}") from None
    report = TestReport(runner="embedded (regorus)")
    engine.set_gather_prints(True)
    for package_name, name in tests:
        try:
            value = json.loads(engine.eval_rule_as_json(f"data.{package_name}.{name}"))
            printed = _printed(engine.take_prints())
            passed = value is True
            report.outcomes.append(
                TestOutcome(name, package_name, passed, "" if passed else printed or "failed")
            )
        except RuntimeError as exc:
            engine.take_prints()
            report.outcomes.append(TestOutcome(name, package_name, False, str(exc)))
    return report


def _opa(bundle: Bundle, opa: str) -> TestReport:
    with tempfile.TemporaryDirectory(prefix="freightliner-test-") as tmp:
        root = Path(tmp) / "bundle"
        bundle.write_directory(root)
        proc = subprocess.run(
            [opa, "test", "--format", "json", "-b", str(root)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    report = TestReport(runner=f"opa test ({opa})", output=proc.stderr)
    try:
        results = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise BundleError(f"opa test failed: {proc.stdout.strip() or proc.stderr.strip()}") from exc
    if proc.returncode == 1 or not isinstance(results, list):
        raise BundleError(
            f"opa test could not load the bundle: {proc.stdout.strip() or proc.stderr.strip()}"
        )
    for item in results:
        error = item.get("error")
        passed = not item.get("fail") and not error and not item.get("skip")
        message = json.dumps(error) if error else ""
        if item.get("fail"):
            message = _opa_output(item.get("output")) or "failed"
        report.outcomes.append(
            TestOutcome(
                item["name"], item.get("package", "").removeprefix("data."), passed, message
            )
        )
    return report


def _printed(lines: object) -> str:
    """The embedded engine's gathered prints, without its ``<file>:<row>: `` prefixes."""
    if not isinstance(lines, list):
        return ""
    return "; ".join(re.sub(r"^\S+:\d+: ", "", str(line)).strip() for line in lines if line)


def _opa_output(output: object) -> str:
    """What a failed test printed, from ``opa test --format json``'s base64 ``output``."""
    if not isinstance(output, str) or not output:
        return ""
    try:
        text = base64.b64decode(output, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def run_bundle_tests(bundle: Bundle, runner: str = "auto") -> TestReport:
    """Run every ``test_*`` rule; ``runner``: ``auto`` (opa if on PATH), ``opa``, ``embedded``."""
    opa = shutil.which("opa")
    if runner == "opa" and opa is None:
        raise BundleError("runner 'opa' requested but no opa binary is on PATH")
    if runner in {"auto", "opa"} and opa is not None:
        return _opa(bundle, opa)
    return _embedded(bundle)
