"""The one progress facility: silent under 2 s, a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from migrate.core.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(clock: Clock, tty: bool, **options: object) -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    progress = Progress("images", stream=stream, tty=tty, clock=clock, **options)  # type: ignore[arg-type]
    return progress, stream


def test_a_terminal_gets_a_bar_after_two_seconds() -> None:
    clock = Clock()
    progress, stream = _progress(clock, tty=True)
    progress.total(4)
    progress.advance()
    assert stream.getvalue() == ""  # short work says nothing
    clock.now += 2.5
    progress.advance()
    assert stream.getvalue() == "\r\x1b[Kimages: [############------------] 2/4 (2.5s)"
    progress.echo("replicated local/a:v1 -> mirror/a:v1")  # printed above the bar
    assert stream.getvalue().endswith("\r\x1b[K")
    progress.advance(2)
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[Kimages: [########################] 4/4 (2.5s)\n")


def test_not_a_terminal_gets_log_lines_at_each_step_and_every_5_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="freightliner.progress")
    clock = Clock()
    progress, stream = _progress(clock, tty=False)
    progress.step("loading policies")
    clock.now += 2.0
    progress.step("compiling")
    progress.step("compiling")  # the same step: not again until 5 s later
    clock.now += 1.0
    progress.tick(force=False)
    clock.now += 5.0
    progress.tick(force=False)
    progress.close()
    assert stream.getvalue() == ""  # nothing written on the stream itself
    assert [r.getMessage() for r in caplog.records] == [
        "images: compiling (2.0s)",
        "images: compiling (8.0s)",
        "images: done (8.0s)",
    ]


def test_quiet_and_no_progress_show_nothing_and_progress_shows_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="freightliner.progress")
    clock = Clock()
    for options in ({"quiet": True}, {"flag": False}):
        progress, stream = _progress(clock, tty=True, **options)
        clock.now += 10
        progress.step("x")
        progress.close()
        assert stream.getvalue() == ""
    progress, _ = _progress(clock, tty=False, flag=True)
    progress.step("loading")
    progress.close()
    assert [r.getMessage() for r in caplog.records] == [
        "images: loading (0.0s)",
        "images: done (0.0s)",
    ]
