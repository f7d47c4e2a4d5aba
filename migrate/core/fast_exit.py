"""Leaving a command's process without the interpreter's teardown.

When a command has written everything it writes (``policy build``: the bundle
renamed into place, its last line printed), the process still frees every
object it made before it exits: for a 10,000-policy build (about 10^6 objects,
300 MB) that is about 0.45 s of the wall time users wait for, after the work is
done. A command calls :func:`skip_teardown` when it is done; the entry point's
runner (:func:`migrate.core.cli_options.run`) then calls :func:`exit_now`: the
exit handlers run (logging's flush among them), the standard streams are
flushed, and the process ends with the command's exit code, without freeing
its objects one by one. Only the runner of a real process does this: a command
called in-process (tests, ``CliRunner``) returns as before.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

__all__ = ["exit_now", "skip_teardown", "teardown_skipped"]

_SKIP = False


def skip_teardown(skip: bool = True) -> None:
    """The running command is done: its process may end without the teardown (``False``:
    the runner, before a command runs)."""
    global _SKIP
    _SKIP = skip


def teardown_skipped() -> bool:
    """Whether the running command asked for :func:`skip_teardown`."""
    return _SKIP


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` after the exit handlers and a flush of the standard
    streams, as a normal exit would (a stream that cannot be flushed: exit 120, as
    Python's own exit gives), without the interpreter's teardown. With a thread still
    running that a normal exit would wait for, a normal exit."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                code = code or 120
        os._exit(code)
