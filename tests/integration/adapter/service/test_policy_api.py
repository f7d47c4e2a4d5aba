"""Scoped tokens and the policy API of a real ``serve`` process (real files, real registry).

* every endpoint x every scope: allowed, or 403 naming the missing scope; 401 for an
  unknown or missing token;
* writes go through validate -> build -> tests -> publish and land as one file per
  policy, atomically; the change log names the token;
* concurrent writers with the same If-Match: exactly one wins, the others get 412;
* a write that fails validation changes nothing on disk and answers the problems with
  their line numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapter.config import ServeSettings
from adapter.service.auth import SCOPES, hash_token, load_tokens
from migrate.core.errors import ConfigError
from tests.fixtures.images import push_image
from tests.fixtures.topology import Topology, TopologyFactory
from tests.integration.adapter.service.policies import image, tag_policy

pytestmark = pytest.mark.registry

NOW = "2026-11-23T12:00:00Z"
#: one token per scope, plus one with all of them
TOKENS = {scope: f"token-for-{scope.replace(':', '-')}-0123456789" for scope in SCOPES}
ADMIN = "token-admin-with-every-scope-0123456789"
PROD = tag_policy("^prod-.*")


def _tokens_file(root: Path) -> Path:
    entries = [
        {"name": f"only-{scope.replace(':', '-')}", "sha256": hash_token(t), "scopes": [scope]}
        for scope, t in TOKENS.items()
    ]
    entries.append({"name": "admin", "sha256": hash_token(ADMIN), "scopes": list(SCOPES)})
    path = root / "tokens.yaml"
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return path


@pytest.fixture
def topo(topology_factory: TopologyFactory, tmp_path: Path) -> Topology:
    return topology_factory.start(
        {"prod.yaml": PROD}, opa=False, serve={"tokens_file": str(_tokens_file(tmp_path))}
    )


def _client(topo: Topology, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(base_url=topo.adapter_url, timeout=60.0, headers=headers)
    topo.clients.append(client)
    return client


def _revision(topo: Topology) -> str:
    response = _client(topo, ADMIN).get("/v1/policies")
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag == f'"{response.json()["bundle"]["revision"]}"'
    return etag


def _policy(policy_id: str, pattern: str, repo: str = "mirror/{repository}") -> str:
    return tag_policy(pattern, policy_id=policy_id, target_repo=repo)


def _changes(topo: Topology) -> list[dict[str, Any]]:
    text = (topo.root / "changes.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_every_endpoint_by_every_scope(topo: Topology) -> None:
    push_image(topo.src, "team/app", "prod-1")
    new_policy = _policy("added", "^added-.*")
    # (method, path, request kwargs, the scope it needs, status when allowed)
    endpoints: list[tuple[str, str, dict[str, Any], str, int]] = [
        ("GET", "/bundles/freightliner.tar.gz", {}, "bundle:read", 200),
        (
            "POST",
            "/v1/evaluate",
            {"json": {"image": image("prod-1"), "now": NOW}},
            "decisions",
            200,
        ),
        (
            "POST",
            "/v1/replicate",
            {"json": {"reference": "src/team/app:prod-1", "dry_run": True}},
            "replicate",
            200,
        ),
        ("GET", "/v1/policies", {}, "policies:read", 200),
        ("GET", "/v1/policies?format=yaml", {}, "policies:read", 200),
        ("GET", "/v1/policies/prod", {}, "policies:read", 200),
        (
            "POST",
            "/v1/policies:validate",
            {"content": PROD, "headers": {"content-type": "application/yaml"}},
            "policies:read",
            200,
        ),
        ("POST", "/v1/policies:preview", {"json": {"proposed": PROD}}, "policies:read", 200),
        (
            "PUT",
            "/v1/policies/added",
            {"content": new_policy, "headers": {"if-match": "*"}},
            "policies:write",
            200,
        ),
        ("DELETE", "/v1/policies/added", {"headers": {"if-match": "*"}}, "policies:write", 200),
    ]
    for method, path, kwargs, needed, allowed_status in endpoints:
        for scope, token in TOKENS.items():
            response = _client(topo, token).request(method, path, **kwargs)
            name = f"only-{scope.replace(':', '-')}"
            if scope == needed:
                assert response.status_code == allowed_status, (method, path, response.text)
            else:
                assert response.status_code == 403, (method, path, scope, response.text)
                assert response.json() == {
                    "error": {
                        "code": "forbidden",
                        "message": f"token {name!r} lacks the scope {needed!r}",
                    }
                }
                assert f'scope="{needed}"' in response.headers["www-authenticate"]
        for token in (None, "not-a-known-token-0123456789"):
            response = _client(topo, token).request(method, path, **kwargs)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "unauthorized"
    # the two writes above were made by the policies:write token, and logged under its name
    api_changes = [c for c in _changes(topo) if c["source"] == "api"]
    assert [(c["token"], c["policies"]) for c in api_changes] == [
        ("only-policies-write", ["added", "prod"]),
        ("only-policies-write", ["prod"]),
    ]
    assert _changes(topo)[0]["source"] == "files" and _changes(topo)[0]["token"] is None


def test_token_file_problems_are_reported_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "tokens:\n"
        "  - name: sidecar\n"
        "    sha256: " + hash_token("x" * 20) + "\n"
        "    scopes: [bundle:read]\n"
        "  - name: sidecar\n"
        "    sha256: NOTHEX\n"
        "    scopes: [bundle:write]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_tokens(ServeSettings(tokens_file=str(path)))
    assert caught.value.message == f"{path}: 3 problem(s) in the token file"
    assert caught.value.lines() == [
        f"{path}:5: tokens[1].name: duplicate token name 'sidecar'",
        f"{path}:6: tokens[1].sha256: sha256 must be 64 lower-case hex digits (the token's SHA-256)",
        f"{path}:7: tokens[1].scopes[0]: unknown scope 'bundle:write' (known: bundle:read, decisions, replicate, policies:read, policies:write)",
    ]


def test_write_read_export_delete_through_the_pipeline(topo: Topology) -> None:
    api = _client(topo, ADMIN)
    before = _revision(topo)
    assert api.put("/v1/policies/release", content=_policy("release", "^v.*")).status_code == 428
    response = api.put(
        "/v1/policies/release",
        content=_policy("release", "^v.*"),
        headers={"if-match": before, "content-type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    target = topo.policies / "release.yaml"
    assert body == {
        "policy": "release",
        "action": "written",
        "file": str(target),
        "revision": body["revision"],
        "previous_revision": before.strip('"'),
        "changed": True,
        "tests_passed": body["tests_passed"],
        "token": "admin",
    }
    assert response.headers["etag"] == f'"{body["revision"]}"'
    assert target.read_text() == _policy("release", "^v.*")
    assert sorted(p.name for p in topo.policies.iterdir()) == ["prod.yaml", "release.yaml"]
    # The bundle served is the one published, and it decides with the new policy.
    decided = api.post("/v1/evaluate", json={"image": image("v1"), "now": NOW}).json()
    assert decided["bundle_revision"] == body["revision"]
    assert decided["results"][0]["decision"]["matched_policies"] == ["release"]
    # The watcher sees the written file as already published: no second revision.
    topo_rev = api.get("/v1/policies").json()["bundle"]["revision"]
    assert topo_rev == body["revision"]
    # JSON bodies too; GET gives the policy and its file.
    as_json = json.dumps(yaml.safe_load(_policy("release", "^v[0-9]+"))["policies"][0])
    second = api.put(
        "/v1/policies/release",
        content=as_json,
        headers={"if-match": response.headers["etag"], "content-type": "application/json"},
    )
    assert second.status_code == 200, second.text
    # the same text again: nothing changes, no new revision
    same = api.put(
        "/v1/policies/release",
        content=as_json,
        headers={"if-match": second.headers["etag"], "content-type": "application/json"},
    )
    assert (same.status_code, same.json()["changed"], same.headers["etag"]) == (
        200,
        False,
        second.headers["etag"],
    )
    got = api.get("/v1/policies/release").json()
    assert (got["file"], got["api_managed"], got["policy"]["conditions"][0]["value"]) == (
        str(target),
        True,
        "^v[0-9]+",
    )
    exported = api.get("/v1/policies", params={"format": "yaml"})
    assert exported.headers["content-type"] == "application/yaml"
    document = yaml.safe_load(exported.text)
    assert [p["id"] for p in document["policies"]] == ["prod", "release"]
    # A policy that lives in a file of its own can be deleted; the file goes.
    deleted = api.delete("/v1/policies/release", headers={"if-match": second.headers["etag"]})
    assert deleted.status_code == 200 and deleted.json()["action"] == "deleted"
    assert not target.exists()
    assert [p["id"] for p in api.get("/v1/policies").json()["policies"]] == ["prod"]
    assert api.get("/v1/policies/release").status_code == 404
    assert [c["token"] for c in _changes(topo)] == [None, "admin", "admin", "admin"]


def test_concurrent_writers_exactly_one_wins(topo: Topology) -> None:
    etag = _revision(topo)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def write(n: int) -> None:
        client = httpx.Client(base_url=topo.adapter_url, timeout=120.0)
        barrier.wait()
        response = client.put(
            f"/v1/policies/writer-{n}",
            content=_policy(f"writer-{n}", f"^w{n}-.*"),
            headers={"if-match": etag, "authorization": f"Bearer {ADMIN}"},
        )
        client.close()
        results.append(response.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [200, 412, 412, 412]
    written = sorted(p.name for p in topo.policies.iterdir() if p.name.startswith("writer-"))
    assert len(written) == 1
    current = _client(topo, ADMIN).get("/v1/policies").json()
    assert sorted(p["id"] for p in current["policies"]) == [
        "prod",
        written[0].removesuffix(".yaml"),
    ]


def test_failing_write_changes_nothing_and_lists_problems_with_lines(topo: Topology) -> None:
    api = _client(topo, ADMIN)
    etag = _revision(topo)
    snapshot = {p.name: p.read_bytes() for p in topo.policies.iterdir()}
    changes = len(_changes(topo))
    bad = (
        "id: broken\n"
        "priority: 5\n"
        "conditions:\n"
        "  - type: tag\n"
        "    operator: sounds_like\n"
        "    value: x\n"
        "actions:\n"
        "  - type: replicate\n"
        "    target_registry: dst\n"
        "    bogus: 1\n"
    )
    response = api.put("/v1/policies/broken", content=bad, headers={"if-match": etag})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_policy"
    target = str(topo.policies / "broken.yaml")
    # schema and semantic problems in one pass (issue 17)
    assert [(p["file"], p["line"], p["policy_id"], p["field"]) for p in error["problems"]] == [
        (target, 10, "broken", "actions[0].bogus"),
        (target, 5, "broken", "conditions[0].operator"),
    ]
    # the semantic problem alone once the shape is right
    response = api.put(
        "/v1/policies/broken", content=bad.replace("    bogus: 1\n", ""), headers={"if-match": etag}
    )
    assert response.status_code == 422
    [problem] = response.json()["error"]["problems"]
    assert (problem["file"], problem["line"], problem["policy_id"], problem["field"]) == (
        target,
        5,
        "broken",
        "conditions[0].operator",
    )
    assert problem["text"].startswith(f"{target}:5: policy 'broken': conditions[0].operator: ")
    # a YAML syntax error, with its line
    response = api.put(
        "/v1/policies/broken", content="id: broken\nconditions: [\n", headers={"if-match": etag}
    )
    assert response.status_code == 422
    assert [p["line"] for p in response.json()["error"]["problems"]] == [3]
    # a duplicate of a policy defined in another file
    dup = _policy("prod", "^x")
    response = api.put(
        "/v1/policies/prod",
        content=dup.replace("id: prod", "id: other"),
        headers={"if-match": etag},
    )
    assert response.status_code == 422
    assert "exactly the policy 'prod'" in response.json()["error"]["message"]
    # ids that would name another file are refused before anything is read
    for raw in ("..%2F..%2Fescape", "abc%0A", ".hidden", "a%2Fb"):
        response = api.put(f"/v1/policies/{raw}", content=PROD, headers={"if-match": etag})
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_input"), (
            raw
        )
    # nothing on disk changed, no revision was published, nothing was logged
    assert {p.name: p.read_bytes() for p in topo.policies.iterdir()} == snapshot
    assert _revision(topo) == etag
    assert len(_changes(topo)) == changes
    # validate answers the same problems without a file name on disk
    validated = api.post("/v1/policies:validate", content=bad)
    assert validated.status_code == 422
    assert [(p["file"], p["line"]) for p in validated.json()["error"]["problems"]] == [
        ("<request>", 10),
        ("<request>", 5),
    ]
    ok = api.post("/v1/policies:validate", content=PROD)
    assert (
        ok.status_code == 200 and ok.json()["valid"] is True and ok.json()["policies"] == ["prod"]
    )


def test_a_policy_in_a_shared_file_is_not_rewritten(
    topology_factory: TopologyFactory, tmp_path: Path
) -> None:
    two = _policy("one", "^a") + _policy("two", "^b").replace("policies:\n", "")
    topo = topology_factory.start(
        {"both.yaml": two}, opa=False, serve={"tokens_file": str(_tokens_file(tmp_path))}
    )
    api = _client(topo, ADMIN)
    response = api.put("/v1/policies/one", content=_policy("one", "^c"), headers={"if-match": "*"})
    assert response.status_code == 409
    assert response.json()["error"]["message"].startswith(
        f"policy 'one' is defined in {topo.policies / 'both.yaml'} with other policies (two)"
    )
    assert (topo.policies / "both.yaml").read_text() == two


def _cli(*args: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from adapter.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "FREIGHTLINER_API_TOKEN": token},
    )


def test_cli_export_and_apply(topo: Topology, tmp_path: Path) -> None:
    exported = tmp_path / "all.yaml"
    result = _cli(
        "policy",
        "export",
        "--server",
        topo.adapter_url,
        "-o",
        str(exported),
        token=TOKENS["policies:read"],
    )
    assert result.returncode == 0, result.stderr
    assert [p["id"] for p in yaml.safe_load(exported.read_text())["policies"]] == ["prod"]
    change = tmp_path / "change.yaml"
    change.write_text(
        _policy("prod", "^prod-[0-9]+") + _policy("nightly", "^nightly-").replace("policies:\n", "")
    )
    # a read token cannot apply
    denied = _cli(
        "policy", "apply", str(change), "--server", topo.adapter_url, token=TOKENS["policies:read"]
    )
    assert denied.returncode == 6
    assert denied.stderr.splitlines() == [
        "error: policy nightly: HTTP 403: token 'only-policies-read' lacks the scope 'policies:write'"
    ]
    applied = _cli("policy", "apply", str(change), "--server", topo.adapter_url, token=ADMIN)
    assert applied.returncode == 0, applied.stderr
    lines = applied.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        f"policy nightly: written {topo.policies / 'nightly.yaml'}",
        f"policy prod: written {topo.policies / 'prod.yaml'}",
    ]
    assert sorted(p.name for p in topo.policies.iterdir()) == ["nightly.yaml", "prod.yaml"]
    # a broken file is refused locally, with its own line numbers, before any request
    broken = tmp_path / "broken.yaml"
    broken.write_text("policies:\n  - id: x\n    priority: high\n")
    refused = _cli("policy", "apply", str(broken), "--server", topo.adapter_url, token=ADMIN)
    assert refused.returncode == 3
    assert refused.stderr.splitlines() == [
        f"error: {broken}:3: policy 'x': priority: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    # valid locally, refused by the server's pipeline (its generated test fails): exit 3
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        _policy("wrong", "^w-")
        + "    examples:\n"
        + "      - image: {registry: src, repository: a, tag: x-1}\n"
        + "        matched: true\n"
    )
    before = sorted(p.name for p in topo.policies.iterdir())
    failed = _cli("policy", "apply", str(wrong), "--server", topo.adapter_url, token=ADMIN)
    assert failed.returncode == 3, failed.stderr
    lines = failed.stderr.splitlines()
    assert lines[0] == "error: policy wrong: 1 bundle test(s) failed"
    assert lines[1].startswith("error: 1 bundle test(s) failed")
    assert sorted(p.name for p in topo.policies.iterdir()) == before
