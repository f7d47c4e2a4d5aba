"""One line from an embedded-engine (regorus) error.

regorus raises ``RuntimeError`` whose text may carry a source excerpt
(``--> file:line:col``, ``|`` gutter lines) and a Rust "Stack backtrace" of
a hundred lines or more; users get one line: the error itself, and where in
the bundle when regorus says.
"""

from __future__ import annotations

__all__ = ["engine_message"]


def engine_message(exc: BaseException, limit: int = 500) -> str:
    """The one-line form of an embedded-engine error."""
    text = str(exc).split("Stack backtrace:")[0]
    where = ""
    parts: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("-->"):
            where = line.removeprefix("-->").strip()
        elif line.startswith("|") or (line[:1].isdigit() and " | " in line):
            continue  # the excerpt's gutter and source lines
        else:
            parts.append(line.removeprefix("error: "))
    message = "; ".join(parts) or type(exc).__name__
    if where:
        message = f"{message} (at {where})"
    return message if len(message) <= limit else message[: limit - 1] + "…"
