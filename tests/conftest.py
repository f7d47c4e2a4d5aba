"""Shared test setup.

The reference ``opa`` command (OPA's real Go Rego engine) lives in
``../shared/opa/bin`` beside the repository; put it on PATH so tests use
``opa`` exactly as users with the real binary do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_SHARED_OPA = REPO_ROOT.parent / "shared" / "opa" / "bin"
if _SHARED_OPA.is_dir() and str(_SHARED_OPA) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = f"{_SHARED_OPA}{os.pathsep}{os.environ.get('PATH', '')}"

# Fixture plugins, one module per real component the tests start.
pytest_plugins = [
    "tests.fixtures.registry",
    "tests.fixtures.images",
    "tests.fixtures.faults",
    "tests.fixtures.hostile",
    "tests.fixtures.opa",
    "tests.fixtures.webhook",
    "tests.fixtures.topology",
    "tests.fixtures.podman",
    "tests.fixtures.scale",
]


@pytest.fixture(scope="session")
def opa_bin() -> str:
    """Path of the ``opa`` command; tests needing it are skipped with a reason when absent."""
    found = shutil.which("opa")
    if found is None:
        pytest.skip("no `opa` on PATH (CI uses ../shared/opa/bin)")
    return found


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
