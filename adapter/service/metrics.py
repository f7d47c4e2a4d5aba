"""The service's Prometheus metrics, on prometheus-client, one ``CollectorRegistry`` per app.

Names are those of docs/deployment.md (kept from the hand-written exposition this
replaced), plus process/platform/GC metrics and ``freightliner_build_info{version}``.

Cardinality is bounded:

* ``policy_id`` labels (evaluations, matches, sweeps) carry one value per policy only when
  ``serve.metrics.per_policy`` is true, and then at most ``max_policy_series`` distinct
  ids (the first ones seen; later ones count under ``policy_id="_other"``). Otherwise every
  policy counts under ``policy_id="_all"``. ``policy_id=""`` stays what it was: a decision
  that failed as a whole.
* registry labels (copy metrics) take only configured registry names; anything else is
  ``"_unknown"``.

Other modules add their own metrics to the same registry with :meth:`ServiceMetrics.counter`,
:meth:`ServiceMetrics.gauge`, :meth:`ServiceMetrics.histogram` or
:meth:`ServiceMetrics.register` (a custom collector, e.g. one that reads a queue's depth
at scrape time); ``/metrics`` exposes all of them.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client import Counter as _PromCounter
from prometheus_client import Histogram as _PromHistogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from adapter.config import MetricsSettings
from migrate import __version__

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "Histogram",
    "PolicyLabel",
    "ServiceMetrics",
]

# ``*_created`` samples double the series count and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

DEFAULT_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: the content type of the default (text 0.0.4) exposition
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ALL_POLICIES = "_all"
OTHER_POLICIES = "_other"
UNKNOWN_REGISTRY = "_unknown"


class PolicyLabel:
    """The ``policy_id`` label value for a policy id, bounded by :class:`MetricsSettings`."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.per_policy = settings.per_policy
        self.limit = settings.max_policy_series
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, policy_id: str) -> str:
        if policy_id == "":
            return ""
        if not self.per_policy:
            return ALL_POLICIES
        with self._lock:
            if policy_id in self._seen:
                return policy_id
            if len(self._seen) < self.limit:
                self._seen.add(policy_id)
                return policy_id
        return OTHER_POLICIES


class Counter:
    """A prometheus-client counter with the ``inc(amount, **labels)`` call of this service.

    ``fold`` maps label values before use (e.g. ``policy_id`` through :class:`PolicyLabel`).
    """

    def __init__(
        self, metric: _PromCounter, fold: Mapping[str, Callable[[str], str]] | None = None
    ) -> None:
        self.metric = metric
        self._fold = dict(fold or {})
        # label items -> child: skips prometheus-client's per-call label validation
        # (decisions count several series each; bounded by the label values' bounds)
        self._children: dict[tuple[tuple[str, str], ...], _PromCounter] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if not labels:
            self.metric.inc(amount)
            return
        for name, fold in self._fold.items():
            if name in labels:
                labels[name] = fold(labels[name])
        key = tuple(labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, self.metric.labels(**labels))
        child.inc(amount)


class Histogram:
    """A prometheus-client histogram with the ``observe(value, **labels)`` call."""

    def __init__(self, metric: _PromHistogram) -> None:
        self.metric = metric

    def observe(self, value: float, **labels: str) -> None:
        if labels:
            self.metric.labels(**labels).observe(value)
        else:
            self.metric.observe(value)


class ServiceMetrics:
    """The service's metrics on their own registry (tests run many apps in one process)."""

    def __init__(
        self, settings: MetricsSettings | None = None, registries: Iterable[str] = ()
    ) -> None:
        self.settings = settings or MetricsSettings()
        self.registry = CollectorRegistry(auto_describe=True)
        self.policy_label = PolicyLabel(self.settings)
        self._registries = frozenset(registries)
        by_policy = {"policy_id": self.policy_label}
        if self.settings.process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        Info(
            "freightliner_build", "The running freightliner-policy build", registry=self.registry
        ).info({"version": __version__, "python": platform.python_version()})

        self.evaluations = self.counter(
            "freightliner_policy_evaluations_total",
            "Policy evaluations: one per candidate policy of each decision "
            '(result matched|not_matched), or policy_id="" result=error when the decision '
            'failed; policy_id="_all" unless serve.metrics.per_policy',
            ["policy_id", "result"],
            fold=by_policy,
        )
        self.evaluation_duration = self.histogram(
            "freightliner_policy_evaluation_duration_seconds",
            "Time to evaluate one decision request",
        )
        self.matches = self.counter(
            "freightliner_policy_matches_total",
            'Matched policies per decision; policy_id="_all" unless serve.metrics.per_policy',
            ["policy_id"],
            fold=by_policy,
        )
        self.decisions = self.counter(
            "freightliner_policy_decisions_total",
            "Decisions by outcome, the engine that decided (opa|embedded|legacy|fail-closed) "
            "and that engine's bundle revision",
            ["outcome", "engine", "bundle_revision"],
        )
        self.actions = self.counter(
            "freightliner_policy_action_executions_total",
            "Executed actions (replicate: per target)",
            ["action", "result"],
        )
        self.errors = self.counter("freightliner_policy_errors_total", "Errors by type", ["type"])
        self.replication_bytes = self.counter(
            "freightliner_replication_bytes_total",
            "Bytes copied, by source and target registry",
            ["source_registry", "target_registry"],
        )
        self.copies = self.counter(
            "freightliner_replication_copies_total",
            "Replicate actions executed (dry runs excluded), by source and target registry and "
            "result (replicated|skipped|failed)",
            ["source_registry", "target_registry", "result"],
        )
        self.replication_duration = self.histogram(
            "freightliner_replication_duration_seconds",
            "Time to replicate one image (all targets)",
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
        )
        self.rebuilds = self.counter(
            "freightliner_policy_bundle_rebuilds_total",
            "Bundle revisions published after a policy change",
        )
        self.rebuild_failures = self.counter(
            "freightliner_policy_bundle_rebuild_failures_total",
            "Policy changes rejected (invalid, or bundle tests failed)",
        )
        self.bundle_downloads = self.counter(
            "freightliner_policy_bundle_downloads_total",
            "Bundle endpoint answers by status",
            ["status"],
        )
        self.sweeps = self.counter(
            "freightliner_policy_sweeps_total",
            'Scheduled sweeps by result (ok|failed|abandoned); policy_id="_all" unless '
            "serve.metrics.per_policy",
            ["policy_id", "result"],
            fold=by_policy,
        )
        self.requests = self.counter(
            "freightliner_http_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
        )

    # -- the hook for other modules -------------------------------------------------
    def counter(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        *,
        fold: Mapping[str, Callable[[str], str]] | None = None,
    ) -> Counter:
        """A new counter on this app's registry (``name`` ends in ``_total``)."""
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        metric = _PromCounter(
            name.removesuffix("_total"), help_text, list(labels), registry=self.registry
        )
        return Counter(metric, fold)

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        """A new histogram on this app's registry."""
        metric = _PromHistogram(
            name, help_text, list(labels), registry=self.registry, buckets=tuple(buckets)
        )
        return Histogram(metric)

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        """A new prometheus-client ``Gauge`` on this app's registry (``set``, ``inc``,
        ``dec``, ``set_function`` for a value read at scrape time)."""
        return Gauge(name, help_text, list(labels), registry=self.registry)

    def register(self, collector: Collector) -> None:
        """Add a custom collector (its ``collect()`` runs at every scrape)."""
        self.registry.register(collector)

    # -- labels ---------------------------------------------------------------------
    def registry_label(self, name: str) -> str:
        """``name`` when it is a configured registry, else ``"_unknown"``."""
        return name if name in self._registries else UNKNOWN_REGISTRY

    # -- exposition -----------------------------------------------------------------
    def render(self) -> str:
        """The text exposition (format 0.0.4)."""
        return self.exposition("")[0].decode()

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The body and content type for a scrape with this ``Accept`` header (text 0.0.4
        by default, OpenMetrics when asked for)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
