"""Unit tests start no processes: the guard below fails any test that tries.

Real registries, OPA and servers belong in tests/integration.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            f"a unit test started a process: {args[:1]!r}; move it to tests/integration"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield
