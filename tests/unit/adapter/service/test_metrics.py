"""The service's metrics on prometheus-client: exact exposition, bounded label values, the
registration hook, one registry per app."""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from adapter.config import MetricsSettings
from adapter.service.metrics import CONTENT_TYPE, ServiceMetrics
from migrate import __version__


def _samples(metrics: ServiceMetrics, prefix: str) -> list[str]:
    return [line for line in metrics.render().splitlines() if line.startswith(prefix)]


def test_exposition_is_exact_text_0_0_4() -> None:
    m = ServiceMetrics(MetricsSettings(process=False), registries=["src", "dst"])
    m.requests.inc(route="/v1/evaluate", status="200")
    m.requests.inc(2, route="/v1/evaluate", status='4"1')
    m.evaluation_duration.observe(0.003)
    body, content_type = m.exposition("")
    assert content_type == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    assert _samples(m, "freightliner_http_requests_total") == [
        'freightliner_http_requests_total{route="/v1/evaluate",status="200"} 1.0',
        'freightliner_http_requests_total{route="/v1/evaluate",status="4\\"1"} 2.0',
    ]
    assert _samples(m, "freightliner_policy_evaluation_duration_seconds") == [
        *(
            f'freightliner_policy_evaluation_duration_seconds_bucket{{le="{le}"}} {n}'
            for le, n in [
                ("0.0005", "0.0"),
                ("0.001", "0.0"),
                ("0.0025", "0.0"),
                ("0.005", "1.0"),
                ("0.01", "1.0"),
                ("0.025", "1.0"),
                ("0.05", "1.0"),
                ("0.1", "1.0"),
                ("0.25", "1.0"),
                ("0.5", "1.0"),
                ("1.0", "1.0"),
                ("2.5", "1.0"),
                ("5.0", "1.0"),
                ("10.0", "1.0"),
                ("+Inf", "1.0"),
            ]
        ),
        "freightliner_policy_evaluation_duration_seconds_count 1.0",
        "freightliner_policy_evaluation_duration_seconds_sum 0.003",
    ]
    assert "# TYPE freightliner_http_requests_total counter" in text
    assert "_created" not in text
    assert _samples(m, "freightliner_build_info") == [
        f'freightliner_build_info{{python="{platform.python_version()}",version="{__version__}"}} 1.0'
    ]
    assert "process_" not in text  # process: false


def test_openmetrics_when_asked() -> None:
    m = ServiceMetrics(MetricsSettings(process=False))
    body, content_type = m.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.decode().endswith("# EOF\n")


def test_process_metrics_by_default() -> None:
    names = {
        line.split("{")[0].split(" ")[0]
        for line in ServiceMetrics().render().splitlines()
        if line and not line.startswith("#")
    }
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "python_gc_collections_total",
        "freightliner_build_info",
    } <= names


def test_policy_labels_fold_to_all_by_default() -> None:
    m = ServiceMetrics(MetricsSettings(process=False))
    for i in range(10_000):
        m.evaluations.inc(policy_id=f"p{i}", result="matched")
        m.matches.inc(policy_id=f"p{i}")
    m.evaluations.inc(3, policy_id="", result="error")
    m.sweeps.inc(policy_id="nightly", result="failed")
    assert _samples(m, "freightliner_policy_evaluations_total") == [
        'freightliner_policy_evaluations_total{policy_id="_all",result="matched"} 10000.0',
        'freightliner_policy_evaluations_total{policy_id="",result="error"} 3.0',
    ]
    assert _samples(m, "freightliner_policy_matches_total") == [
        'freightliner_policy_matches_total{policy_id="_all"} 10000.0'
    ]
    assert _samples(m, "freightliner_policy_sweeps_total") == [
        'freightliner_policy_sweeps_total{policy_id="_all",result="failed"} 1.0'
    ]


def test_per_policy_series_are_capped() -> None:
    m = ServiceMetrics(MetricsSettings(per_policy=True, max_policy_series=2, process=False))
    for policy_id in ["a", "b", "c", "a", "d", "b"]:
        m.matches.inc(policy_id=policy_id)
    assert _samples(m, "freightliner_policy_matches_total") == [
        'freightliner_policy_matches_total{policy_id="a"} 2.0',
        'freightliner_policy_matches_total{policy_id="b"} 2.0',
        'freightliner_policy_matches_total{policy_id="_other"} 2.0',
    ]


def test_registry_labels_take_only_configured_names() -> None:
    m = ServiceMetrics(MetricsSettings(process=False), registries=["src", "dst"])
    assert [m.registry_label(n) for n in ["src", "dst", "evil\nname", ""]] == [
        "src",
        "dst",
        "_unknown",
        "_unknown",
    ]


def test_each_app_has_its_own_registry_and_other_modules_register_on_it() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()  # no "Duplicated timeseries" error
    first.requests.inc(route="/health", status="200")
    assert _samples(second, "freightliner_http_requests_total") == []

    depth = first.gauge("freightliner_queue_depth", "Jobs waiting", ["queue"])
    depth.labels(queue="replicate").set(7)
    retries = first.counter("freightliner_queue_retries_total", "Retried jobs")
    retries.inc(2)

    class InFlight:
        def collect(self) -> Iterator[Metric]:
            yield GaugeMetricFamily("freightliner_queue_in_flight", "Jobs running", value=3)

    first.register(InFlight())
    assert _samples(first, "freightliner_queue") == [
        'freightliner_queue_depth{queue="replicate"} 7.0',
        "freightliner_queue_retries_total 2.0",
        "freightliner_queue_in_flight 3.0",
    ]
    assert _samples(second, "freightliner_queue") == []
