"""deploy/grafana and deploy/prometheus against a real ``serve``: every metric a dashboard
query or alert rule names is one the running service exports, the rules parse and fire as
intended (``promtool check rules`` / ``promtool test rules``), the dashboard's PromQL parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.images import push_image
from tests.fixtures.topology import TopologyFactory
from tests.integration.adapter.service.policies import image, tag_policy

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "freightliner-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yaml")
#: series Prometheus itself adds to every scrape (not exported by the service)
SCRAPE_SERIES = {"up"}
#: Grafana's variables, replaced by values PromQL accepts
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__range": "1h",
    "$job": ".*",
    "$instance": ".*",
}

_PROMQL_WORDS = {
    # aggregations, functions and keywords used (or plausible) in these files
    *[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ],
    *[
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "histogram_quantile",
        "label_values",
        "label_replace",
    ],
    *[
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp_min",
        "clamp_max",
        "absent",
        "absent_over_time",
        "time",
        "vector",
        "scalar",
    ],
    *["sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "changes", "resets"],
    *[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    ],
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: strings, label matchers, ranges, grouping
    clauses and function names removed; what remains are metric names."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^{}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges
    expr = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr
    )  # grouping labels
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end() :].lstrip()
        if word in _PROMQL_WORDS or following.startswith("("):
            continue
        if re.fullmatch(r"\d+[smhdwy]", word) or word in {"e", "Inf", "NaN", "inf", "nan"}:
            continue
        names.add(word)
    return names


def test_metric_name_parser() -> None:
    assert promql_metric_names(
        'sum by (target_registry, result) (rate(a_total{job=~"x", result="b{c}"}[5m])) '
        "/ on (instance) group_left (version) b_info > bool 0.05 and absent(c_bucket)"
    ) == {"a_total", "b_info", "c_bucket"}
    assert promql_metric_names("label_values(freightliner_build_info, job)") == {
        "freightliner_build_info",
        "job",  # label_values' second argument is a label: callers drop it
    }


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            exprs.extend(target["expr"] for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(document["panels"])
    return exprs


def dashboard_variable_metrics() -> set[str]:
    document = json.loads(DASHBOARD.read_text())
    names: set[str] = set()
    for variable in document["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"]["query"])
            assert match, variable["query"]
            names |= promql_metric_names(match.group(1))
    return names


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names(text: str) -> set[str]:
    """Every sample name the exposition has or can have: sample lines, and each ``# TYPE``
    (histograms with their ``_bucket``/``_sum``/``_count``)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            names |= (
                {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                if kind == "histogram"
                else {name}
            )
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def scrape(topology_factory: TopologyFactory) -> str:
    """/metrics of a real ``serve`` after one evaluation and one replication."""
    topo = topology_factory.start({"prod.yaml": tag_policy("^prod-.*")}, opa=False)
    api = topo.api()
    assert api.post("/v1/evaluate", json={"image": image("prod-1")}).status_code == 200
    push_image(topo.src, "team/app", "prod-3", seed=3)
    assert api.post("/v1/replicate", json={"reference": "src/team/app:prod-3"}).status_code == 200
    response = httpx.get(f"{topo.adapter_url}/metrics", timeout=10.0)
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.text


def test_dashboard_and_alerts_name_only_exported_metrics(
    topology_factory: TopologyFactory,
) -> None:
    scraped = scrape(topology_factory)
    check_dashboard(scraped)
    check_alerts(scraped)
    promtool = shutil.which("promtool")
    if promtool:  # its absence skips the promtool tests below
        lint = subprocess.run(
            [promtool, "check", "metrics"],
            input=scraped,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def check_dashboard(scraped: str) -> None:
    exported = exported_names(scraped)
    exprs = dashboard_expressions()
    assert len(exprs) == 22
    used = set().union(*(promql_metric_names(e) for e in exprs)) | dashboard_variable_metrics()
    assert used - exported == set()
    # and it shows every freightliner metric the service has
    assert {n for n in exported if n.startswith("freightliner_")} - used == {
        "freightliner_policy_evaluation_duration_seconds_count",
        "freightliner_policy_evaluation_duration_seconds_sum",
        "freightliner_replication_duration_seconds_count",
        "freightliner_replication_duration_seconds_sum",
    }


def check_alerts(scraped: str) -> None:
    exported = exported_names(scraped) | SCRAPE_SERIES
    rules = alert_rules()
    assert [r["alert"] for r in rules] == [
        "FreightlinerDown",
        "FreightlinerDecisionErrors",
        "FreightlinerFailClosedDecisions",
        "FreightlinerBundleRejected",
        "FreightlinerSweepFailures",
        "FreightlinerCopyErrorRate",
        "FreightlinerSlowDecisions",
    ]
    for rule in rules:
        names = promql_metric_names(rule["expr"])
        assert names and names - exported == set(), rule["alert"]
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("no promtool on PATH (scripts/setup.sh takes it from Debian's prometheus)")
    return found


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = _promtool()
    check = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 7 rules found" in check.stdout
    unit = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ALERT_TESTS.parent,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query (Grafana variables replaced) as a recording rule: promtool parses them."""
    promtool = _promtool()
    exprs = dashboard_expressions()
    for variable, value in GRAFANA_VARIABLES.items():
        exprs = [e.replace(variable, value) for e in exprs]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in check.stdout
