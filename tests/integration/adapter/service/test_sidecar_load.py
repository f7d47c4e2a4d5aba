"""``serve`` deciding through its OPA sidecar as deployed, under load, across a hot reload.

As deployed: ``deploy/config.yaml``'s ``opa`` section and evaluation timeout, the sidecar
polling at ``deploy/opa.yaml``'s interval. Issue 14: with the old settings 98-100 % of
decisions under load came from the embedded engine, and answers carried the sidecar's cached
revision whoever decided. Here every answer is checked against the revision it names: the
reload changes the target repository, so an answer's actions show which bundle decided.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.topology import (
    TOKEN,
    TopologyFactory,
    deployed_opa_settings,
    wait_for,
)
from tests.integration.adapter.service.policies import image, tag_policy

pytestmark = pytest.mark.opa
NOW = "2026-11-23T12:00:00Z"


def _deployed_timeout() -> str:
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).parents[4] / "deploy/config.yaml").read_text())
    return str(config["policy"]["evaluationTimeout"])


def test_decisions_through_the_sidecar_under_load_and_a_reload_are_truthful(
    topology_factory: TopologyFactory,
) -> None:
    topo = topology_factory.start(
        {"p.yaml": tag_policy("^prod-.*", target_repo="v1/{repository}")},
        adapter_uses_opa=True,
        opa_settings=deployed_opa_settings(),
        policy_settings={"evaluationTimeout": _deployed_timeout()},
    )
    api = topo.api()
    first = api.get("/v1/policies").json()["bundle"]["revision"]
    wait_for(lambda: topo.opa_revision() == first, 30, what="opa has the first bundle")
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(
            base_url=topo.adapter_url, timeout=30.0, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            i = 0
            while not stop.is_set():
                i += 1
                response = http.post(
                    "/v1/evaluate", json={"image": image(f"prod-{n}-{i}"), "now": NOW}
                )
                with lock:
                    answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    try:
        time.sleep(3)
        topo.write_policy("p.yaml", tag_policy("^prod-.*", target_repo="v2/{repository}"))
        second = wait_for(
            lambda: (r := api.get("/v1/policies").json()["bundle"]["revision"]) != first and r,
            30,
            what="the reload",
        )
        wait_for(lambda: topo.opa_revision() == second, 30, what="opa has the second bundle")
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    assert answers
    assert Counter(status for status, _ in answers) == {200: len(answers)}
    seen: Counter[tuple[str, str]] = Counter()
    by_id: dict[str, tuple[str, str]] = {}
    for _, body in answers:
        [result] = body["results"]
        engine, revision = result["engine"], result["bundle_revision"]
        assert (body["engine"], body["bundle_revision"]) == (engine, revision)
        repo = result["decision"]["actions"][0]["target_repo"]
        # the answer's content is the named revision's: v1 before the reload, v2 after
        assert (revision, repo) in {(first, "v1/team/app"), (second, "v2/team/app")}, (
            engine,
            revision,
            repo,
        )
        seen[(engine, revision)] += 1
        by_id[result["decision_id"]] = (engine, revision)
    opa_share = (seen[("opa", first)] + seen[("opa", second)]) / len(answers)
    print(f"sidecar load: {len(answers)} answers, {dict(seen)}")
    assert seen[("opa", first)] > 0 and seen[("opa", second)] > 0, seen
    assert opa_share >= 0.95, seen  # the sidecar path holds under load
    # the audit log names the same engine and revision for every decision
    records = [json.loads(line) for line in (topo.root / "audit.jsonl").read_text().splitlines()]
    audited = {
        r["decision_id"]: (r["engine"], r["bundle_revision"])
        for r in records
        if r["kind"] == "decision"
    }
    assert all(audited[d] == p for d, p in by_id.items())
    # nothing but JSON records on serve's output
    for line in topo.logs().splitlines():
        json.loads(line)
