"""Work of a bundle build run on the other core while the build goes on.

``policy build`` uses both cores of a small machine: the generated tests are
written while the index is built, and the check that every policy decides
(:mod:`migrate.bundle.decides`) runs while the warnings print and the tarball
is packed. Each runs in a forked child process that sees the build's state as
it was at the fork (nothing is copied or pickled on the way in) and sends back
its answer: a value (pickled, from our own child), or a BundleError's message
and diagnostics. The bundle's bytes do not depend on it: the child computes
exactly what the caller would have computed at that point.

Where ``fork`` is not available, the child dies without an answer (killed, out
of memory) or fails otherwise, the caller's ``fallback`` computes the answer in
this process (with the real error, if there is one), so the outcome never
depends on the child. ``FREIGHTLINER_BUILD_WORKERS=1`` computes everything in
this process. Only for a command's own process: a fork beside other threads
(``serve``) could inherit a lock held by one of them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from migrate.core.errors import BundleError

__all__ = ["Background", "BackgroundCheck", "forking_allowed"]

T = TypeVar("T")

_VALUE, _REFUSED = b"v", b"e"


def forking_allowed() -> bool:
    """Whether build work may go to a forked child (``FREIGHTLINER_BUILD_WORKERS=1``: no)."""
    return hasattr(os, "fork") and os.environ.get("FREIGHTLINER_BUILD_WORKERS", "") != "1"


class Background(Generic[T]):
    """``compute()`` in a forked child; :meth:`result` is its value.

    ``fallback`` (default ``compute``) gives the same value in this process when
    the child cannot: it must not depend on what the caller changed after the
    fork. Use as a context manager: leaving the block without :meth:`result`
    (an error or exit of the caller) stops the child.
    """

    def __init__(self, compute: Callable[[], T], fallback: Callable[[], T] | None = None) -> None:
        self._compute = compute
        self._fallback = fallback or compute
        self._pid: int | None = None
        self._read_fd: int | None = None

    def __enter__(self) -> Background[T]:
        if not forking_allowed():
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        # Frozen objects are left alone by the collector: the child's collections then do not
        # touch (and copy) every page of the parent's heap (a 10,000-policy check: 4.5 -> 3.8 s).
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            os.close(read_fd)
            os.close(write_fd)
            return self  # result() computes here
        if pid == 0:  # the child: compute, answer, and leave without the parent's exit handlers
            os.close(read_fd)
            self._child(write_fd)
        gc.unfreeze()
        os.close(write_fd)
        self._pid, self._read_fd = pid, read_fd
        return self

    def _child(self, write_fd: int) -> None:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about Ctrl-C
            try:
                answer = _VALUE + pickle.dumps(self._compute(), protocol=pickle.HIGHEST_PROTOCOL)
            except BundleError as exc:
                answer = _REFUSED + pickle.dumps((exc.message, exc.diagnostics))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(answer)
        except BaseException:  # no answer: the parent computes it itself
            code = 1
        finally:
            os._exit(code)

    def done(self) -> bool:
        """Whether :meth:`result` would return without waiting for the child (it answered,
        or died); True when there is no child."""
        if self._pid is None or self._read_fd is None:
            return True
        readable, _, _ = select.select([self._read_fd], [], [], 0)
        return bool(readable)

    def result(self) -> T:
        """The child's value (or the fallback's); its BundleError when it refused."""
        if self._pid is None:
            return self._fallback()
        assert self._read_fd is not None
        with os.fdopen(self._read_fd, "rb") as pipe:
            self._read_fd = None
            answer = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if os.waitstatus_to_exitcode(status) == 0 and answer[:1] == _VALUE:
            value: T = pickle.loads(answer[1:])  # our own child's answer
            return value
        if os.waitstatus_to_exitcode(status) == 0 and answer[:1] == _REFUSED:
            message, diagnostics = pickle.loads(answer[1:])
            raise BundleError(message, diagnostics)
        return self._fallback()  # no answer: compute here, with the real error if any

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
        if self._pid is not None:  # left without result(): stop the child
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None


class BackgroundCheck(Background[Any]):
    """A check (raises BundleError when the bundle is refused) run beside the caller;
    :meth:`wait` returns when it passed."""

    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__(check)
        self._waited = False

    def __enter__(self) -> BackgroundCheck:
        super().__enter__()
        return self

    def wait(self) -> None:
        """Return when the check passed; raise its BundleError otherwise."""
        if not self._waited:
            self._waited = True
            self.result()
