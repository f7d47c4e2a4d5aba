"""Every module says what it exports, and the package API is exactly what is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
from types import ModuleType

import pytest

import adapter
import migrate


def _modules() -> list[str]:
    names: list[str] = []
    for package in (adapter, migrate):
        names.extend(
            m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        )
    return sorted(names)


def _is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")


MODULES = [m for m in _modules() if not _is_package(importlib.import_module(m))]


def test_every_module_is_seen() -> None:
    assert "migrate.core.errors" in MODULES
    assert "adapter.cli.main" in MODULES
    assert len(MODULES) > 80


@pytest.mark.parametrize("name", MODULES)
def test_module_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}: __all__ repeats a name"
    assert [n for n in exported if not hasattr(module, n)] == [], f"{name}: undefined in __all__"
    if name.rsplit(".", 1)[1].startswith("_"):
        return  # a private module's helpers are its package's business
    defined = [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", None) == name
    ]
    assert [n for n in defined if n not in exported] == [], f"{name}: public but not in __all__"


def test_adapter_public_api() -> None:
    # The surface adapter/__init__.py documents.
    assert adapter.__all__ == [
        "ActionError",
        "AuthenticationError",
        "BundleError",
        "ConfigError",
        "DecisionAction",
        "DecisionEngine",
        "Diagnostic",
        "DigestMismatch",
        "EmbeddedEngine",
        "EngineError",
        "EngineUnavailable",
        "FreightlinerError",
        "ImageMetadata",
        "PolicyError",
        "RegistryError",
        "ReplicationDecision",
        "UndefinedDecision",
        "UnknownRegistry",
    ]
    for name in adapter.__all__:
        assert getattr(adapter, name).__name__ == name


def test_unit_tests_start_no_processes() -> None:
    with pytest.raises(AssertionError, match="a unit test started a process"):
        subprocess.run(["true"], check=False)
