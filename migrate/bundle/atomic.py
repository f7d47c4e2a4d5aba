"""Writing outputs so that readers see the old one or the whole new one, and
so that an output never destroys what the tool did not write.

* :func:`check_output` refuses an output path that contains one of the
  command's inputs (always), and an existing directory that is neither empty
  nor marked as written by this tool (unless ``force``).
* :func:`atomic_directory` stages beside the target and swaps it in by
  renames; the new directory carries :data:`OUTPUT_MARKER`. Staging and
  old-copy directories are named ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*``;
  ones left by an interrupted run (its process is gone) are removed by the
  next run that writes the same target.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from migrate.core.errors import ConfigError

__all__ = [
    "DEFAULT_FILE_MODE",
    "FILE_MODE_ENV",
    "OUTPUT_MARKER",
    "atomic_directory",
    "bundle_file_mode",
    "check_output",
    "directory_mode",
    "remove_leftovers",
    "temp_prefix",
]

#: The file that marks a directory as written by freightliner (safe to replace).
OUTPUT_MARKER = ".freightliner-output"
_MARKER_TEXT = b"written by freightliner-policy; the whole directory is replaced on rebuild\n"


#: Bundle files are readable by everyone: an OPA sidecar running as another user (another
#: container) reads a mounted bundle. ``FREIGHTLINER_BUNDLE_FILE_MODE`` (octal) changes it.
DEFAULT_FILE_MODE = 0o644
FILE_MODE_ENV = "FREIGHTLINER_BUNDLE_FILE_MODE"
_OCTAL_MODE = re.compile(r"^0?o?([0-7]{3})$")


def bundle_file_mode(environ: Mapping[str, str] | None = None) -> int:
    """The mode of written bundle files: ``$FREIGHTLINER_BUNDLE_FILE_MODE`` (three octal
    digits, e.g. ``0640``; read and write for the owner, no execute, no special bits), else
    0644."""
    raw = (os.environ if environ is None else environ).get(FILE_MODE_ENV, "").strip()
    if not raw:
        return DEFAULT_FILE_MODE
    match = _OCTAL_MODE.match(raw)
    mode = int(match.group(1), 8) if match else -1
    if mode < 0 or mode & 0o111 or mode & 0o600 != 0o600:
        raise ConfigError(
            f"{FILE_MODE_ENV}={raw!r}: expected an octal file mode like 0644 or 0640 "
            "(owner read and write, no execute bits)"
        )
    return mode


def directory_mode(file_mode: int) -> int:
    """The mode of a bundle directory for files of ``file_mode``: execute where read."""
    return file_mode | ((file_mode & 0o444) >> 2)


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _ours(directory: Path) -> bool:
    marker = directory / OUTPUT_MARKER
    return marker.is_file() and not marker.is_symlink()


def check_output(target: Path, inputs: Sequence[Path], force: bool = False) -> None:
    """Raise ConfigError when writing ``target`` could destroy something.

    Refused always: ``target`` is, or contains, one of ``inputs``. Refused
    unless ``force``: ``target`` exists and is not an empty directory or one
    this tool wrote (it has :data:`OUTPUT_MARKER`).
    """
    out = Path(os.path.abspath(target)).resolve()
    for item in inputs:
        source = Path(os.path.abspath(item)).resolve()
        if _within(source, out):
            raise ConfigError(
                f"{target}: the output would replace the input {item}; choose another output"
            )
    if force or not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        if target.name.endswith(".tar.gz") and target.is_file() and not target.is_symlink():
            return  # a bundle tarball is replaced as one file
        raise ConfigError(
            f"{target}: exists and is not a directory this tool wrote; "
            "remove it or pass --force to replace it"
        )
    if any(target.iterdir()) and not _ours(target):
        raise ConfigError(
            f"{target}: directory is not empty and was not written by this tool "
            f"(no {OUTPUT_MARKER}); choose an empty directory or pass --force to replace it"
        )


def temp_prefix(name: str, kind: str = "tmp") -> str:
    return f".{name}.{kind}-{os.getpid()}-"


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?:(?P<pid>\d+)-)?.+$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(parent: Path, name: str) -> list[Path]:
    """Remove ``.NAME.tmp-*`` / ``.NAME.old-*`` entries of ``parent`` whose writer is gone."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match is None or match.group("name") != name:
            continue
        pid = match.group("pid")
        if pid is not None and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another run is writing it now
        if pid is not None and int(pid) == os.getpid():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextmanager
def atomic_directory(target: Path, mode: int = 0o755) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; on success it replaces
    ``target`` by renames (marked with :data:`OUTPUT_MARKER`), on any error it is
    removed and ``target`` is untouched. The directory gets ``mode``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target.parent, target.name)
    staging = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
    try:
        yield staging
        (staging / OUTPUT_MARKER).write_bytes(_MARKER_TEXT)
        os.chmod(staging, mode)
        if os.path.lexists(target):
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name, "old"), dir=target.parent))
            os.replace(target, old / "previous")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
