"""Structured logs: JSON log lines, the decision audit log and the policy change log.

Audit log (JSONL, one line per decision)::

    {"decision_id", "time", "source": "evaluate|replicate|sweep", "image": {...},
     "input_digest": "sha256:..." (of the canonical input JSON), "matched_policies",
     "actions", "outcome", "bundle_revision", "execution": {...} | null}

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
    """JSON lines on stderr for the service's and uvicorn's loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("freightliner", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
