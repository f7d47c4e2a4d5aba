"""The runtime configuration file (a Freightliner ``config.yaml``).

Sections::

    policy:       PolicyConfig, docs/policies.md (enabled, configPath, evaluationTimeout,
                  maxConcurrency, cacheSize, policies)
    registries:   named registries (adapter.registry.config.RegistriesConfig)
    opa:          url, failure_mode, retries, circuit breaker
    replication:  legacy rules (``rules: [...]``), used by failure_mode fail-open
    serve:        the long-lived service (freightliner-policy serve)
    queue:        queue mode: copies run on Celery workers over a Redis broker (docs/deployment.md)
    state:        shared state in PostgreSQL (default: serve.state_db, SQLite)
    bundle_signing: keys to sign published bundles and verify bundles read (OPA's format)

Every other top-level key is reported as unknown. Secrets never appear here:
registry credentials come from the environment, secret files, a Docker
config.json or its credential helpers (adapter.registry.credentials).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapter.registry.config import RegistriesConfig
from migrate.core.durations import parse_duration_ns
from migrate.core.errors import ConfigError, Diagnostic
from migrate.core.yaml_source import line_of, load_yaml
from migrate.policy.model import PolicyConfig

__all__ = [
    "BundleSigningSettings",
    "FailureMode",
    "FreightlinerConfig",
    "MetricsSettings",
    "OpaSettings",
    "QueueSettings",
    "ServeSettings",
    "StateSettings",
    "http_url_problem",
]

FailureMode = Literal["fail-closed", "fail-open", "embedded"]
_KNOWN = {
    "policy",
    "registries",
    "opa",
    "replication",
    "serve",
    "treeReplicate",
    "bundle_signing",
    "queue",
    "state",
}


def http_url_problem(value: str) -> str:
    """Why ``value`` is not an ``http://``/``https://`` URL with a host ("" when it is):
    a scheme-less ``localhost:8181`` is refused up front, not found unreachable later."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"{value!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"{value!r} is not an http:// or https:// URL with a host (e.g. http://127.0.0.1:8181)"
        )
    return ""


class OpaSettings(BaseModel):
    """How the adapter reaches its OPA sidecar, and what it does when it cannot."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    failure_mode: FailureMode = "fail-closed"
    retries: int = Field(default=2, ge=0, le=10)
    backoff: str = "50ms"
    circuit_failures: int = Field(default=5, ge=1)
    #: the consecutive failures must span this long to open the circuit (a burst does not)
    circuit_window: str = "2s"
    circuit_reset: str = "30s"
    #: half-open: this many trial calls, all must succeed to close the circuit
    circuit_trials: int = Field(default=3, ge=1)
    #: connections to OPA (default: serve.threads for serve, policy.maxConcurrency for the CLI,
    #: so no decision waits for a connection)
    max_connections: int | None = Field(default=None, ge=1)
    bundle: str | None = (
        None  # the bundle for failure_mode: embedded (default: built from the policies)
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and http_url_problem(value):
            raise ValueError(http_url_problem(value))
        return value


class MetricsSettings(BaseModel):
    """``serve.metrics``: how many series ``/metrics`` may grow to (docs/deployment.md)."""

    model_config = ConfigDict(extra="forbid")

    #: one ``policy_id`` label value per policy (else every policy counts as ``_all``)
    per_policy: bool = False
    #: with ``per_policy``: distinct policy ids with their own series (the first seen);
    #: later ones count as ``_other``
    max_policy_series: int = Field(default=100, ge=1, le=100_000)
    #: process_*, python_gc_* and python_info metrics
    process: bool = True


class ServeSettings(BaseModel):
    """``freightliner-policy serve`` settings (see docs/deployment.md)."""

    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:8080"
    token_env: str = "FREIGHTLINER_API_TOKEN"
    token_file: str | None = None
    tokens_file: str | None = None  # named, scoped tokens (adapter.service.auth); wins
    state_db: str = "freightliner-state.sqlite"
    audit_log: str | None = None
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    bundle_name: str = Field(default="freightliner", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    change_log: str | None = None
    watch_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    threads: int = Field(default=32, ge=1, le=512)
    #: threads that evaluate with the embedded engine (each holds one compiled engine);
    #: default: 2 when decisions go to OPA (fallback only), else 8 (docs/benchmarks.md)
    engine_threads: int | None = Field(default=None, ge=1, le=64)
    sweep_batch_size: int = Field(default=100, ge=1)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)


class QueueSettings(BaseModel):
    """``queue:``: plan in ``serve``, copy on ``freightliner-policy worker`` processes.

    ``rate_limits`` maps a target registry name to the most copy tasks per second all the
    workers together start against it (a token bucket kept in the broker's Redis);
    ``default_rate_limit`` applies to every other target registry (0: no limit)."""

    model_config = ConfigDict(extra="forbid")

    broker: str = Field(pattern=r"^rediss?://")
    queue_name: str = Field(default="freightliner.copy", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    #: seconds before a task taken by a worker that vanished (kill -9) is given to another
    visibility_timeout_seconds: float = Field(default=300.0, ge=1)
    max_retries: int = Field(default=5, ge=0, le=100)
    #: the wait before a retry when the registry sent no Retry-After (doubles each retry)
    retry_backoff_seconds: float = Field(default=2.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=300.0, gt=0)
    rate_limits: dict[str, float] = Field(default_factory=dict)
    default_rate_limit: float = Field(default=0.0, ge=0)


class StateSettings(BaseModel):
    """``state:``: the shared state database (PostgreSQL); SQLite (serve.state_db) without it."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^postgres(ql)?://")
    #: seconds between the replicas' attempts to become the scheduler (leader)
    leader_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)


class BundleSigningSettings(BaseModel):
    """``bundle_signing:``: ``serve`` signs what it publishes with ``signing_key``; every
    bundle the adapter reads is verified with ``verification_key`` (docs/deployment.md)."""

    model_config = ConfigDict(extra="forbid")

    signing_key: str | None = None  # PEM private key file, or a file holding the HMAC secret
    verification_key: str | None = None  # PEM public key file, or the HMAC secret file
    algorithm: Literal["RS256", "ES256", "HS256"] = "RS256"
    key_id: str = Field(default="default", min_length=1)
    scope: str = ""

    def signing(self) -> Any:
        """A :class:`migrate.bundle.signing.SigningConfig`, or None without a signing key."""
        if not self.signing_key:
            return None
        from migrate.bundle.signing import SigningConfig

        return SigningConfig.from_file(
            Path(self.signing_key), self.algorithm, self.key_id, self.scope
        )

    def verification(self) -> Any:
        """A :class:`migrate.bundle.signing.VerificationConfig`, or None without a key."""
        if not self.verification_key:
            return None
        from migrate.bundle.signing import VerificationConfig

        return VerificationConfig.from_file(
            Path(self.verification_key), self.algorithm, self.key_id, self.scope
        )


class FreightlinerConfig(BaseModel):
    """The whole configuration file."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    registries: RegistriesConfig = Field(default_factory=RegistriesConfig)
    opa: OpaSettings = Field(default_factory=OpaSettings)
    replication: dict[str, Any] = Field(default_factory=dict)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    bundle_signing: BundleSigningSettings = Field(default_factory=BundleSigningSettings)
    queue: QueueSettings | None = None
    state: StateSettings | None = None
    source: str | None = None

    @property
    def evaluation_timeout_seconds(self) -> float:
        return parse_duration_ns(self.policy.evaluationTimeout) / 1e9

    @classmethod
    def load(cls, path: Path) -> FreightlinerConfig:
        """Read and validate a config file; ConfigError lists every problem with its line."""
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name}: cannot read: not UTF-8 text ({exc.reason})") from exc
        # YAML syntax errors and duplicate keys, one line each, as config errors.
        data = load_yaml(text, name, error=ConfigError) or {}
        return cls.from_document(data, name)

    @classmethod
    def from_document(cls, data: Any, name: str = "<config>") -> FreightlinerConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: the config file must be a mapping")
        problems = [
            Diagnostic("unknown top-level key", file=name, line=line_of(data, [k]), field=k)
            for k in sorted(set(data) - _KNOWN)
        ]
        values: dict[str, Any] = {"source": name}
        for key, model in (
            ("policy", PolicyConfig),
            ("opa", OpaSettings),
            ("serve", ServeSettings),
            ("bundle_signing", BundleSigningSettings),
            ("queue", QueueSettings),
            ("state", StateSettings),
        ):
            if key in data:
                try:
                    values[key] = model.model_validate(data[key] or {})
                except ValidationError as exc:
                    for error in exc.errors():
                        loc = [key, *error["loc"]]
                        problems.append(
                            Diagnostic(
                                str(error["msg"]).removeprefix("Value error, "),
                                file=name,
                                line=line_of(data, loc),
                                field=".".join(str(s) for s in loc),
                            )
                        )
        try:
            values["registries"] = RegistriesConfig.from_section(data.get("registries"), name)
        except ConfigError as exc:
            problems.extend(
                replace(d, line=d.line or line_of(data, (d.field or "").split(".")))
                for d in exc.diagnostics or [Diagnostic(exc.message, file=name)]
            )
        if isinstance(data.get("replication"), dict):
            values["replication"] = dict(data["replication"])
        for key, setting in (
            ("policy", "evaluationTimeout"),
            ("opa", "backoff"),
            ("opa", "circuit_window"),
            ("opa", "circuit_reset"),
        ):
            model_value = values.get(key)
            text = getattr(model_value, setting, None)
            if text is not None:
                try:
                    parse_duration_ns(text)
                except ValueError as exc:
                    problems.append(
                        Diagnostic(
                            str(exc),
                            file=name,
                            line=line_of(data, [key, setting]),
                            field=f"{key}.{setting}",
                        )
                    )
        if "queue" in values and "state" not in values and "state" not in data:
            problems.append(
                Diagnostic(
                    "queue mode needs the shared state database: add state.url (PostgreSQL)",
                    file=name,
                    line=line_of(data, ["queue"]),
                    field="queue",
                )
            )
        if problems:
            raise ConfigError(f"{name}: {len(problems)} problem(s) in the configuration", problems)
        return cls(**values)
