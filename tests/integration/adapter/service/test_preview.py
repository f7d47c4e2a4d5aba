"""Impact preview on a real registry: ``POST /v1/policies:preview`` and ``policy preview``.

The current policy replicates ``prod-*`` tags; the proposal changes it to ``rc-*``. On a
registry holding prod-1..3, rc-1..2 and dev-1 that stops 3 images and starts 2, and the
preview says exactly that, with the responsible policy, and publishes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapter.service.auth import SCOPES, hash_token
from tests.fixtures.images import push_image
from tests.fixtures.topology import Topology, TopologyFactory
from tests.integration.adapter.service.policies import image, tag_policy

pytestmark = pytest.mark.registry

TOKEN = "preview-admin-token-0123456789"
NOW = "2026-11-23T12:00:00Z"
TAGS = ["prod-1", "prod-2", "prod-3", "rc-1", "rc-2", "dev-1"]


@pytest.fixture
def topo(topology_factory: TopologyFactory, tmp_path: Path) -> Topology:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {"tokens": [{"name": "admin", "sha256": hash_token(TOKEN), "scopes": list(SCOPES)}]}
        )
    )
    topo = topology_factory.start(
        {"prod.yaml": tag_policy("^prod-.*")}, opa=False, serve={"tokens_file": str(tokens)}
    )
    for n, tag in enumerate(TAGS):
        push_image(topo.src, "team/app", tag, seed=n)
    return topo


def _api(topo: Topology) -> httpx.Client:
    client = httpx.Client(
        base_url=topo.adapter_url, timeout=120.0, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    topo.clients.append(client)
    return client


def _state(topo: Topology) -> tuple[Any, ...]:
    api = _api(topo)
    bundle = api.get("/bundles/freightliner.tar.gz")
    return (
        api.get("/v1/policies").json()["bundle"]["revision"],
        bundle.headers["etag"],
        {p.name: p.read_bytes() for p in topo.policies.iterdir()},
        (topo.root / "changes.jsonl").read_text(),
    )


def _refs(changes: list[dict[str, Any]], kind: str) -> list[str]:
    return [f"{c['image']['repository']}:{c['image']['tag']}" for c in changes if c["kind"] == kind]


def test_preview_reports_three_stops_and_two_starts_and_publishes_nothing(topo: Topology) -> None:
    before = _state(topo)
    proposed = tag_policy("^rc-.*")  # the same policy id, "prod", now for rc-* tags
    response = _api(topo).post(
        "/v1/policies:preview",
        json={
            "proposed": proposed,
            "mode": "merge",
            "repositories": ["src/team/app"],
            "limit": 0,
            "now": NOW,
        },
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["summary"] == {
        "start": 2,
        "stop": 3,
        "targets_changed": 0,
        "blocked": 0,
        "unblocked": 0,
    }
    assert (result["images"], result["decided"], result["sources"]) == (6, 6, {"registry": 6})
    changes = result["changes"]
    assert _refs(changes, "start") == ["team/app:rc-1", "team/app:rc-2"]
    assert _refs(changes, "stop") == ["team/app:prod-1", "team/app:prod-2", "team/app:prod-3"]
    assert {tuple(c["policies"]) for c in changes} == {("prod",)}
    start = next(c for c in changes if c["kind"] == "start")
    assert start["current"]["targets"] == []
    assert start["proposed"]["targets"] == ["dst/mirror/team/app:rc-1"]
    assert result["published"] is False
    assert result["proposed_revision"] != result["current_revision"] == before[0]
    assert _state(topo) == before  # nothing published, nothing written, nothing logged


def test_preview_of_blocks_target_changes_and_recent_images(topo: Topology) -> None:
    api = _api(topo)
    # An image the service decided recently (the audit log), not in the chosen repository.
    seen = image("prod-9", repository="team/seen")
    assert api.post("/v1/evaluate", json={"image": seen, "now": NOW}).status_code == 200
    before = _state(topo)
    proposed = tag_policy("^prod-.*", target_repo="archive/{repository}") + (
        "  - id: no-dev\n"
        "    priority: 100\n"
        "    conditions:\n"
        "      - {type: tag, operator: matches, value: '^dev-'}\n"
        "    actions:\n"
        "      - {type: block, target_registry: dst, parameters: {reason: no dev images}}\n"
    )
    result = api.post(
        "/v1/policies:preview",
        json={"proposed": proposed, "repositories": ["src/team/app"], "window": "1h", "now": NOW},
    ).json()
    assert result["summary"] == {
        "start": 0,
        "stop": 0,
        "targets_changed": 4,
        "blocked": 1,
        "unblocked": 0,
    }
    assert result["sources"] == {"audit": 1, "registry": 6}
    changes = result["changes"]
    assert _refs(changes, "blocked") == ["team/app:dev-1"]
    blocked = next(c for c in changes if c["kind"] == "blocked")
    assert (blocked["policies"], blocked["current"]["outcome"], blocked["proposed"]["outcome"]) == (
        ["no-dev"],
        "no_match",
        "block",
    )
    assert _refs(changes, "targets_changed") == [
        "team/app:prod-1",
        "team/app:prod-2",
        "team/app:prod-3",
        "team/seen:prod-9",
    ]
    seen_change = next(c for c in changes if c["image"]["repository"] == "team/seen")
    assert seen_change["source"] == "audit"
    assert seen_change["current"]["targets"] == ["dst/mirror/team/seen:prod-9"]
    assert seen_change["proposed"]["targets"] == ["dst/archive/team/seen:prod-9"]
    # a proposal that does not validate: 422 with the problem's line, nothing else
    bad = api.post("/v1/policies:preview", json={"proposed": "- id: x\n  priority: high\n"})
    assert bad.status_code == 422
    assert [(p["file"], p["line"]) for p in bad.json()["error"]["problems"]] == [("<request>", 2)]
    assert _state(topo) == before


def test_cli_preview_against_the_config_registries(topo: Topology, tmp_path: Path) -> None:
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(tag_policy("^rc-.*"))
    result = subprocess.run(
        [
            sys.executable, "-c", "from adapter.cli.main import main; main()",
            "policy", "preview", str(proposed), "--config", str(topo.config_path),
            "--current", str(topo.policies), "--repository", "src/team/app",
            "--mode", "merge", "--now", NOW, "--output", "json",
        ],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"] == {
        "start": 2,
        "stop": 3,
        "targets_changed": 0,
        "blocked": 0,
        "unblocked": 0,
    }
    text = subprocess.run(
        [
            sys.executable, "-c", "from adapter.cli.main import main; main()",
            "policy", "preview", str(proposed), "--config", str(topo.config_path),
            "--current", str(topo.policies), "--repository", "src/team/app",
            "--mode", "merge", "--now", NOW,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert text.stdout.splitlines() == [
        "6 image(s) decided: 2 start, 3 stop, 0 targets changed, 0 blocked, 0 unblocked",
        "start           src/team/app:rc-1  - -> dst/mirror/team/app:rc-1  [prod]",
        "start           src/team/app:rc-2  - -> dst/mirror/team/app:rc-2  [prod]",
        "stop            src/team/app:prod-1  dst/mirror/team/app:prod-1 -> -  [prod]",
        "stop            src/team/app:prod-2  dst/mirror/team/app:prod-2 -> -  [prod]",
        "stop            src/team/app:prod-3  dst/mirror/team/app:prod-3 -> -  [prod]",
    ]
