"""A large file's tail parsed, and its conditions checked, from the start of a build.

:mod:`migrate.bundle.prewarm` forks its child once this process has parsed the
whole file (a 3.4 MB file: about a second on one core, the other one idle).
Here the child is forked before that: :func:`start_early_prewarm` picks the
largest policy file of a build and cuts its text at a line that starts a later
item of its policy list, near :data:`CHILD_SHARE` of the text from its end
(:func:`migrate.core.yaml_split.find_cut`). The forked child parses the tail
(:func:`~migrate.core.yaml_split.parse_tail`) and sends it back, then computes
the argument answers of its policies
(:func:`migrate.bundle.prewarm.argument_answers`) and sends them back too.
Meanwhile this process parses the head; the loader takes the tail
(:meth:`EarlyPrewarm.load`: :func:`~migrate.core.yaml_split.load_joined` gives
exactly what one parse of the whole text gives, or parses it all itself), checks
the policies before the cut, takes the answers, and checks the rest with them
at hand.

The answers are :func:`migrate.policy.conditions._argument`'s pure results,
keyed by everything they depend on: answers about conditions that are not in
the file are only useless. Which policy the child's part starts with is
decided here, on the loaded document (:meth:`EarlyPrewarm.split_of`): when none
starts on the cut's line, the loader forks its own child after the parse, as
before. A child that dies, or answers nothing, only costs the time: the tail is
then parsed here, the answers computed here.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from migrate.bundle.background import forking_allowed
from migrate.core.limits import MAX_SOURCE_BYTES
from migrate.core.yaml_split import Cut, find_cut

__all__ = ["CHILD_SHARE", "MIN_BYTES", "EarlyPrewarm", "start_early_prewarm"]

#: A smaller file than this: no early child (about 2,000 policies of the realistic set).
MIN_BYTES = 600 * 1024
#: The share of the text, from its end, the child parses and checks.
CHILD_SHARE = 0.5

Answers = dict[tuple[Any, ...], tuple[bool, Any]]
_LENGTH = 8  # bytes of a frame's length


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_LENGTH, "big") + data


def _child(text: str, cut: Cut, filename: str, write_fd: int) -> None:
    """In the child: the tail, then its answers; each a frame (none when it fails)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about Ctrl-C
        gc.set_threshold(100_000, 50, 100)  # as the build's (few collections, many objects)
        from migrate.core.yaml_split import parse_tail

        with os.fdopen(write_fd, "wb") as pipe:
            tail = parse_tail(text, cut, filename)
            # Written beside the answers' work: the parent reads it once it has parsed the
            # head, and a pipe holds far less than the tail.
            failed: list[BaseException] = []

            def send(frame: bytes) -> None:
                try:
                    pipe.write(frame)
                    pipe.flush()
                except BaseException as exc:  # the parent left: nothing to print
                    failed.append(exc)

            sending = threading.Thread(target=send, args=(_frame(tail),))
            sending.start()
            answers: Answers = {}
            if tail is not None and isinstance(tail.value, list):
                from migrate.bundle.prewarm import argument_answers

                answers = argument_answers(tail.value)
            sending.join()
            if failed:
                raise failed[0]
            pipe.write(_frame(answers))
    except BaseException:  # no (more) answers: the parent does the work itself
        code = 1
    finally:
        os._exit(code)


class EarlyPrewarm:
    """The child for one file's text, cut at :attr:`cut`; a context manager (leaving it
    stops the child)."""

    def __init__(self, file: Path, text: str, cut: Cut, pid: int, read_fd: int) -> None:
        self.file = file
        self.text = text
        self.cut = cut
        self.line = cut.line
        self._pid: int | None = pid
        self._pipe: Any = os.fdopen(read_fd, "rb")
        self._frames_read = 0
        self.joined = False  #: the loader took the tail
        self.taken = False  #: the loader took the answers

    def _next_frame(self) -> tuple[bool, Any]:
        """(True, the next frame's value), or (False, None) when the child gave none."""
        if self._pipe is None:
            return False, None
        try:
            size = int.from_bytes(self._pipe.read(_LENGTH), "big")
            data = self._pipe.read(size) if size else b""
            if not size or len(data) != size:
                raise EOFError
            self._frames_read += 1
            return True, pickle.loads(data)  # our own child's
        except Exception:
            self._stop()
            return False, None

    def load(self, text: str, filename: str) -> Any:
        """The loader's parse: for this file's text (once), the head here and the child's
        tail, joined (or the whole text parsed here); any other text parsed here."""
        from migrate.core.yaml_source import load_yaml
        from migrate.core.yaml_split import load_joined

        if self.joined or self._frames_read or text != self.text:
            return load_yaml(text, filename)
        self.joined = True

        def tail() -> Any:  # asked for once the head is parsed here
            ok, value = self._next_frame()
            return value if ok else None

        return load_joined(text, filename, self.cut, tail)

    def answers_ready(self) -> bool:
        """Whether the child's answers can be taken without waiting: it has sent the tail
        (and it was joined) and then its answers (or died)."""
        if self.taken or self._pipe is None or self._frames_read != 1:
            return False
        readable, _, _ = select.select([self._pipe], [], [], 0)
        return bool(readable)

    def split_of(self, raws: list[Any]) -> int | None:
        """The number of the policy of ``raws`` (a document's, in order) whose mapping
        starts on the cut's line, or None: then the child is not for this document (or
        its cut did not start a policy) and its answers are not used."""
        if self.taken or self._pipe is None:
            return None
        lines = [getattr(raw, "line", None) for raw in raws]
        return lines.index(self.line) if self.line in lines else None

    def answers(self) -> Answers:
        """The child's answers (once; empty when it gave none)."""
        if self.taken:
            return {}
        self.taken = True
        while self._frames_read < 2:
            ok, value = self._next_frame()
            if not ok:
                return {}
            if self._frames_read == 2:
                self._stop()
                return value if isinstance(value, dict) else {}
        return {}

    def _stop(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None

    def __enter__(self) -> EarlyPrewarm:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()


def _files(paths: list[Path]) -> list[Path]:
    """The YAML files of ``paths`` (directories searched as the loader searches them; a
    guess is enough here: the loader decides what it reads)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return files


def start_early_prewarm(
    paths: list[Path], min_bytes: int = MIN_BYTES, share: float = CHILD_SHARE
) -> EarlyPrewarm | None:
    """Fork the child for the largest policy file of ``paths`` (files, directories) when it
    has at least ``min_bytes`` and a cut; None otherwise (or where forking is not allowed)."""
    if not forking_allowed():
        return None
    sizes = []
    for file in _files(paths):
        try:
            if file.is_file():
                sizes.append((os.stat(file).st_size, file))
        except OSError:
            continue  # the loader reports it
    if not sizes:
        return None
    size, file = max(sizes, key=lambda item: item[0])
    if size < min_bytes or size > MAX_SOURCE_BYTES:  # past the limit: the loader refuses it
        return None
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the loader reports it
    cut = find_cut(text, share)
    if cut is None:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        os.close(read_fd)
        _child(text, cut, str(file), write_fd)
    os.close(write_fd)
    return EarlyPrewarm(file, text, cut, pid, read_fd)
