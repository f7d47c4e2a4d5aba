"""OpaHttpEngine: decisions from an OPA sidecar over its REST API.

* ``POST {url}/v1/data/freightliner/replication/decision`` with
  ``{"input": {"image": ..., "now": ...}}``; the batch rule
  ``.../decisions`` with ``{"input": {"images": [...], "now": ...}}``
  (chunks of ``batch_size`` images, one request each).
* One pooled ``httpx.Client`` (keep-alive connections shared by threads).
* ``timeout`` (the config's ``policy.evaluationTimeout``) bounds one decision
  *including* its retries; a batch of n images gets ``n * timeout`` (at most
  ``max(timeout, 60 s)``).
* Connection errors, timeouts and 5xx are retried ``retries`` times with
  exponential backoff (``backoff``, doubling), then raise
  :class:`EngineUnavailable`. 4xx raises :class:`EngineError` (not retried).
* HTTP 200 without ``result`` (undefined document) raises
  :class:`UndefinedDecision`: never read as "replicate".
* A :class:`CircuitBreaker` fails calls fast after ``circuit_failures``
  consecutive unavailable calls, and lets a trial through after ``circuit_reset``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from adapter.decision.circuit import CircuitBreaker
from adapter.decision.embedded import now_rfc3339
from adapter.decision.interface import DECISION_PATH
from adapter.decision.model import ReplicationDecision
from adapter.errors import EngineError, EngineUnavailable, UndefinedDecision
from adapter.metadata.model import ImageMetadata

__all__ = ["BATCH_PATH", "OpaHttpEngine"]

#: The contract's batch document, as a data path.
BATCH_PATH = "freightliner/replication/decisions"
_log = logging.getLogger("freightliner.decision.opa")
_BATCH_CAP_SECONDS = 60.0


class OpaHttpEngine:
    """A DecisionEngine backed by ``opa run --server``; safe to share between threads."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.1,
        retries: int = 2,
        backoff: float = 0.05,
        circuit_failures: int = 5,
        circuit_reset: float = 30.0,
        batch_size: int = 100,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.breaker = CircuitBreaker(circuit_failures, circuit_reset, clock)
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            headers={"User-Agent": "freightliner-policy", "Content-Type": "application/json"},
        )
        self._lock = threading.Lock()
        #: Requests sent (attempts, retries included) and calls that ended unavailable.
        self.requests = 0
        self.unavailable = 0

    # -- DecisionEngine ------------------------------------------------------
    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        query: dict[str, Any] = {"image": image.as_input(), "now": now or now_rfc3339()}
        if explain:
            query["explain"] = True  # every candidate's condition lines (docs/contract.md)
        body = {"input": query}
        return _parse(self._query(DECISION_PATH, body, self.timeout))

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        when = now or now_rfc3339()
        decisions: list[ReplicationDecision] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            budget = min(self.timeout * len(chunk), max(self.timeout, _BATCH_CAP_SECONDS))
            body = {"input": {"images": [i.as_input() for i in chunk], "now": when}}
            value = self._query(BATCH_PATH, body, budget)
            if not isinstance(value, list) or len(value) != len(chunk):
                got = f"{len(value)} decisions" if isinstance(value, list) else type(value).__name__
                raise EngineError(
                    f"data.{BATCH_PATH.replace('/', '.')}: expected "
                    f"{len(chunk)} decisions, got {got}"
                )
            decisions.extend(_parse(v) for v in value)
        return decisions

    @property
    def revision(self) -> str:
        """The active bundles' revisions (``name=revision``, comma-joined; one bundle: just
        the revision); ``""`` when OPA does not report any or cannot be reached."""
        try:
            response = self._http.get("/v1/data/system/bundles", timeout=max(self.timeout, 1.0))
            bundles = response.json().get("result") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return ""
        if not isinstance(bundles, dict):
            return ""
        revisions = {
            str(name): str((b.get("manifest") or {}).get("revision", ""))
            for name, b in bundles.items()
            if isinstance(b, dict)
        }
        if len(revisions) == 1:
            return next(iter(revisions.values()))
        return ",".join(f"{n}={r}" for n, r in sorted(revisions.items()))

    def ready(self) -> bool:
        """``GET /health?bundles``: OPA is up and every configured bundle is activated."""
        try:
            response = self._http.get(
                "/health", params={"bundles": ""}, timeout=max(self.timeout, 1.0)
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def wait_ready(self, timeout: float) -> bool:
        """Poll :meth:`ready` until true or ``timeout`` seconds passed."""
        deadline = self._clock() + timeout
        while True:
            if self.ready():
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(0.05)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpaHttpEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpaHttpEngine({self.url!r})"

    # -- transport -----------------------------------------------------------
    def _query(self, path: str, body: dict[str, Any], budget: float) -> Any:
        """POST ``/v1/data/{path}``; the ``result`` value. Retries, deadline and breaker apply."""
        self.breaker.before_call()
        try:
            response = self._post_with_retries(path, json.dumps(body).encode(), budget)
        except EngineUnavailable:
            self.breaker.failure()
            with self._lock:
                self.unavailable += 1
            raise
        self.breaker.success()
        rule = "data." + path.replace("/", ".")
        if response.status_code != 200:
            raise EngineError(
                f"OPA rejected the query for {rule}: HTTP {response.status_code}"
                f"{_opa_error(response)}"
            )
        try:
            document = response.json()
        except ValueError:
            raise EngineError(f"OPA answered {rule} with a body that is not JSON") from None
        if not isinstance(document, dict) or "result" not in document:
            raise UndefinedDecision(f"{rule} is undefined (OPA answered without a result)")
        return document["result"]

    def _post_with_retries(self, path: str, content: bytes, budget: float) -> httpx.Response:
        deadline = self._clock() + budget
        attempts = self.retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            left = deadline - self._clock()
            if left <= 0:
                problem = problem or "no time left"
                break
            with self._lock:
                self.requests += 1
            try:
                response = self._http.post(
                    f"/v1/data/{path}", content=content, timeout=httpx.Timeout(left)
                )
            except httpx.TimeoutException:
                problem = f"timed out after {budget:g}s"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}{_opa_error(response)}"
            _log.debug("OPA %s attempt %d/%d failed: %s", self.url, attempt, attempts, problem)
            if attempt < attempts:
                pause = min(self.backoff * 2 ** (attempt - 1), max(deadline - self._clock(), 0))
                if pause > 0:
                    self._sleep(pause)
        raise EngineUnavailable(f"OPA at {self.url} unavailable: {problem}")


def _opa_error(response: httpx.Response) -> str:
    """``: code: message`` from OPA's error body, when there is one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("code"):
        return f": {body['code']}: {body.get('message', '')}"
    return ""


def _parse(value: Any) -> ReplicationDecision:
    try:
        return ReplicationDecision.model_validate(value)
    except ValidationError as exc:
        raise EngineError(f"the decision document does not match the contract: {exc}") from None
