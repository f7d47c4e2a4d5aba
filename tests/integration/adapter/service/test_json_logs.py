"""Everything ``serve`` prints is a JSON record: the interpreter's own tracebacks included
(issue 14: about 132 traceback lines per reload on stderr, once inside a JSON record)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    """
    import gc, logging, threading, warnings
    from adapter.service.audit import configure_logging

    configure_logging("info")

    class Unsendable:
        def __del__(self):
            raise RuntimeError("dropped on another thread")

    def crash():
        raise ValueError("boom in a thread")

    t = threading.Thread(target=crash, name="worker-1")
    t.start(); t.join()
    Unsendable(); gc.collect()
    warnings.warn("a library warning")
    logging.getLogger("httpx").warning("a library log line")
    raise KeyError("uncaught in main")
    """
)


def test_tracebacks_warnings_and_library_logs_are_json_lines(repo_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, cwd=repo_root
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    records = [json.loads(line) for line in proc.stderr.splitlines()]  # each line is JSON
    assert [(r["level"], r.get("event", ""), r["msg"]) for r in records] == [
        ("error", "thread_exception", "uncaught exception in a thread"),
        ("error", "unraisable", "exception ignored"),
        ("warning", "", records[2]["msg"]),
        ("warning", "", "a library log line"),
        ("critical", "uncaught", "uncaught exception"),
    ]
    assert records[0]["thread"] == "worker-1"
    assert "ValueError: boom in a thread" in records[0]["exception"]
    assert "RuntimeError: dropped on another thread" in records[1]["exception"]
    assert "a library warning" in records[2]["msg"]
    assert "KeyError: 'uncaught in main'" in records[4]["exception"]
