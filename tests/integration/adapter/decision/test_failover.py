"""Failure modes against a real OPA that is stopped or killed mid-test, a dead port,
and a bundle without the decision rule."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from adapter.config import FailureMode
from adapter.decision.failover import FailoverEngine
from adapter.decision.legacy import LEGACY_POLICY_ID, load_legacy_rules
from adapter.decision.opa_http import OpaHttpEngine
from migrate.bundle.builder import Bundle
from migrate.core.errors import ConfigError
from migrate.engine.embedded import EmbeddedEngine
from tests.integration.adapter.decision.images import DEV_SCANNED, NOW, PROD_SCANNED, PROD_UNSCANNED
from tests.integration.adapter.decision.test_opa_http import undefined_bundle

pytestmark = pytest.mark.opa

LEGACY_CONFIG = """\
replication:
  rules:
    - source_registry: local
      source_repository: "team/*"
      destination_registry: ecr
      destination_repository: "mirror/*"
      tag_filter: "prod-*"
"""


def _opa(url: str) -> OpaHttpEngine:
    return OpaHttpEngine(url, timeout=5.0, retries=1, backoff=0.01, circuit_failures=3)


def _failover(
    url: str, mode: FailureMode, seed_bundle: Bundle | None = None, config: Path | None = None
) -> FailoverEngine:
    embedded = (
        EmbeddedEngine(seed_bundle.modules(), seed_bundle.data(), seed_bundle.revision)
        if seed_bundle is not None
        else None
    )
    return FailoverEngine(_opa(url), mode, embedded=embedded, legacy=load_legacy_rules(config))


def _legacy_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(LEGACY_CONFIG)
    return path


def test_fail_closed_when_opa_is_killed_mid_run(
    opa_factory: Any, seed_bundle: Bundle, caplog: pytest.LogCaptureFixture
) -> None:
    running = opa_factory.start(seed_bundle)
    engine = _failover(running.url, "fail-closed")
    try:
        assert engine.decide(PROD_SCANNED, now=NOW).outcome == "replicate"
        running.kill()
        with caplog.at_level(logging.WARNING, "freightliner.decision.failover"):
            decision = engine.decide(PROD_SCANNED, now=NOW)
        assert decision.should_replicate is False
        assert decision.outcome == "block"
        assert decision.blocked is True
        assert decision.replications() == []
        assert decision.metadata["engine_error_type"] == "EngineUnavailable"
        assert decision.metadata["engine_error"].startswith(f"OPA at {running.url} unavailable: ")
        assert decision.metadata["failure_mode"] == "fail-closed"
        assert decision.reason.startswith(
            "blocked: decision engine failed (failure_mode fail-closed): OPA at "
        )
        assert decision.actions[0].parameters["reason"] == decision.reason
        assert engine.counters == {
            "primary_ok": 1,
            "engine_error": 1,
            "engine_error.EngineUnavailable": 1,
            "fallback.fail-closed": 1,
        }
        assert "failing closed" in caplog.text
    finally:
        engine.close()
        running.stop()


def test_fail_closed_batch_blocks_every_image(dead_url: str) -> None:
    with_engine = _failover(dead_url, "fail-closed")
    decisions = with_engine.decide_many([PROD_SCANNED, DEV_SCANNED], now=NOW)
    assert [d.outcome for d in decisions] == ["block", "block"]
    assert with_engine.counters["fallback.fail-closed"] == 2
    with_engine.close()


def test_fail_closed_on_undefined_decision(opa_factory: Any) -> None:
    running = opa_factory.start(undefined_bundle())
    engine = _failover(running.url, "fail-closed")
    try:
        decision = engine.decide(PROD_SCANNED, now=NOW)
        assert decision.outcome == "block"
        assert decision.metadata["engine_error_type"] == "UndefinedDecision"
        assert decision.reason == (
            "blocked: decision engine failed (failure_mode fail-closed): "
            "data.freightliner.replication.decision is undefined (OPA answered without a result)"
        )
    finally:
        engine.close()
        running.stop()


def test_fail_open_uses_the_legacy_rules(
    opa_factory: Any, seed_bundle: Bundle, tmp_path: Path
) -> None:
    running = opa_factory.start(seed_bundle)
    engine = _failover(running.url, "fail-open", config=_legacy_config(tmp_path))
    try:
        # OPA up: the policies decide (the unscanned image is blocked).
        assert engine.decide(PROD_UNSCANNED, now=NOW).outcome == "block"
        running.stop()  # SIGTERM mid-run
        decision = engine.decide(PROD_UNSCANNED, now=NOW)
        assert decision.should_replicate is True
        assert decision.outcome == "replicate"
        assert [
            (a.target_registry, a.target_repo, a.target_tag, a.policy_ids) for a in decision.actions
        ] == [("ecr", "mirror/app", "prod-v1.0.1", [LEGACY_POLICY_ID])]
        assert decision.reason == (
            "replicate to ecr/mirror/app:prod-v1.0.1 (legacy replication rules)"
        )
        assert decision.metadata["fallback"] == "legacy"
        assert decision.metadata["failure_mode"] == "fail-open"
        assert decision.metadata["engine_error_type"] == "EngineUnavailable"
        no_match = engine.decide(DEV_SCANNED, now=NOW)
        assert (no_match.outcome, no_match.should_replicate) == ("no_match", False)
        assert engine.counters["fallback.legacy"] == 2
    finally:
        engine.close()


def test_fail_open_without_legacy_rules_fails_closed_and_says_so(dead_url: str) -> None:
    engine = _failover(dead_url, "fail-open")
    decision = engine.decide(PROD_SCANNED, now=NOW)
    assert decision.outcome == "block"
    assert decision.reason.startswith(
        "blocked: decision engine failed and failure_mode fail-open has no legacy replication "
        "rules to fall back to: OPA at "
    )
    assert decision.metadata["fallback"] == "fail-closed"
    assert decision.metadata["failure_mode"] == "fail-open"
    engine.close()


def test_embedded_mode_decides_like_opa(opa_factory: Any, seed_bundle: Bundle) -> None:
    running = opa_factory.start(seed_bundle)
    engine = _failover(running.url, "embedded", seed_bundle)
    try:
        images = [PROD_SCANNED, PROD_UNSCANNED, DEV_SCANNED]
        before = engine.decide_many(images, now=NOW)
        running.kill()
        after = engine.decide_many(images, now=NOW)
        assert [d.metadata["fallback"] for d in after] == ["embedded"] * 3
        strip = {"failure_mode", "fallback", "engine_error", "engine_error_type"}
        assert [
            {**d.model_dump(), "metadata": {k: v for k, v in d.metadata.items() if k not in strip}}
            for d in after
        ] == [d.model_dump() for d in before]
        assert engine.counters["fallback.embedded"] == 3
    finally:
        engine.close()


def test_embedded_mode_with_an_undefined_bundle_fails_closed(dead_url: str) -> None:
    bundle = undefined_bundle()
    engine = FailoverEngine(
        _opa(dead_url), "embedded", embedded=EmbeddedEngine(bundle.modules(), bundle.data())
    )
    decision = engine.decide(PROD_SCANNED, now=NOW)
    assert decision.outcome == "block"
    assert "the embedded fallback failed too" in decision.reason
    engine.close()


def test_embedded_mode_needs_an_embedded_engine(dead_url: str) -> None:
    with pytest.raises(ConfigError, match="needs a bundle"):
        FailoverEngine(_opa(dead_url), "embedded")


def test_legacy_rules_absent_or_malformed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("policy:\n  enabled: true\n")
    assert load_legacy_rules(plain) is None
    assert load_legacy_rules(None) is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("replication:\n  rules:\n    - source_registry: local\n")
    with pytest.raises(ConfigError):
        load_legacy_rules(bad)
