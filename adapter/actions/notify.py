"""``notify``: POST a JSON event about a decision to a webhook.

The event::

    {"event": "freightliner.decision",
     "image": ImageMetadata,
     "decision": {"outcome": ..., "reason": ..., "matched_policies": [...]},
     "policy_ids": [...],          # the policies that asked for this notification
     "time": "2026-11-23T12:00:00.000000Z"}

Each POST has ``timeout`` seconds; connection errors, timeouts, 429 and 5xx
are retried ``retries`` times with exponential backoff. Any other status
≥ 300 fails at once. A failure raises :class:`ActionError`; it is logged and
counted (:attr:`WebhookNotifier.failed`) by the caller and never undoes a
replication.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.clock import now_rfc3339
from migrate.core.errors import ActionError

__all__ = ["EVENT_TYPE", "WebhookNotifier", "decision_event"]

EVENT_TYPE = "freightliner.decision"
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_log = logging.getLogger("freightliner.actions.notify")


def decision_event(
    image: ImageMetadata,
    decision: ReplicationDecision,
    policy_ids: list[str],
    time_text: str | None = None,
) -> dict[str, Any]:
    """The JSON event sent for ``decision`` about ``image``."""
    return {
        "event": EVENT_TYPE,
        "image": image.as_input(),
        "decision": {
            "outcome": decision.outcome,
            "reason": decision.reason,
            "matched_policies": list(decision.matched_policies),
        },
        "policy_ids": list(policy_ids),
        "time": time_text or now_rfc3339(),
    }


class WebhookNotifier:
    """Sends events over one pooled client; safe to share between threads."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": "freightliner-policy"},
        )
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def send(self, url: str, event: dict[str, Any]) -> None:
        """POST ``event`` to ``url``; ActionError after the last failed attempt."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self._failed(url, "not an http(s) URL")
        body = json.dumps(event, sort_keys=True).encode()
        attempts = self.retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout:g}s"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    with self._lock:
                        self.sent += 1
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code not in _RETRYABLE:
                    break
            if attempt < attempts:
                self._sleep(self.backoff * 2 ** (attempt - 1))
        self._failed(url, f"{problem} (after {attempt} attempt(s))")

    def _failed(self, url: str, problem: str) -> None:
        with self._lock:
            self.failed += 1
        _log.warning("notification to %s failed: %s", url, problem)
        raise ActionError(f"notification to {url} failed: {problem}")

    def close(self) -> None:
        self._http.close()
