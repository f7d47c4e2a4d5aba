"""A real ``serve`` process fed hostile policy files and hostile API bodies.

Each hostile file dropped into the watched directory is rejected and recorded
(/ready, /v1/policies, the rebuild-failures metric, the log) while the service
keeps answering with the last good bundle and its memory stays bounded.
Reproduced on main before the fix: 40,000 nested '[' killed serve (SIGSEGV, no
log line); an alias bomb grew it to 1.7 GB; '\\C' was published with /ready
green; 100k-deep JSON, '"now": "yesterday"' and a lone '\\ud800' answered 500.
"""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.topology import Topology, TopologyFactory, wait_for
from tests.integration.adapter.service.policies import image, tag_policy
from tests.integration.hostile.test_hostile_corpus import POLICY_CASES

NOW = "2026-11-23T12:00:00Z"
RSS_LIMIT_KB = 1024 * 1024  # 1 GiB


@pytest.fixture
def topo(topology_factory: TopologyFactory) -> Topology:
    return topology_factory.start(
        {"prod.yaml": tag_policy("^prod-.*")}, opa=False, serve={"max_request_bytes": 1 << 20}
    )


def _rss_kb(topo: Topology) -> int:
    assert topo.serve_proc is not None and topo.serve_proc.poll() is None, topo.logs()[-3000:]
    with open(f"/proc/{topo.serve_proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _replicates(topo: Topology, tag: str) -> bool:
    response = topo.api().post("/v1/evaluate", json={"image": image(tag), "now": NOW})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    return bool(result["decision"]["should_replicate"])


def test_hostile_policy_files_are_rejected_and_the_last_good_bundle_stays(topo: Topology) -> None:
    api = topo.api()
    good = api.get("/v1/policies").json()["bundle"]["revision"]
    for count, (name, text, expected) in enumerate(POLICY_CASES, start=1):
        topo.write_policy("hostile.yaml", text)
        wait_for(
            lambda c=count: (
                topo.metrics()["freightliner_policy_bundle_rebuild_failures_total"] == c
            ),
            60.0,
            what=f"rejection of {name}",
        )
        ready = httpx.get(f"{topo.adapter_url}/ready", timeout=5).json()
        assert ready["ready"] is True
        assert ready["checks"]["bundle"]["revision"] == good
        rejected = api.get("/v1/policies").json()["last_rejected_change"]
        assert rejected["lines"] == [f"{topo.policies / 'hostile.yaml'}{expected}"], name
        assert _replicates(topo, "prod-1") and not _replicates(topo, "release-1")
        assert _rss_kb(topo) < RSS_LIMIT_KB, name
    assert topo.logs().count("policy change rejected; keeping the last good bundle") == len(
        POLICY_CASES
    )


def test_hostile_api_bodies_are_4xx(topo: Topology) -> None:
    api = topo.api()
    headers = {"content-type": "application/json"}
    deep = api.post("/v1/evaluate", content=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    assert (deep.status_code, deep.json()["error"]) == (
        422,
        {
            "code": "invalid_input",
            "message": "the request body: JSON nests more than 64 levels deep (input limits)",
        },
    )
    yesterday = api.post("/v1/evaluate", json={"image": image("prod-1"), "now": "yesterday"})
    assert (yesterday.status_code, yesterday.json()["error"]) == (
        422,
        {
            "code": "invalid_input",
            "message": "'now': 'yesterday' is not an RFC 3339 time such as 2026-01-01T00:00:00Z",
        },
    )
    body = b'{"image": {"registry": "src", "repository": "team/app", "tag": "\\ud800"}}'
    surrogate = api.post("/v1/evaluate", content=body, headers=headers)
    assert (surrogate.status_code, surrogate.json()["error"]["code"]) == (422, "invalid_input")
    huge = api.post("/v1/evaluate", json={"image": {**image("prod-1"), "size": 10**41}})
    assert (huge.status_code, huge.json()["error"]["code"]) == (422, "invalid_input")
    assert (
        "image.size: Input should be less than or equal to 9223372036854775807"
        in (huge.json()["error"]["message"])
    )
    too_big = api.post("/v1/evaluate", content=b" " * ((1 << 20) + 1), headers=headers)
    assert too_big.status_code == 413
    assert _replicates(topo, "prod-1")
