"""OpaHttpEngine: decisions from an OPA sidecar over its REST API.

* ``POST {url}/v1/data/freightliner/replication/decision`` with
  ``{"input": {"image": ..., "now": ...}}``; the batch rule
  ``.../decisions`` with ``{"input": {"images": [...], "now": ...}}``
  (chunks of ``batch_size`` images, one request each).
* One pooled ``httpx.Client`` (keep-alive connections shared by threads).
* ``timeout`` (the config's ``policy.evaluationTimeout``) bounds one decision
  *including* its retries; a batch of n images gets ``n * timeout`` (at most
  ``max(timeout, 60 s)``).
* Every transport, protocol or decoding error, timeout and 5xx is retried
  ``retries`` times with exponential backoff (``backoff``, doubling), then raises
  :class:`EngineUnavailable`; so does an answer that is not a JSON object.
  4xx raises :class:`EngineError` (not retried).
* Each answer carries the bundle revision OPA evaluated it with
  (``?provenance=true``): ``decide_traced`` / ``decide_many_traced``.
* HTTP 200 without ``result`` (undefined document) raises
  :class:`UndefinedDecision`: never read as "replicate".
* A :class:`CircuitBreaker` fails calls fast after ``circuit_failures``
  consecutive unavailable calls lasting ``circuit_window`` seconds, and lets
  ``circuit_trials`` trials through after ``circuit_reset``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from adapter.decision.circuit import CircuitBreaker
from adapter.decision.interface import DECISION_PATH, TracedDecisions
from adapter.registry.http import Retry, RetrySchedule, http_client, with_retries
from migrate.contract.decision import parse_decision
from migrate.contract.image import ImageMetadata
from migrate.contract.provenance import Provenance, Traced
from migrate.core.clock import now_rfc3339
from migrate.core.errors import EngineError, EngineUnavailable, UndefinedDecision

__all__ = ["BATCH_PATH", "OpaHttpEngine"]

#: The contract's batch document, as a data path.
BATCH_PATH = "freightliner/replication/decisions"
_log = logging.getLogger("freightliner.decision.opa")
_BATCH_CAP_SECONDS = 60.0


class OpaHttpEngine(TracedDecisions):
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
        circuit_window: float = 0.0,
        circuit_trials: int = 1,
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
        self.breaker = CircuitBreaker(
            circuit_failures, circuit_reset, clock, window=circuit_window, trials=circuit_trials
        )
        self._sleep = sleep
        self._clock = clock
        self._http = http_client(
            base_url=self.url,
            timeout=timeout,
            max_connections=max_connections,
            transport=transport,
            headers={"Content-Type": "application/json"},
        )
        self._lock = threading.Lock()
        #: Requests sent (attempts, retries included) and calls that ended unavailable.
        self.requests = 0
        self.unavailable = 0

    # -- DecisionEngine (decide, decide_many: TracedDecisions) ---------------
    def decide_traced(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> Traced:
        """The decision and the revision OPA reports with that very answer."""
        query: dict[str, Any] = {"image": image.as_input(), "now": now or now_rfc3339()}
        if explain:
            query["explain"] = True  # every candidate's condition lines (docs/contract.md)
        body = {"input": query}
        value, revision = self._query(DECISION_PATH, body, self.timeout)
        return parse_decision(value), Provenance("opa", revision)

    def decide_many_traced(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[Traced]:
        when = now or now_rfc3339()
        traced: list[Traced] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            budget = min(self.timeout * len(chunk), max(self.timeout, _BATCH_CAP_SECONDS))
            body = {"input": {"images": [i.as_input() for i in chunk], "now": when}}
            value, revision = self._query(BATCH_PATH, body, budget)
            if not isinstance(value, list) or len(value) != len(chunk):
                got = f"{len(value)} decisions" if isinstance(value, list) else type(value).__name__
                raise EngineError(
                    f"data.{BATCH_PATH.replace('/', '.')}: expected "
                    f"{len(chunk)} decisions, got {got}"
                )
            provenance = Provenance("opa", revision)
            traced.extend((parse_decision(v), provenance) for v in value)
        return traced

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
        return _join_revisions(
            {
                str(name): (b.get("manifest") or {}).get("revision", "")
                for name, b in bundles.items()
                if isinstance(b, dict)
            }
        )

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
    def _query(self, path: str, body: dict[str, Any], budget: float) -> tuple[Any, str]:
        """POST ``/v1/data/{path}?provenance=true``: the ``result`` value and the bundle
        revision OPA evaluated it with. Retries, deadline and breaker apply.

        Every transport error, timeout, 5xx and undecodable answer ends as
        :class:`EngineUnavailable` and counts as a breaker failure; an answer from OPA
        (4xx, undefined document) counts as a success. The breaker's ticket is settled in
        ``finally``, whatever is raised.
        """
        ticket = self.breaker.before_call()
        answered = False
        try:
            document = self._fetch(path, json.dumps(body).encode(), budget)
            answered = True
        except EngineUnavailable:
            with self._lock:
                self.unavailable += 1
            raise
        except EngineError:
            answered = True  # OPA answered (e.g. 4xx): not an outage
            raise
        finally:
            if answered:
                self.breaker.success(ticket)
            else:
                self.breaker.failure(ticket)
        rule = "data." + path.replace("/", ".")
        if "result" not in document:
            raise UndefinedDecision(f"{rule} is undefined (OPA answered without a result)")
        return document["result"], _provenance_revision(document)

    def _fetch(self, path: str, content: bytes, budget: float) -> dict[str, Any]:
        """The decoded answer document; EngineError for a 4xx, EngineUnavailable otherwise."""
        response = self._post_with_retries(path, content, budget)
        rule = "data." + path.replace("/", ".")
        if response.status_code != 200:
            raise EngineError(
                f"OPA rejected the query for {rule}: HTTP {response.status_code}"
                f"{_opa_error(response)}"
            )
        try:
            document = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EngineUnavailable(
                f"OPA at {self.url} answered {rule} with a body that is not JSON: {exc}"
            ) from exc
        if not isinstance(document, dict):
            raise EngineUnavailable(
                f"OPA at {self.url} answered {rule} with a {type(document).__name__}, not an object"
            )
        return document

    def _post_with_retries(self, path: str, content: bytes, budget: float) -> httpx.Response:
        """POST with the one retry helper: transport errors and 5xx are retried (``Retry-After``
        honoured, jitter), never past ``budget`` seconds from now."""
        deadline = self._clock() + budget
        schedule = RetrySchedule(
            attempts=self.retries + 1,
            initial=self.backoff,
            max_backoff=budget,
            max_retry_after=budget,
            max_total=budget,
        )

        def attempt() -> httpx.Response:
            left = deadline - self._clock()
            if left <= 0:
                raise httpx.TimeoutException("no time left")
            with self._lock:
                self.requests += 1
            return self._http.post(
                f"/v1/data/{path}",
                params={"provenance": "true"},
                content=content,
                timeout=httpx.Timeout(left),
            )

        try:
            response = with_retries(
                attempt,
                _opa_verdict,
                schedule,
                sleep=self._sleep,
                clock=self._clock,
                deadline=deadline,
            )
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(
                f"OPA at {self.url} unavailable: timed out after {budget:g}s"
            ) from exc
        except httpx.HTTPError as exc:  # transport, protocol and decoding errors alike
            raise EngineUnavailable(
                f"OPA at {self.url} unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        except (OSError, ValueError) as exc:  # below httpx (e.g. a socket error it let out)
            raise EngineUnavailable(
                f"OPA at {self.url} unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise EngineUnavailable(
                f"OPA at {self.url} unavailable: HTTP {response.status_code}{_opa_error(response)}"
            )
        return response


def _opa_verdict(outcome: httpx.Response | BaseException) -> Retry | None:
    """Retry transport errors and 5xx answers (OPA's 4xx are final)."""
    if isinstance(outcome, httpx.Response):
        return Retry(outcome.headers.get("Retry-After")) if outcome.status_code >= 500 else None
    return Retry() if isinstance(outcome, httpx.TransportError) else None


def _join_revisions(revisions: dict[str, Any]) -> str:
    """One bundle: its revision; several: ``name=revision`` comma-joined, sorted by name."""
    clean = {str(n): str(r) if r is not None else "" for n, r in revisions.items()}
    if len(clean) == 1:
        return next(iter(clean.values()))
    return ",".join(f"{n}={r}" for n, r in sorted(clean.items()))


def _provenance_revision(document: dict[str, Any]) -> str:
    """The bundle revision(s) of an answer's ``provenance`` (``""`` when absent)."""
    provenance = document.get("provenance")
    bundles = provenance.get("bundles") if isinstance(provenance, dict) else None
    if not isinstance(bundles, dict) or not bundles:
        return ""
    return _join_revisions(
        {n: b.get("revision", "") for n, b in bundles.items() if isinstance(b, dict)}
    )


def _opa_error(response: httpx.Response) -> str:
    """``: code: message`` from OPA's error body, when there is one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("code"):
        return f": {body['code']}: {body.get('message', '')}"
    return ""
