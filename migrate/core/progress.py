"""The one progress facility of long work: builds, legacy converts, verifies, replicates.

Silent for the first ``after_s`` seconds (about 2: short work says nothing);
then, on a terminal (stderr is a TTY), one line rewritten in place - a bar
with ``done/total`` when the total is known, else the current step; not on a
terminal, a log line through the ``freightliner.progress`` logger (text or
JSON, per ``--log-format``) at each new step and every ``every_s`` seconds.
``-q`` turns it off, ``--progress`` shows it from the start, ``--no-progress``
never. Progress goes to stderr only: stdout stays the command's result.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO, TypeVar

import click

__all__ = ["Progress", "progress_option"]

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger("freightliner.progress")
_BAR = 24


def progress_option(func: F) -> F:
    """``--progress/--no-progress`` (parameter ``progress_flag``: True, False or None)."""
    return click.option(
        "--progress/--no-progress",
        "progress_flag",
        default=None,
        help="Progress on stderr: from the start, or never (default: once the work has run "
        "2 s; a bar on a terminal, log lines otherwise).",
    )(func)


class Progress:
    """Progress of one piece of work; use as a context manager (a ticker thread redraws)."""

    def __init__(
        self,
        label: str,
        *,
        flag: bool | None = None,
        quiet: bool = False,
        after_s: float = 2.0,
        every_s: float = 5.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.enabled = flag is not False and not quiet
        self._after = 0.0 if flag else after_s
        self._every = every_s
        self._stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self._stream, "isatty", None)
            tty = bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"
        self.tty = tty
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._step = ""
        self._done = 0
        self._total: int | None = None
        self._logged_step: str | None = None
        self._last_log = float("-inf")
        self._drawn = False
        self._shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the work reports ----------------------------------------------
    def step(self, message: str) -> None:
        """A new step (e.g. ``compiling``); shown at once once past ``after_s``."""
        with self._lock:
            self._step = message
        self.tick()

    def total(self, count: int) -> None:
        with self._lock:
            self._total, self._done = count, 0
        self.tick()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self._done += count
        self.tick(force=False)

    __call__ = step

    def echo(self, line: str) -> None:
        """Print ``line`` on stdout, above the bar (the bar is redrawn on the next tick)."""
        with self._lock:
            if self._drawn:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._drawn = False
            click.echo(line)

    # -- rendering ------------------------------------------------------------
    def elapsed(self) -> float:
        return self._clock() - self._started

    def _text(self, elapsed: float) -> str:
        parts = [f"{self.label}:"]
        if self._total:
            filled = min(_BAR, _BAR * self._done // self._total)
            parts.append(f"[{'#' * filled}{'-' * (_BAR - filled)}]")
            parts.append(f"{self._done:,}/{self._total:,}")
        elif self._done:
            parts.append(f"{self._done:,}")
        if self._step:
            parts.append(self._step)
        parts.append(f"({elapsed:.1f}s)")
        return " ".join(parts)

    def tick(self, force: bool = True) -> None:
        """Draw (TTY) or log (otherwise) when due; ``force``: a new step logs at once."""
        if not self.enabled:
            return
        with self._lock:
            elapsed = self.elapsed()
            if elapsed < self._after:
                return
            text = self._text(elapsed)
            if self.tty:
                self._stream.write("\r\x1b[K" + text)
                self._stream.flush()
                self._drawn = self._shown = True
                return
            now = self._clock()
            new_step = force and self._step != self._logged_step
            if not new_step and now - self._last_log < self._every:
                return
            self._logged_step = self._step
            self._last_log = now
            self._shown = True
        _log.info("%s", text)

    def _run(self) -> None:
        interval = 0.2 if self.tty else min(1.0, self._every)
        while not self._stop.wait(interval):
            self.tick(force=False)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(
                target=self._run, name="freightliner-progress", daemon=True
            )
            self._thread.start()
        return self

    def close(self, final: str = "done") -> None:
        """Stop the ticker; end the line (TTY) or log the final state if anything was shown."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self.enabled:
            return
        with self._lock:
            if self.tty:
                if self._shown:  # the last state stays on screen
                    self._stream.write("\r\x1b[K" + self._text(self.elapsed()) + "\n")
                    self._stream.flush()
                    self._drawn = False
                return
            shown = self._shown
            self._step = final
            text = self._text(self.elapsed())
        if shown:
            _log.info("%s", text)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close("done" if kind is None else "stopped")
