"""OpaHttpEngine against real ``opa run --server`` processes (and a fault proxy in front)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from adapter.decision.opa_http import OpaHttpEngine
from migrate.bundle.builder import Bundle
from migrate.core.errors import EngineError, EngineUnavailable, UndefinedDecision
from migrate.engine.embedded import EmbeddedEngine
from tests.integration.adapter.decision.images import (
    ALL,
    DEV_SCANNED,
    NOW,
    PROD_SCANNED,
    PROD_UNSCANNED,
)

pytestmark = pytest.mark.opa


def _engine(url: str, **options: Any) -> OpaHttpEngine:
    options.setdefault("timeout", 10.0)
    options.setdefault("backoff", 0.01)
    return OpaHttpEngine(url, **options)


def undefined_bundle() -> Bundle:
    """A bundle with the freightliner root but no decision rule."""
    files = {
        ".manifest": json.dumps({"revision": "no-decision-1", "roots": ["freightliner"]}).encode(),
        "data.json": b'{"freightliner": {"policy_set": {"policies": {}}}}',
        "freightliner/other/other.rego": b"package freightliner.other\n\nanswer := 42\n",
    }
    return Bundle(files=files, revision="no-decision-1")


def test_decide_replicates_a_scanned_prod_image(opa_seed: Any) -> None:
    with _engine(opa_seed.url) as engine:
        decision = engine.decide(PROD_SCANNED, now=NOW)
    assert decision.should_replicate is True
    assert decision.outcome == "replicate"
    assert decision.matched_policies == ["production-replication"]
    assert [(a.type, a.target_registry, a.target_repo, a.target_tag) for a in decision.actions] == [
        ("replicate", "ecr", "production/team/app", "prod-v1.0.0"),
        ("replicate", "gcr", "prod-mirror/team/app", "prod-v1.0.0"),
    ]
    assert decision.reason == (
        "replicate to ecr/production/team/app:prod-v1.0.0, "
        "gcr/prod-mirror/team/app:prod-v1.0.0 "
        "(policies: production-replication)"
    )


def test_decide_blocks_an_unscanned_image(opa_seed: Any) -> None:
    with _engine(opa_seed.url) as engine:
        decision = engine.decide(PROD_UNSCANNED, now=NOW)
    assert decision.should_replicate is False
    assert decision.outcome == "block"
    assert decision.reason == "Missing security scan"
    assert decision.matched_policies == ["compliance-blocking", "production-replication"]
    assert [(a.type, a.parameters) for a in decision.actions] == [
        ("block", {"reason": "Missing security scan"})
    ]


def test_batch_equals_single_decisions_in_input_order(opa_seed: Any) -> None:
    with _engine(opa_seed.url, batch_size=3) as engine:
        batch = engine.decide_many(ALL, now=NOW)
        singles = [engine.decide(i, now=NOW) for i in ALL]
        assert engine.decide_many([], now=NOW) == []
    assert batch == singles
    assert [d.outcome for d in batch] == [
        "replicate",
        "block",
        "no_match",
        "no_match",
        "block",
        "replicate",
        "no_match",
        "replicate",
    ]


def test_http_and_embedded_engines_agree(opa_seed: Any, seed_bundle: Bundle) -> None:
    embedded = EmbeddedEngine(seed_bundle.modules(), seed_bundle.data(), seed_bundle.revision)
    with _engine(opa_seed.url) as engine:
        over_http = engine.decide_many(ALL, now=NOW)
        assert engine.revision == seed_bundle.revision == embedded.revision
    assert [d.model_dump() for d in over_http] == [
        d.model_dump() for d in embedded.decide_many(ALL, now=NOW)
    ]


def test_ready_and_revision(opa_seed: Any, dead_url: str, seed_bundle: Bundle) -> None:
    with _engine(opa_seed.url) as up, _engine(dead_url) as down:
        assert up.ready() is True
        assert up.revision == seed_bundle.revision
        assert down.ready() is False
        assert down.revision == ""
        assert down.wait_ready(0.2) is False


def test_undefined_decision_is_an_error_never_replicate(opa_factory: Any) -> None:
    running = opa_factory.start(undefined_bundle())
    try:
        with _engine(running.url) as engine:
            with pytest.raises(
                UndefinedDecision, match=r"data\.freightliner\.replication\.decision is undefined"
            ):
                engine.decide(PROD_SCANNED, now=NOW)
            with pytest.raises(
                UndefinedDecision, match=r"data\.freightliner\.replication\.decisions is undefined"
            ):
                engine.decide_many([PROD_SCANNED], now=NOW)
            assert engine.breaker.state == "closed"  # OPA answered: not an outage
            assert engine.revision == "no-decision-1"
    finally:
        running.stop()


def test_nothing_listening_is_unavailable_after_retries(dead_url: str) -> None:
    with _engine(dead_url, retries=2) as engine:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match=r"unavailable: ConnectError"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert time.monotonic() - started < 5
        assert engine.requests == 3
        assert engine.unavailable == 1


def test_retries_5xx_then_succeeds(opa_seed: Any, fault_proxy_factory: Any) -> None:
    proxy = fault_proxy_factory(opa_seed)
    proxy.fail(r"/v1/data/freightliner/replication/decision$", status=503, times=2)
    with _engine(proxy.url, retries=2) as engine:
        decision = engine.decide(PROD_SCANNED, now=NOW)
        assert engine.requests == 3
    assert decision.outcome == "replicate"
    statuses = [r.status for r in proxy.requests("POST")]
    assert statuses == [503, 503, 200]


def test_retry_after_of_a_503_is_honoured_within_the_budget(
    opa_seed: Any, fault_proxy_factory: Any
) -> None:
    proxy = fault_proxy_factory(opa_seed)
    proxy.fail(
        r"/v1/data/freightliner/replication/decision$", status=503, headers={"Retry-After": "1"}
    )
    sleeps: list[float] = []
    with _engine(proxy.url, retries=2, sleep=sleeps.append) as engine:
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 1.1  # the server's wait, plus <= 10 % jitter
    with _engine(proxy.url, timeout=0.5, retries=2, sleep=sleeps.append) as engine:
        proxy.fail(
            r"/v1/data/freightliner/replication/decision$", status=503, headers={"Retry-After": "5"}
        )
        with pytest.raises(EngineUnavailable, match="HTTP 503"):
            engine.decide(PROD_SCANNED, now=NOW)  # 5 s would cross the 0.5 s budget: no wait
    assert len(sleeps) == 1


def test_5xx_beyond_retries_is_unavailable(opa_seed: Any, fault_proxy_factory: Any) -> None:
    proxy = fault_proxy_factory(opa_seed)
    proxy.fail(r"/v1/data/", status=500, times=10)
    with _engine(proxy.url, retries=1) as engine:
        with pytest.raises(EngineUnavailable, match=r"HTTP 500"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert engine.requests == 2


def test_4xx_is_an_engine_error_not_retried(opa_seed: Any, fault_proxy_factory: Any) -> None:
    proxy = fault_proxy_factory(opa_seed)
    proxy.fail(r"/v1/data/", status=400, times=5)
    with _engine(proxy.url, retries=3) as engine:
        with pytest.raises(EngineError, match=r"HTTP 400") as caught:
            engine.decide(DEV_SCANNED, now=NOW)
        assert not isinstance(caught.value, EngineUnavailable)
        assert engine.requests == 1
        assert engine.breaker.state == "closed"


def test_timeout_bounds_the_whole_decision(opa_seed: Any) -> None:
    # 1 ms cannot be met by any HTTP round trip: every attempt times out, within the budget.
    with _engine(opa_seed.url, timeout=0.001, retries=5) as engine:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match=r"timed out after 0.001s|no time left"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert time.monotonic() - started < 1.0


def test_circuit_opens_fails_fast_and_recovers(opa_factory: Any, seed_bundle: Bundle) -> None:
    running = opa_factory.start(seed_bundle)
    clock = [1000.0]
    engine = _engine(
        running.url, retries=0, circuit_failures=2, circuit_reset=30.0, clock=lambda: clock[0]
    )
    try:
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"
        running.kill()
        for _ in range(2):
            with pytest.raises(EngineUnavailable, match="ConnectError"):
                engine.decide(PROD_SCANNED, now=NOW)
        assert engine.breaker.state == "open"
        sent = engine.requests
        with pytest.raises(EngineUnavailable, match=r"circuit open after 2 consecutive failures"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert engine.requests == sent  # failed fast: nothing sent
        running.restart()
        clock[0] += 31.0
        assert engine.breaker.state == "half-open"
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"  # the trial call
        assert engine.breaker.state == "closed"
        assert engine.breaker.opened == 1 and engine.breaker.rejected == 1
    finally:
        engine.close()
        running.stop()


def test_half_open_trial_failure_reopens(dead_url: str) -> None:
    clock = [0.0]
    with _engine(
        dead_url, retries=0, circuit_failures=1, circuit_reset=5.0, clock=lambda: clock[0]
    ) as engine:
        with pytest.raises(EngineUnavailable, match="ConnectError"):
            engine.decide(PROD_SCANNED, now=NOW)
        clock[0] = 6.0
        with pytest.raises(EngineUnavailable, match="ConnectError"):  # the trial
            engine.decide(PROD_SCANNED, now=NOW)
        assert engine.breaker.state == "open"
        assert engine.breaker.opened == 2
        with pytest.raises(EngineUnavailable, match="circuit open"):
            engine.decide(PROD_SCANNED, now=NOW)


def test_injected_transport_and_malformed_documents() -> None:
    answers = iter(
        [
            httpx.Response(200, json={"result": {"should_replicate": "maybe"}}),
            httpx.Response(200, json={"result": [1]}),
            httpx.Response(200, content=b"not json"),
        ]
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    with OpaHttpEngine(
        "http://opa.invalid:8181", timeout=5.0, transport=httpx.MockTransport(handler)
    ) as engine:
        with pytest.raises(EngineError, match="does not match the contract"):
            engine.decide(PROD_SCANNED, now=NOW)
        with pytest.raises(EngineError, match="expected 2 decisions, got 1 decisions"):
            engine.decide_many([PROD_SCANNED, DEV_SCANNED], now=NOW)
        with pytest.raises(EngineError, match="not JSON"):
            engine.decide(PROD_SCANNED, now=NOW)
    assert seen[0].url.path == "/v1/data/freightliner/replication/decision"
    assert json.loads(seen[0].content) == {"input": {"image": PROD_SCANNED.as_input(), "now": NOW}}
    assert seen[1].url.path == "/v1/data/freightliner/replication/decisions"
    assert json.loads(seen[1].content)["input"]["images"] == [
        PROD_SCANNED.as_input(),
        DEV_SCANNED.as_input(),
    ]
