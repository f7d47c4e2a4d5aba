"""The hand-written Rego library that every bundle carries.

In the repository it is ``rego/``; in an installed wheel it is packaged as
``migrate/_rego`` (pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["library_dir", "library_files"]


def library_dir() -> Path:
    """Where the library's ``.rego`` files are."""
    packaged = Path(__file__).resolve().parents[1] / "_rego"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "rego"
    if source.is_dir():
        return source
    raise FileNotFoundError("the Rego library is missing (neither migrate/_rego nor rego/)")


def library_files(include_tests: bool = True) -> dict[str, bytes]:
    """Bundle path → content for every library module (tests included by default)."""
    root = library_dir()
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*.rego")):
        if not include_tests and path.name.endswith("_test.rego"):
            continue
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files
