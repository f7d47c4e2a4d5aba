"""Bundle files are written 0644 whatever the umask (an OPA sidecar running as another user
reads a mounted bundle), or the mode ``FREIGHTLINER_BUNDLE_FILE_MODE`` names."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.bundle.atomic import bundle_file_mode, directory_mode
from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.core.errors import ConfigError
from migrate.policy.loader import load_policy_documents

ROOT = Path(__file__).resolve().parents[4]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return BundleBuilder().build(load_policy_documents([ROOT / "examples" / "policies"]))


def test_tarball_is_0644_under_a_strict_umask(
    bundle: Bundle, tmp_path: Path, strict_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FREIGHTLINER_BUNDLE_FILE_MODE", raising=False)
    out = tmp_path / "bundle.tar.gz"
    bundle.write(out)
    assert oct(_mode(out)) == oct(0o644)
    bundle.write(out)  # replaced: still 0644
    assert oct(_mode(out)) == oct(0o644)


def test_directory_files_0644_and_dirs_0755(
    bundle: Bundle, tmp_path: Path, strict_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FREIGHTLINER_BUNDLE_FILE_MODE", raising=False)
    out = tmp_path / "bundle"
    bundle.write(out)
    files = [p for p in out.rglob("*") if p.is_file() and p.name != ".freightliner-output"]
    dirs = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert len(files) > 10 and len(dirs) > 3
    assert {oct(_mode(p)) for p in files} == {oct(0o644)}
    assert {oct(_mode(p)) for p in dirs} == {oct(0o755)}


def test_configured_mode(bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREIGHTLINER_BUNDLE_FILE_MODE", "0640")
    bundle.write(tmp_path / "b.tar.gz")
    bundle.write(tmp_path / "b")
    assert oct(_mode(tmp_path / "b.tar.gz")) == oct(0o640)
    assert oct(_mode(tmp_path / "b" / "data.json")) == oct(0o640)
    assert oct(_mode(tmp_path / "b")) == oct(0o750)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 0o644), ("0600", 0o600), ("640", 0o640), ("0o664", 0o664), (" 0644 ", 0o644)],
)
def test_mode_values(raw: str, expected: int) -> None:
    assert bundle_file_mode({"FREIGHTLINER_BUNDLE_FILE_MODE": raw}) == expected
    assert bundle_file_mode({}) == 0o644


@pytest.mark.parametrize("raw", ["0755", "0400", "4644", "rw-r--r--", "0o1644", "9644", "0"])
def test_bad_mode_values_are_one_clear_error(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        bundle_file_mode({"FREIGHTLINER_BUNDLE_FILE_MODE": raw})
    assert caught.value.message == (
        f"FREIGHTLINER_BUNDLE_FILE_MODE={raw!r}: expected an octal file mode like 0644 or 0640 "
        "(owner read and write, no execute bits)"
    )


def test_directory_mode() -> None:
    assert [oct(directory_mode(m)) for m in (0o644, 0o640, 0o600, 0o664)] == [
        oct(0o755),
        oct(0o750),
        oct(0o700),
        oct(0o775),
    ]
