"""The circuit breaker and the failover are total (issue 14).

Before: an ``httpx.DecodingError`` in the half-open trial escaped ``OpaHttpEngine``
(only ``EngineUnavailable`` released the trial slot) and the circuit never closed again;
the same error escaped ``FailoverEngine`` (it caught ``EngineError`` only). And five
timeouts in a row under a burst of load opened the circuit for 30 s.

The faults come from a real loopback proxy in front of a real ``opa run --server``.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapter.decision.failover import FailoverEngine
from adapter.decision.opa_http import OpaHttpEngine
from migrate.bundle.builder import Bundle
from migrate.contract.provenance import Provenance
from migrate.core.errors import EngineUnavailable
from migrate.engine.embedded import EmbeddedEngine
from tests.fixtures.faults import FaultProxy
from tests.integration.adapter.decision.images import NOW, PROD_SCANNED

pytestmark = pytest.mark.opa

_DECISION = r"^/v1/data/freightliner/replication/decision$"


def _bad_gzip(proxy: FaultProxy, times: int = 1) -> None:
    """200 with ``Content-Encoding: gzip`` over a body that is not gzip: httpx.DecodingError."""
    proxy.fail(_DECISION, status=200, times=times, headers={"Content-Encoding": "gzip"})


@pytest.fixture
def proxied(opa_seed: Any) -> Any:
    proxy = FaultProxy(opa_seed)
    yield proxy
    proxy.stop()


def test_circuit_recovers_after_a_decoding_error(proxied: FaultProxy, seed_bundle: Bundle) -> None:
    clock = [100.0]
    engine = OpaHttpEngine(
        proxied.url,
        timeout=10.0,
        retries=0,
        circuit_failures=1,
        circuit_reset=5.0,
        circuit_trials=2,
        clock=lambda: clock[0],
    )
    with engine:
        _bad_gzip(proxied)
        with pytest.raises(EngineUnavailable, match=r"unavailable: DecodingError"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert engine.breaker.state == "open"
        clock[0] += 6.0
        _bad_gzip(proxied)
        with pytest.raises(EngineUnavailable, match=r"unavailable: DecodingError"):  # the trial
            engine.decide(PROD_SCANNED, now=NOW)
        assert (engine.breaker.state, engine.breaker.trials_in_flight) == ("open", 0)
        assert engine.breaker.opened == 2
        clock[0] += 6.0
        decision, provenance = engine.decide_traced(PROD_SCANNED, now=NOW)  # trial 1 of 2
        assert decision.outcome == "replicate"
        assert provenance == Provenance("opa", seed_bundle.revision)
        assert engine.breaker.state == "half-open"
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"  # trial 2 of 2
        assert (engine.breaker.state, engine.breaker.trials_in_flight) == ("closed", 0)
        assert engine.unavailable == 2


def test_a_burst_of_failures_does_not_open_the_circuit_a_lasting_run_does(
    proxied: FaultProxy,
) -> None:
    clock = [0.0]
    engine = OpaHttpEngine(
        proxied.url,
        timeout=10.0,
        retries=0,
        circuit_failures=3,
        circuit_window=2.0,
        circuit_reset=30.0,
        clock=lambda: clock[0],
    )
    with engine:
        proxied.fail(_DECISION, status=503, times=5)
        for _ in range(5):  # a busy moment: five failures at once
            with pytest.raises(EngineUnavailable, match="HTTP 503"):
                engine.decide(PROD_SCANNED, now=NOW)
        assert engine.breaker.state == "closed"
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"  # resets the run
        proxied.fail(_DECISION, status=503, times=4)
        for t in (10.0, 10.5, 11.0):  # three in a row, but only 1 s long
            clock[0] = t
            with pytest.raises(EngineUnavailable, match="HTTP 503"):
                engine.decide(PROD_SCANNED, now=NOW)
        assert engine.breaker.state == "closed"
        clock[0] = 12.0  # the fourth, 2 s after the run began: an outage
        with pytest.raises(EngineUnavailable, match="HTTP 503"):
            engine.decide(PROD_SCANNED, now=NOW)
        assert (engine.breaker.state, engine.breaker.opened) == ("open", 1)


def test_undecodable_answer_goes_through_failure_mode(
    proxied: FaultProxy, seed_bundle: Bundle
) -> None:
    embedded = EmbeddedEngine(seed_bundle.modules(), seed_bundle.data(), seed_bundle.revision)
    engine = FailoverEngine(
        OpaHttpEngine(proxied.url, timeout=10.0, retries=0), "embedded", embedded=embedded
    )
    try:
        _bad_gzip(proxied)
        decision, provenance = engine.decide_traced(PROD_SCANNED, now=NOW)
        assert provenance == Provenance("embedded", seed_bundle.revision)
        assert (decision.outcome, decision.metadata["fallback"]) == ("replicate", "embedded")
        assert decision.metadata["engine_error_type"] == "EngineUnavailable"
        assert engine.decide_traced(PROD_SCANNED, now=NOW)[1] == Provenance(
            "opa", seed_bundle.revision
        )
    finally:
        engine.close()


class _Broken:
    """An engine whose library raises outside the error tree (a stand-in for a library bug,
    which no real engine here can be made to produce on demand)."""

    revision = "r-broken"

    def decide(self, image: Any, now: str | None = None) -> Any:
        raise RuntimeError("regoruspy::Engine is unsendable")

    def decide_many(self, images: Any, now: str | None = None) -> Any:
        raise TypeError("unexpected")

    def close(self) -> None:
        pass


def test_failover_catches_anything_an_engine_raises(seed_bundle: Bundle) -> None:
    closed = FailoverEngine(_Broken(), "fail-closed")
    decision, provenance = closed.decide_traced(PROD_SCANNED, now=NOW)
    assert provenance == Provenance("fail-closed", "")
    assert (decision.should_replicate, decision.outcome) == (False, "block")
    assert decision.metadata["engine_error"] == (
        "the decision engine failed: RuntimeError: regoruspy::Engine is unsendable"
    )
    [(batch, batch_provenance)] = closed.decide_many_traced([PROD_SCANNED], now=NOW)
    assert (batch.outcome, batch_provenance.engine) == ("block", "fail-closed")
    embedded = EmbeddedEngine(seed_bundle.modules(), seed_bundle.data(), seed_bundle.revision)
    both_broken = FailoverEngine(_Broken(), "embedded", embedded=_Broken())  # type: ignore[arg-type]
    assert both_broken.decide(PROD_SCANNED, now=NOW).outcome == "block"
    rescued = FailoverEngine(_Broken(), "embedded", embedded=embedded)
    assert rescued.decide_traced(PROD_SCANNED, now=NOW)[1] == Provenance(
        "embedded", seed_bundle.revision
    )
    assert closed.counters["engine_error.EngineUnavailable"] == 2
