"""A bundle built under a strict umask (077) is readable by the reference ``opa`` running as
another user (``nobody``, as an OPA sidecar in another container would), from ``policy build``
and from ``freightliner-migrate convert``; with ``FREIGHTLINER_BUNDLE_FILE_MODE=0600`` it is
not (the setting works, and the check can fail)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory others may traverse (pytest's tmp_path is 0700)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run opa as another user")
    path = Path(tempfile.mkdtemp(prefix="freightliner-modes-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(args: list[str], umask: int = 0o077, **env: str) -> subprocess.CompletedProcess[str]:
    code = f"import os, sys; os.umask({umask}); os.execvp(sys.argv[1], sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def _opa_as_nobody(opa: str, bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            opa,
            "eval",
            "--bundle",
            str(bundle),
            "--format",
            "raw",
            "data.freightliner.index != null",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_policy_build_bundle_is_readable_by_another_user(opa_bin: str, shared_dir: Path) -> None:
    cli = shutil.which("freightliner-policy") or "freightliner-policy"
    out = shared_dir / "bundle.tar.gz"
    built = _run([cli, "policy", "build", "examples/policies", "-o", str(out)])
    assert built.returncode == 0, built.stderr
    assert oct(stat.S_IMODE(out.stat().st_mode)) == oct(0o644)
    read = _opa_as_nobody(opa_bin, out)
    assert (read.returncode, read.stdout.strip()) == (0, "true"), read.stderr

    private = shared_dir / "private.tar.gz"
    built = _run(
        [cli, "policy", "build", "examples/policies", "-o", str(private)],
        FREIGHTLINER_BUNDLE_FILE_MODE="0600",
    )
    assert built.returncode == 0, built.stderr
    assert oct(stat.S_IMODE(private.stat().st_mode)) == oct(0o600)
    refused = _opa_as_nobody(opa_bin, private)
    assert refused.returncode != 0 and "permission denied" in refused.stderr.lower()


def test_migrate_convert_bundle_is_readable_by_another_user(opa_bin: str, shared_dir: Path) -> None:
    cli = shutil.which("freightliner-migrate") or "freightliner-migrate"
    out = shared_dir / "migrated"
    converted = _run([cli, "convert", "examples/legacy/rules.yaml", "-o", str(out)])
    assert converted.returncode == 0, converted.stderr
    bundle = out / "bundle.tar.gz"
    assert oct(stat.S_IMODE(out.stat().st_mode)) == oct(0o755)
    assert oct(stat.S_IMODE(bundle.stat().st_mode)) == oct(0o644)
    read = _opa_as_nobody(opa_bin, bundle)
    assert (read.returncode, read.stdout.strip()) == (0, "true"), read.stderr
