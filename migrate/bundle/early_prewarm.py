"""The later policies' condition answers computed from the start of a build.

:mod:`migrate.bundle.prewarm` forks its child once this process has parsed the
whole file (a 3.4 MB file: about a second on one core, the other one idle).
Here the child is forked before the parse: :func:`start_early_prewarm` picks
the largest policy file of a build, cuts its text at a line that starts a
later item of its top-level policy list (a line ``- `` at the list's
indentation, near :data:`CHILD_SHARE` of the text from its end), and a forked
child parses that tail on its own and computes the argument answers of its
policies (:func:`migrate.bundle.prewarm.argument_answers`), while this process
parses the whole file. The loader then checks the policies before the cut,
takes the answers, and checks the rest with them at hand.

Nothing this process decides depends on the child: the answers are
:func:`migrate.policy.conditions._argument`'s pure results, keyed by
everything they depend on, so answers about conditions that are not in the
file (a cut that is not where a policy starts, a text that parses
differently alone) are only useless. The parse, every problem, message and
line are this process's own. Whether the cut starts a policy is decided here,
on this process's parse (:meth:`EarlyPrewarm.split_of`): the child covers the
policies from the one whose mapping starts on the cut's line; when no policy
starts there, the loader forks its child after the parse as before. A child
that gives no answer only costs the time.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

from migrate.bundle.background import Background, forking_allowed
from migrate.core.limits import MAX_SOURCE_BYTES

__all__ = ["CHILD_SHARE", "MIN_BYTES", "EarlyPrewarm", "start_early_prewarm", "tail_cut"]

#: A smaller file than this: no early child (about 2,000 policies of the realistic set).
MIN_BYTES = 600 * 1024
#: The share of the text, from its end, the child parses and checks: it starts a second
#: or so before this process has parsed the file, so it takes more than prewarm's child.
CHILD_SHARE = 0.62

Answers = dict[tuple[Any, ...], tuple[bool, Any]]


def tail_cut(text: str, share: float = CHILD_SHARE) -> tuple[int, int] | None:
    """(offset, line) of the first line at or after ``1 - share`` of ``text`` that starts
    an item of its top-level policy list (``- `` at the indentation of the first item
    line after the list starts), or None. A guess only: see the module's docstring."""
    indent = _item_indent(text)
    if indent is None:
        return None
    marker = "\n" + " " * indent + "- "
    offset = text.find(marker, int(len(text) * (1 - share)))
    if offset < 0:
        return None
    return offset + 1, text.count("\n", 0, offset + 1) + 1


def _item_indent(text: str) -> int | None:
    """The indentation of the policy list's items: 0 for a document that is a list
    (its first line ``- ``), else that of the first ``- `` line after ``policies:``."""
    if text.startswith("- "):
        return 0
    start = text.find("\npolicies:")
    if start < 0 and not text.startswith("policies:"):
        return None
    for line in text[max(start, 0) : max(start, 0) + 4096].splitlines()[1:]:
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        return len(line) - len(stripped) if stripped.startswith("- ") else None
    return None


def _tail_answers(text: str, cut: int, line: int, filename: str) -> Answers:
    """In the child: parse the tail as a document of its own (on the same lines) and
    compute the argument answers of its policies; none when it does not parse."""
    from migrate.bundle.prewarm import argument_answers
    from migrate.core.yaml_source import load_yaml

    try:
        tail = load_yaml("\n" * (line - 1) + text[cut:], filename)
    except Exception:  # not a document alone: the answers would be of no use
        return {}
    return argument_answers(tail) if isinstance(tail, list) else {}


class EarlyPrewarm:
    """A child computing the answers of one file's policies from line :attr:`line` on.

    A context manager: leaving it stops a child whose answer was not taken."""

    def __init__(self, file: Path, line: int, work: Background[Answers]) -> None:
        self.file = file
        self.line = line
        self._work: Background[Answers] | None = work
        self.taken = False

    def split_of(self, raws: list[Any]) -> int | None:
        """The number of the policy of ``raws`` (a document's, in order) whose mapping
        starts on :attr:`line` (the child's first), or None: then the child is not for
        this document (or its cut did not start a policy), and will not be used."""
        if self._work is None or self.taken:
            return None
        lines = [getattr(raw, "line", None) for raw in raws]
        if self.line not in lines:
            return None
        return lines.index(self.line)

    def answers(self) -> Answers:
        """The child's answers (once; empty when it gave none)."""
        if self._work is None or self.taken:
            return {}
        self.taken = True
        work, self._work = self._work, None
        try:
            return work.result()
        finally:
            work.__exit__(None, None, None)

    def __enter__(self) -> EarlyPrewarm:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._work is not None:
            self._work.__exit__(kind, value, traceback)
            self._work = None


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
    cut = tail_cut(text, share)
    if cut is None:
        return None
    offset, line = cut
    name = str(file)
    work: Background[Answers] = Background(
        lambda: _tail_answers(text, offset, line, name), lambda: {}
    )
    return EarlyPrewarm(file, line, work.__enter__())
