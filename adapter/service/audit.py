"""Structured logs: JSON log lines, the decision audit log and the policy change log.

Audit log (JSONL, one line per decision)::

    {"decision_id", "time", "source": "evaluate|replicate|sweep", "image": {...},
     "input_digest": "sha256:..." (of the canonical input JSON), "matched_policies",
     "actions", "outcome", "engine": "opa|embedded|legacy|fail-closed",
     "bundle_revision" (of that engine's bundle; "" for legacy and fail-closed),
     "execution": {...} | null}

Change log (JSONL, one line per published revision)::

    {"revision", "previous_revision", "time", "files_changed": [...], "policies": [...]}

The canonical input JSON is ``json.dumps(input, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` of ``{"image": ..., "now": ...}``: the exact document the
engine evaluated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from migrate.core.clock import now_rfc3339, rfc3339

__all__ = [
    "AuditLog",
    "JsonFormatter",
    "JsonlWriter",
    "canonical_json",
    "configure_logging",
    "input_digest",
    "new_decision_id",
]


def new_decision_id() -> str:
    return str(uuid.uuid4())


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def input_digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of an engine input."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


class JsonlWriter:
    """Appends JSON lines to a file (nowhere when ``path`` is None); thread-safe."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class AuditLog(JsonlWriter):
    """The decision audit log."""

    def decision(
        self,
        *,
        decision_id: str,
        source: str,
        engine_input: dict[str, Any],
        decision: dict[str, Any] | None,
        bundle_revision: str,
        engine: str,
        execution: dict[str, Any] | None = None,
        error: str = "",
    ) -> None:
        record: dict[str, Any] = {
            "kind": "decision",
            "decision_id": decision_id,
            "time": now_rfc3339(),
            "source": source,
            "image": engine_input.get("image"),
            "input_digest": input_digest(engine_input),
            "matched_policies": (decision or {}).get("matched_policies", []),
            "actions": (decision or {}).get("actions", []),
            "outcome": ((decision or {}).get("metadata") or {}).get(
                "outcome", "error" if error else ""
            ),
            "engine": engine,
            "bundle_revision": bundle_revision,
            "execution": execution,
        }
        if error:
            record["error"] = error
        self.write(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg, ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": rfc3339(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str)


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr, and nothing else on stderr.

    The service's and uvicorn's loggers at ``level``; every other logger (libraries)
    through the root logger at warning; Python warnings through logging; and the
    interpreter's own printers - uncaught exceptions in the main thread and in other
    threads, and "Exception ignored in" errors raised in destructors - replaced by
    hooks that log one JSON record (the traceback in its ``exception`` field).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("freightliner", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable


_crash_log = logging.getLogger("freightliner.crash")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    _crash_log.critical(
        "uncaught exception", exc_info=(kind, value, tb), extra={"fields": {"event": "uncaught"}}
    )


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    _crash_log.error(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
        extra={
            "fields": {
                "event": "thread_exception",
                "thread": args.thread.name if args.thread else "",
            }
        },
    )


def _log_unraisable(args: Any) -> None:
    # sys.UnraisableHookArgs: an exception Python could not raise (e.g. in a destructor)
    exc_info = (
        (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    )
    _crash_log.error(
        "exception ignored",
        exc_info=exc_info,
        extra={
            "fields": {
                "event": "unraisable",
                "context": args.err_msg or "Exception ignored in",
                "object": repr(args.object),
            }
        },
    )
