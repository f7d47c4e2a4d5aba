"""Exit codes of every freightliner command (docs/cli.md)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected failure
    USAGE = 2  # bad command line (click's own code)
    INVALID_INPUT = 3  # malformed policy, legacy rule, config or image file
    TEST_FAILURE = 4  # policy tests failed / migration mismatches found
    BLOCKED = 5  # the decision blocks the image (or any image of a sweep)
    UNAVAILABLE = 6  # decision engine or registry unreachable, credentials rejected
    PARTIAL = 7  # some replications or notifications of a run failed
    INTERRUPTED = 130  # SIGINT/SIGTERM: no new copy started, copies in flight finished
