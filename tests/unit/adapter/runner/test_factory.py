"""Engine selection from the config file and options; examples/config.yaml stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.cli.common import load_bundle
from adapter.config import FreightlinerConfig
from adapter.decision.legacy import LegacyRulesEngine
from adapter.decision.opa_http import OpaHttpEngine
from adapter.runner.factory import build_engine, build_runtime
from migrate.core.errors import ConfigError
from migrate.engine.embedded import EmbeddedEngine


def test_examples_config_builds_an_embedded_runtime(repo_root: Path) -> None:
    path = repo_root / "examples" / "config.yaml"
    config = FreightlinerConfig.load(path)
    runtime = build_runtime(
        config, config_path=path, bundle=lambda: load_bundle((path,), generate_tests=False)
    )
    with runtime:
        assert isinstance(runtime.engine.primary, EmbeddedEngine)
        assert runtime.engine.mode == "fail-closed"
        assert sorted(runtime.clients) == ["ecr", "gcr", "local"]
        assert runtime.replicator.max_concurrency == 8


def test_opa_url_and_failure_modes(repo_root: Path, tmp_path: Path) -> None:
    path = repo_root / "examples" / "config.yaml"
    config = FreightlinerConfig.load(path)

    def bundle() -> object:
        return load_bundle((path,), generate_tests=False)

    engine = build_engine(config, opa_url="http://127.0.0.1:1", bundle=bundle, config_path=path)
    assert isinstance(engine.primary, OpaHttpEngine)
    primary = engine.primary
    assert (primary.timeout, primary.retries, primary.backoff) == (0.5, 2, 0.05)
    assert (engine.primary.breaker.failures, engine.primary.breaker.reset) == (5, 30.0)
    assert engine.embedded is None and engine.legacy is None
    engine.close()
    open_config = config.model_copy(
        update={"opa": config.opa.model_copy(update={"failure_mode": "fail-open"})}
    )
    engine = build_engine(open_config, opa_url="http://127.0.0.1:1", config_path=path)
    assert isinstance(engine.legacy, LegacyRulesEngine) and engine.legacy.rules == 1
    engine.close()
    embedded_config = config.model_copy(
        update={"opa": config.opa.model_copy(update={"failure_mode": "embedded"})}
    )
    engine = build_engine(embedded_config, opa_url="http://127.0.0.1:1", bundle=bundle)
    assert isinstance(engine.embedded, EmbeddedEngine)
    engine.close()


def test_no_policies_no_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no policies"):
        build_engine(FreightlinerConfig())
    with pytest.raises(ConfigError, match="no registries configured"):
        build_runtime(FreightlinerConfig())
