"""The HTTP API of a real ``serve`` process: auth, limits, error shape, decisions, exact metrics."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fixtures.images import push_image
from tests.fixtures.topology import Topology, TopologyFactory
from tests.integration.adapter.service.policies import image, tag_policy

NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def topo(topology_factory: TopologyFactory) -> Topology:
    return topology_factory.start(
        {"prod.yaml": tag_policy("^prod-.*")},
        opa=False,
        serve={"max_request_bytes": 4096, "metrics": {"per_policy": True}},
    )


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"error"} and set(body["error"]) == {"code", "message"}
    return response.status_code, body["error"]["code"]


def test_auth_and_error_shape(topo: Topology) -> None:
    url = topo.adapter_url
    for method, path in [
        ("POST", "/v1/evaluate"),
        ("POST", "/v1/replicate"),
        ("GET", "/v1/policies"),
    ]:
        assert _error(httpx.request(method, url + path, json={})) == (401, "unauthorized")
        bad = httpx.request(method, url + path, json={}, headers={"Authorization": "Bearer wrong"})
        assert _error(bad) == (401, "unauthorized")
        assert bad.headers["www-authenticate"].startswith("Bearer ")
    api = topo.api()
    assert _error(
        api.post("/v1/evaluate", content=b"{", headers={"content-type": "application/json"})
    ) == (400, "invalid_json")
    assert _error(api.post("/v1/evaluate", json={"image": {"registry": "src"}})) == (
        422,
        "invalid_input",
    )
    assert _error(api.post("/v1/evaluate", json={"image": image("a"), "reference": "src/a:b"})) == (
        422,
        "invalid_input",
    )
    assert _error(api.post("/v1/evaluate", json={"image": {**image("a"), "extra": 1}})) == (
        422,
        "invalid_input",
    )
    assert _error(api.post("/v1/evaluate", json={"reference": "nowhere/a:b"})) == (
        422,
        "unknown_registry",
    )
    assert _error(api.post("/v1/evaluate", json={"image": image("x" * 5000)})) == (
        413,
        "payload_too_large",
    )
    assert _error(api.get("/v1/evaluate")) == (405, "method_not_allowed")
    assert _error(api.get("/nothing")) == (404, "not_found")
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_evaluate_image_and_reference_and_replicate(topo: Topology) -> None:
    api = topo.api()
    body = api.post("/v1/evaluate", json={"image": image("prod-1"), "now": NOW}).json()
    revision = api.get("/v1/policies").json()["bundle"]["revision"]
    assert (body["engine"], body["bundle_revision"]) == ("embedded", revision)
    [result] = body["results"]
    assert (result["engine"], result["bundle_revision"]) == ("embedded", revision)
    assert result["image"]["tag"] == "prod-1"
    decision = result["decision"]
    assert decision["should_replicate"] is True
    assert decision["matched_policies"] == ["prod"]
    assert [
        (a["target_registry"], a["target_repo"], a["target_tag"]) for a in decision["actions"]
    ] == [("dst", "mirror/team/app", "prod-1")]

    pushed = push_image(topo.src, "team/app", "prod-2", seed=5)
    [evaluated] = api.post("/v1/evaluate", json={"reference": "src/team/app:prod-2"}).json()[
        "results"
    ]
    assert evaluated["image"]["digest"] == pushed.digest
    assert evaluated["decision"]["should_replicate"] is True

    done = api.post("/v1/replicate", json={"reference": "src/team/app:prod-2"}).json()
    assert done["summary"]["replicated"] == 1 and done["exit_code"] == 0
    [outcome] = done["outcomes"]
    assert (outcome["status"], outcome["targets"], outcome["bytes_copied"]) == (
        "replicated",
        ["dst/mirror/team/app:prod-2"],
        pushed.size,
    )
    again = api.post("/v1/replicate", json={"reference": "src/team/app:prod-2"}).json()
    assert again["outcomes"][0]["status"] == "skipped"

    records = [json.loads(line) for line in (topo.root / "audit.jsonl").read_text().splitlines()]
    decisions = [r for r in records if r["kind"] == "decision"]
    assert decisions[0]["decision_id"] == result["decision_id"]
    assert (
        decisions[0]["input_digest"].startswith("sha256:")
        and len(decisions[0]["input_digest"]) == 71
    )
    assert (
        decisions[0]["outcome"],
        decisions[0]["engine"],
        decisions[0]["bundle_revision"],
        decisions[0]["source"],
    ) == ("replicate", "embedded", revision, "evaluate")
    executions = [r for r in records if r["kind"] == "execution"]
    assert [e["status"] for e in executions] == ["replicated", "skipped"]
    assert executions[0]["decision_id"] in {
        d["decision_id"] for d in decisions if d["source"] == "replicate"
    }


def _sample(metrics: dict[str, float], name: str, **labels: str) -> float:
    # prometheus-client writes label names sorted
    pairs = sorted(labels.items())
    key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if labels else "")
    return metrics.get(key, 0.0)


def test_metrics_exact_after_a_known_sequence(topo: Topology) -> None:
    api = topo.api()
    httpx.post(f"{topo.adapter_url}/v1/evaluate", json={"image": image("prod-1")})  # 401
    explained: list[dict[str, Any]] = []
    for tag in ["prod-1", "prod-2", "dev-1"]:
        decision = api.post("/v1/evaluate", json={"image": image(tag), "now": NOW}).json()
        explained.append(decision["results"][0]["decision"])
    api.post("/v1/evaluate", json={"image": {"registry": "src"}})  # 422
    pushed = push_image(topo.src, "team/app", "prod-9", seed=11)
    api.post("/v1/replicate", json={"reference": "src/team/app:prod-9"})

    m = topo.metrics()
    matched = sum(1 for d in explained for e in d["explanation"] if e["matched"]) + 1
    not_matched = sum(1 for d in explained for e in d["explanation"] if not e["matched"])
    assert matched == 3  # two evaluations and one replicate matched "prod"
    assert (
        _sample(m, "freightliner_policy_evaluations_total", policy_id="prod", result="matched") == 3
    )
    assert (
        _sample(m, "freightliner_policy_evaluations_total", policy_id="prod", result="not_matched")
        == not_matched
    )
    assert _sample(m, "freightliner_policy_matches_total", policy_id="prod") == 3
    revision = topo.api().get("/v1/policies").json()["bundle"]["revision"]
    for outcome, n in (("replicate", 3), ("no_match", 1)):
        assert (
            _sample(
                m,
                "freightliner_policy_decisions_total",
                outcome=outcome,
                engine="embedded",
                bundle_revision=revision,
            )
            == n
        )
    assert _sample(m, "freightliner_policy_evaluation_duration_seconds_count") == 4
    assert m['freightliner_policy_evaluation_duration_seconds_bucket{le="+Inf"}'] == 4
    assert (
        _sample(
            m,
            "freightliner_policy_action_executions_total",
            action="replicate",
            result="replicated",
        )
        == 1
    )
    assert (
        _sample(
            m, "freightliner_replication_bytes_total", source_registry="src", target_registry="dst"
        )
        == pushed.size
    )
    assert (
        _sample(
            m,
            "freightliner_replication_copies_total",
            source_registry="src",
            target_registry="dst",
            result="replicated",
        )
        == 1
    )
    assert _sample(m, "freightliner_replication_duration_seconds_count") == 1
    assert _sample(m, "freightliner_policy_errors_total", type="engine_unavailable") == 0
    assert _sample(m, "freightliner_http_requests_total", route="/v1/evaluate", status="200") == 3
    assert _sample(m, "freightliner_http_requests_total", route="/v1/evaluate", status="401") == 1
    assert _sample(m, "freightliner_http_requests_total", route="/v1/evaluate", status="422") == 1
    assert _sample(m, "freightliner_http_requests_total", route="/v1/replicate", status="200") == 1
    assert _sample(m, "freightliner_policy_bundle_rebuild_failures_total") == 0
    text = httpx.get(f"{topo.adapter_url}/metrics").text
    assert "# TYPE freightliner_policy_evaluations_total counter" in text
    assert "# TYPE freightliner_policy_evaluation_duration_seconds histogram" in text


def test_evaluate_explains_every_candidate_only_when_asked(
    topology_factory: TopologyFactory,
) -> None:
    # filed under registry "src": an image from src with another tag is a
    # candidate that does not match
    topo = topology_factory.start({"p.yaml": tag_policy("^prod-9", registry="src")}, opa=False)
    api = topo.api()
    plain = api.post("/v1/evaluate", json={"image": image("prod-1"), "now": NOW}).json()
    assert plain["results"][0]["decision"]["explanation"] == [
        {"policy_id": "prod", "priority": 10, "matched": False, "conditions": []}
    ]
    asked = api.post(
        "/v1/evaluate", json={"image": image("prod-1"), "now": NOW, "explain": True}
    ).json()
    [entry] = asked["results"][0]["decision"]["explanation"]
    assert [(c["path"], c["actual"], c["matched"]) for c in entry["conditions"]] == [
        ("conditions[0]", "src", True),
        ("conditions[1]", "prod-1", False),
    ]
    assert asked["results"][0]["decision"]["matched_policies"] == []
    bad = api.post("/v1/evaluate", json={"image": image("prod-1"), "explain": "yes"})
    assert _error(bad) == (422, "invalid_input")
