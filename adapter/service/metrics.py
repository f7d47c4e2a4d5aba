"""Prometheus metrics, rendered by hand in the text exposition format (version 0.0.4).

Only what the service needs: labelled counters and histograms, thread-safe,
rendered in a stable order (metric registration order, then label values).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

__all__ = ["DEFAULT_BUCKETS", "Counter", "Histogram", "MetricsRegistry", "ServiceMetrics"]

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
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name}: labels {sorted(labels)} != {sorted(self.label_names)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.label_names:
            items = [((), 0.0)]
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Histogram(_Metric):
    """Cumulative buckets, ``_sum`` and ``_count`` per label set."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return series[0][-1] if series else 0

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        if not items and not self.label_names:
            items = [((), ([0] * (len(self.buckets) + 1), 0.0))]
        lines: list[str] = []
        for key, (counts, total) in items:
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {count}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}")
        return lines


class MetricsRegistry:
    """Metrics in registration order; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labels)
        self._metrics.append(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, labels, buckets)
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.header())
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


class ServiceMetrics:
    """The service's metrics: docs/deployment.md's names plus replication, bundle, sweep ones."""

    def __init__(self) -> None:
        r = self.registry = MetricsRegistry()
        self.evaluations = r.counter(
            "freightliner_policy_evaluations_total",
            "Policy evaluations: one per candidate policy of each decision "
            "(result matched|not_matched), "
            'or policy_id="" result=error when the decision failed',
            ["policy_id", "result"],
        )
        self.evaluation_duration = r.histogram(
            "freightliner_policy_evaluation_duration_seconds",
            "Time to evaluate one decision request",
        )
        self.matches = r.counter(
            "freightliner_policy_matches_total", "Matched policies per decision", ["policy_id"]
        )
        self.decisions = r.counter(
            "freightliner_policy_decisions_total",
            "Decisions by outcome, the engine that decided (opa|embedded|legacy|fail-closed) "
            "and that engine's bundle revision",
            ["outcome", "engine", "bundle_revision"],
        )
        self.actions = r.counter(
            "freightliner_policy_action_executions_total",
            "Executed actions (replicate: per target)",
            ["action", "result"],
        )
        self.errors = r.counter("freightliner_policy_errors_total", "Errors by type", ["type"])
        self.replication_bytes = r.counter(
            "freightliner_replication_bytes_total", "Bytes copied to target registries"
        )
        self.replication_duration = r.histogram(
            "freightliner_replication_duration_seconds",
            "Time to replicate one image (all targets)",
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
        )
        self.rebuilds = r.counter(
            "freightliner_policy_bundle_rebuilds_total",
            "Bundle revisions published after a policy change",
        )
        self.rebuild_failures = r.counter(
            "freightliner_policy_bundle_rebuild_failures_total",
            "Policy changes rejected (invalid, or bundle tests failed)",
        )
        self.bundle_downloads = r.counter(
            "freightliner_policy_bundle_downloads_total",
            "Bundle endpoint answers by status",
            ["status"],
        )
        self.sweeps = r.counter(
            "freightliner_policy_sweeps_total",
            "Scheduled sweeps by result",
            ["policy_id", "result"],
        )
        self.requests = r.counter(
            "freightliner_http_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
        )

    def render(self) -> str:
        return self.registry.render()
