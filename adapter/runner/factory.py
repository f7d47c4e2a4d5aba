"""Build the run time pipeline from the config file and command-line options.

Engine selection:

* an OPA URL (``--opa-url``, else the config's ``opa.url``) → :class:`OpaHttpEngine`
  (timeout ``policy.evaluationTimeout``, ``opa.retries`` / ``backoff`` /
  ``circuit_failures`` / ``circuit_reset``), wrapped in a
  :class:`FailoverEngine` for ``opa.failure_mode``: ``embedded`` loads the
  bundle (``opa.bundle``, else built from the policies), ``fail-open`` the
  config's legacy ``replication.rules``;
* no URL → :class:`EmbeddedEngine` over the bundle built from ``--policies``
  (or a built bundle), else from the config's policies; still wrapped, so an
  undefined decision fails closed (or open) the same way.

:func:`build_engine` is the one engine factory of the CLI and ``serve`` (which
passes its current published bundle as the embedded engine); the OPA client
keeps at most ``max(opa.max_connections, policy.maxConcurrency)`` connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.actions.engine_push import EnginePusher
from adapter.actions.executor import DecisionExecutor
from adapter.actions.notify import WebhookNotifier
from adapter.config import FreightlinerConfig
from adapter.decision.failover import FailoverEngine
from adapter.decision.interface import DecisionEngine
from adapter.decision.legacy import load_legacy_rules
from adapter.decision.opa_http import OpaHttpEngine
from adapter.metadata.docker_source import DockerMetadataSource
from adapter.metadata.interface import MetadataSource
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.runner.replicator import RegistryReplicator
from migrate.core.durations import parse_duration_ns
from migrate.core.errors import ConfigError
from migrate.engine.embedded import EmbeddedEngine

__all__ = ["Runtime", "build_engine", "build_runtime", "opa_engine"]

BundleLoader = Callable[[], Any]  # returns a migrate.bundle.builder.Bundle


def _seconds(text: str) -> float:
    return parse_duration_ns(text) / 1e9


def opa_engine(config: FreightlinerConfig, url: str, *, pool: int | None = None) -> OpaHttpEngine:
    """The OPA client with the configured timeout, retries, circuit and connection limit
    (``opa.max_connections``, else ``pool``: the caller's worker count, else
    ``policy.maxConcurrency``, at least 4)."""
    return OpaHttpEngine(
        url,
        timeout=config.evaluation_timeout_seconds,
        retries=config.opa.retries,
        backoff=_seconds(config.opa.backoff),
        circuit_failures=config.opa.circuit_failures,
        circuit_reset=_seconds(config.opa.circuit_reset),
        circuit_window=_seconds(config.opa.circuit_window),
        circuit_trials=config.opa.circuit_trials,
        max_connections=config.opa.max_connections or pool or max(config.policy.maxConcurrency, 4),
    )


def build_engine(
    config: FreightlinerConfig,
    *,
    opa_url: str | None = None,
    bundle: BundleLoader | None = None,
    config_path: Path | None = None,
    embedded: Callable[[], DecisionEngine] | None = None,
    opa: OpaHttpEngine | None = None,
) -> FailoverEngine:
    """The decision engine (see the module docstring).

    ``embedded`` makes the in-process engine (default: the ``opa.bundle``, else
    ``bundle()``); it is called only when the engine or its fallback needs it.
    ``opa`` is an :func:`opa_engine` the caller keeps a handle on.
    """
    url = opa_url or config.opa.url
    mode = config.opa.failure_mode

    def bundled() -> DecisionEngine:
        if config.opa.bundle:
            return EmbeddedEngine.from_bundle(
                Path(config.opa.bundle), config.bundle_signing.verification()
            )
        if bundle is None:
            raise ConfigError(
                "no policies: give --policies, policy.policies in the config, or opa.bundle"
            )
        built = bundle()
        return EmbeddedEngine(built.modules(), built.data(), built.revision)

    make_embedded = embedded or bundled
    legacy = load_legacy_rules(config_path) if mode == "fail-open" else None
    if opa is not None or url:
        primary = opa or opa_engine(config, url or "")
        fallback = make_embedded() if mode == "embedded" else None
        return FailoverEngine(primary, mode, embedded=fallback, legacy=legacy)
    engine = make_embedded()
    return FailoverEngine(engine, "fail-closed" if mode == "embedded" else mode, legacy=legacy)


@dataclass
class Runtime:
    """Everything a run needs; :meth:`close` releases every connection pool."""

    config: FreightlinerConfig
    engine: FailoverEngine
    clients: dict[str, RegistryClient]
    executor: DecisionExecutor
    replicator: RegistryReplicator
    docker: DockerMetadataSource | None = None

    def close(self) -> None:
        self.engine.close()
        self.executor.close()
        if self.docker is not None:
            self.docker.close()
        for client in self.clients.values():
            client.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_runtime(
    config: FreightlinerConfig,
    *,
    opa_url: str | None = None,
    bundle: BundleLoader | None = None,
    config_path: Path | None = None,
    notify_timeout: float = 5.0,
    metadata: MetadataSource | None = None,
    docker: DockerMetadataSource | None = None,
) -> Runtime:
    """Engine, registry clients (one per configured registry), metadata source, executor.

    ``metadata`` replaces reading image metadata from the registries (e.g. a
    :class:`FileMetadataSource` for ``evaluate --image-file``); ``docker`` reads
    from the local Docker engine and makes the executor push its images with
    the engine (:mod:`adapter.actions.engine_push`).
    """
    if docker is not None:
        if docker.registry in config.registries:
            raise ConfigError(
                f"a configured registry is named {docker.registry!r}, which docker:// "
                "references use for the local Docker engine: rename that registry"
            )
        metadata = docker
    if metadata is None and not len(config.registries):
        raise ConfigError("no registries configured: add a 'registries:' section to the config")
    engine = build_engine(config, opa_url=opa_url, bundle=bundle, config_path=config_path)
    clients: dict[str, RegistryClient] = {}
    try:
        for name in config.registries:
            clients[name] = RegistryClient(
                config.registries.get(name), max_connections=max(config.policy.maxConcurrency, 4)
            )
    except BaseException:
        engine.close()
        for client in clients.values():
            client.close()
        raise
    source = metadata or RegistryMetadataSource(clients, cache_size=config.policy.cacheSize)
    executor = DecisionExecutor(
        clients,
        notifier=WebhookNotifier(timeout=notify_timeout),
        engine=EnginePusher(docker) if docker is not None else None,
    )
    replicator = RegistryReplicator(
        engine, source, clients, executor, max_concurrency=config.policy.maxConcurrency
    )
    return Runtime(config, engine, clients, executor, replicator, docker)
