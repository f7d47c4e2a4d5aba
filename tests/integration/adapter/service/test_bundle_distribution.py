"""Bundle distribution to a real polling OPA: edits reach it, broken edits never do."""

from __future__ import annotations

import json
import time

import httpx

from tests.fixtures.topology import TOKEN, TopologyFactory, wait_for
from tests.integration.adapter.service.policies import image, tag_policy


def _replicates(decision: dict[str, object]) -> bool:
    return decision["should_replicate"] is True


def test_policy_edit_reaches_the_polling_opa_within_5s(topology_factory: TopologyFactory) -> None:
    topo = topology_factory.start({"prod.yaml": tag_policy("^prod-.*")})
    first = topo.opa_revision()
    assert first == topo.api().get("/v1/policies").json()["bundle"]["revision"]
    assert _replicates(topo.opa_decision(image("prod-1")))
    assert not _replicates(topo.opa_decision(image("release-1")))

    edited_at = time.monotonic()
    topo.write_policy("prod.yaml", tag_policy("^release-.*"))
    wait_for(
        lambda: _replicates(topo.opa_decision(image("release-1"))),
        5.0,
        what="the edited policy at OPA",
    )
    assert time.monotonic() - edited_at < 5.0
    assert not _replicates(topo.opa_decision(image("prod-1")))
    second = topo.opa_revision()
    assert second != first
    assert second == topo.api().get("/v1/policies").json()["bundle"]["revision"]
    changes = [json.loads(line) for line in (topo.root / "changes.jsonl").read_text().splitlines()]
    assert [(c["revision"], c["previous_revision"]) for c in changes] == [
        (first, None),
        (second, first),
    ]
    assert changes[1]["files_changed"] == [str(topo.policies / "prod.yaml")]
    assert topo.metrics()["freightliner_policy_bundle_rebuilds_total"] == 1


def test_broken_edits_never_reach_opa(topology_factory: TopologyFactory) -> None:
    topo = topology_factory.start({"prod.yaml": tag_policy("^prod-.*")})
    good = topo.opa_revision()
    api = topo.api()

    # 1. invalid YAML; 2. valid YAML, invalid RE2 pattern; 3. valid policy whose example test fails.
    broken = [
        tag_policy("^release-.*") + "  - id: [unclosed\n",
        tag_policy("^release-(.*"),
        tag_policy("^release-.*") + "    examples:\n      - image: {registry: src, repository: a, "
        "tag: prod-1}\n        matched: true\n",
    ]
    for count, text in enumerate(broken, start=1):
        topo.write_policy("prod.yaml", text)
        wait_for(
            lambda c=count: (
                topo.metrics()["freightliner_policy_bundle_rebuild_failures_total"] == c
            ),
            5.0,
            what=f"rejection {count}",
        )
        ready = httpx.get(f"{topo.adapter_url}/ready", timeout=5).json()
        assert ready["ready"] is True
        assert ready["checks"]["bundle"]["revision"] == good
        assert ready["checks"]["bundle"]["last_rejected_change"]["message"]
        # OPA keeps polling (304s) and keeps deciding from the last good revision.
        time.sleep(1.0)
        assert topo.opa_revision() == good
        assert _replicates(topo.opa_decision(image("prod-1")))
        assert not _replicates(topo.opa_decision(image("release-1")))
        assert api.get("/v1/policies").json()["bundle"]["revision"] == good

    rejected = api.get("/v1/policies").json()["last_rejected_change"]
    assert rejected["message"] == "1 bundle test(s) failed"
    # OPA polls at the deployed 1-3 s: its 304s keep coming while the broken edits are refused.
    wait_for(
        lambda: topo.metrics()['freightliner_policy_bundle_downloads_total{status="304"}'] >= 3,
        timeout=15,
        what="three 304 polls",
    )

    topo.write_policy("prod.yaml", tag_policy("^release-.*"))
    wait_for(
        lambda: _replicates(topo.opa_decision(image("release-1"))), 5.0, what="the fixed policy"
    )
    assert topo.opa_revision() != good
    assert api.get("/v1/policies").json()["last_rejected_change"] is None


def test_bundle_endpoint_etag_and_auth(topology_factory: TopologyFactory) -> None:
    topo = topology_factory.start({"prod.yaml": tag_policy("^prod-.*")}, opa=False)
    url = f"{topo.adapter_url}/bundles/freightliner.tar.gz"
    assert httpx.get(url).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = httpx.get(url, headers=auth)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/gzip"
    revision = topo.api().get("/v1/policies").json()["bundle"]["revision"]
    assert first.headers["etag"] == f'"{revision}"'
    again = httpx.get(url, headers={**auth, "If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert httpx.get(url, headers={**auth, "If-None-Match": '"other"'}).content == first.content
    assert httpx.get(f"{topo.adapter_url}/bundles/other.tar.gz", headers=auth).status_code == 404
