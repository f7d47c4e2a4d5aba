"""Enforcement integrity (issue 10), end to end through the real CLI.

A hostile source registry (:mod:`tests.fixtures.hostile`, a real HTTP server)
next to a real ``docker-registry`` target. For each case: the target's whole
catalog and every tag's digest are read before and after with plain httpx
(not the code under test) and compared, the exit code and the reason line
are checked, and the hostile servers' records show which ``Authorization``
reached which origin.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.hostile import HostileRegistry
from tests.fixtures.images import push_image
from tests.fixtures.registry import RegistryFactory, RunningRegistry

pytestmark = [pytest.mark.registry]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
SCANNED = {"security.scan.status": "passed"}
Snapshot = dict[str, dict[str, str]]
Start = Callable[..., HostileRegistry]

POLICIES = {
    "policies": [
        {
            "id": "mirror-team",
            "priority": 10,
            "conditions": [{"type": "repository", "operator": "matches", "value": "^team/"}],
            "actions": [
                {
                    "type": "replicate",
                    "target_registry": "dst",
                    "target_repo": "mirror/{repository}",
                }
            ],
        },
        {
            "id": "scanned-only",
            "priority": 100,
            "conditions": [
                {"type": "label", "operator": "not_exists", "value": "security.scan.status"}
            ],
            "actions": [{"type": "block", "parameters": {"reason": "Missing security scan"}}],
        },
    ]
}


def snapshot(target: RunningRegistry) -> Snapshot:
    """Every repository of the target, every tag's manifest digest (plain httpx)."""
    state: Snapshot = {}
    with target.http() as http:
        for repository in http.get("/v2/_catalog", params={"n": "1000"}).json()["repositories"]:
            tags = http.get(f"/v2/{repository}/tags/list").json().get("tags") or []
            state[repository] = {
                tag: http.head(
                    f"/v2/{repository}/manifests/{tag}",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                ).headers["Docker-Content-Digest"]
                for tag in tags
            }
    return {r: t for r, t in state.items() if t}


def run(
    tmp: Path,
    reference: str,
    source: HostileRegistry,
    target: RunningRegistry,
    *,
    env: dict[str, str] | None = None,
    registry: dict[str, Any] | None = None,
    policies: dict[str, Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "policy": {"maxConcurrency": 4},
                "registries": {
                    "src": {"url": source.url, **(registry or {})},
                    "dst": {"url": target.url},
                },
            }
        )
    )
    policy_file = tmp / "policies.yaml"
    policy_file.write_text(yaml.safe_dump(policies or POLICIES))
    command = [CLI, "replicate", reference, "--config", str(config), "--policies", str(policy_file)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), **(env or {})},
    )


@pytest.fixture
def target(registry_factory: RegistryFactory) -> RunningRegistry:
    """A fresh real registry holding prod/critical:latest and mirror/team/app:latest."""
    running = registry_factory.start(name="dst")
    push_image(running, "prod/critical", "latest", labels=SCANNED, seed=90)
    push_image(running, "mirror/team/app", "latest", labels=SCANNED, seed=91)
    return running


def _changed(before: Snapshot, after: Snapshot) -> dict[str, dict[str, str]]:
    """Tags that appeared or changed digest (nothing may disappear)."""
    for repository, tags in before.items():
        for tag, digest in tags.items():
            assert after.get(repository, {}).get(tag) == digest, f"{repository}:{tag} changed"
    return {
        r: {t: d for t, d in tags.items() if before.get(r, {}).get(t) != d}
        for r, tags in after.items()
        if any(before.get(r, {}).get(t) != d for t, d in tags.items())
    }


def test_catalog_traversal_never_leaves_the_rendered_target(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    good = source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    evil = "team/app/../../../prod/critical"
    source.add_image(evil, "latest", labels=SCANNED, seed=2)
    # a hostile registry also answers the collapsed path an HTTP library would send
    source.add_image("prod/critical", "latest", labels=SCANNED, seed=2)
    source.catalog = ["team/app", evil, "team/" + "x" * 300, "team/a\x07pp", ""]
    before = snapshot(target)
    result = run(tmp_path, "src", source, target)
    assert _changed(before, snapshot(target)) == {"mirror/team/app": {"prod-1": good}}
    assert result.returncode == 7, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"failed src/{evil}: registry 'src': invalid repository name '{evil}': path component "
        "3 '..' is not [a-z0-9]+ joined by '.', '_', '__' or '-'"
    ) in lines
    assert "summary: replicated 1, skipped 0, blocked 0, failed 4" in lines
    assert "failed src/: registry 'src': repository name is empty" in lines
    assert (
        "failed src/team/a\\x07pp: registry 'src': invalid repository name 'team/a\\x07pp': "
        in ("\n".join(lines))
    )
    assert any("is 305 characters long (at most 255)" in line for line in lines)
    assert "Traceback" not in result.stderr
    # nothing was ever requested outside the names the grammar accepts
    assert not [s.path for s in source.seen if "/.." in s.path]


def test_crafted_tags_fail_alone_and_nothing_else_is_written(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    good = source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    crafted = ["prod-evil/../latest", "prod-3#", "prod-4?x=1", "prod-\n5", "prod-\x1b[31m", ""]
    crafted.append("p" * 300)
    for truncated in ("latest", "prod-3", "prod-4", "prod-"):  # what normalisation would ask for
        source.add_image("team/app", truncated, labels=SCANNED, seed=3)
    source.tags["team/app"] = ["prod-1", *crafted]
    before = snapshot(target)
    result = run(tmp_path, "src/team/app", source, target)
    assert result.returncode == 7, result.stderr
    assert _changed(before, snapshot(target)) == {"mirror/team/app": {"prod-1": good}}
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
    assert len(failed) == len(crafted)
    assert (
        "failed src/team/app:prod-\\n5: registry 'src': team/app: invalid tag 'prod-\\n5': "
        "expected [A-Za-z0-9_] then up to 127 of [A-Za-z0-9._-]" in failed
    )
    assert "\x1b" not in result.stdout  # a registry's name cannot drive the terminal
    assert any("tag is empty" in line for line in failed)
    assert any("is 300 characters long (at most 128)" in line for line in failed)
    assert "summary: replicated 1, skipped 0, blocked 0, failed 7" in result.stdout


def test_traversal_in_a_cli_reference_is_a_usage_error(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    source.add_image("secret/app", "prod-1", labels=SCANNED, seed=1)
    before = snapshot(target)
    result = run(tmp_path, "src/team/../secret/app:prod-1", source, target)
    assert result.returncode == 2
    assert (
        "Error: invalid image reference 'src/team/../secret/app:prod-1': invalid repository "
        "name 'team/../secret/app': path component 2 '..' is not [a-z0-9]+ joined by '.', "
        "'_', '__' or '-'" in result.stderr
    )
    assert snapshot(target) == before
    assert source.seen == []


def test_a_tag_moved_between_decision_and_copy_copies_the_decided_digest(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    decided = source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    unscanned = source.add_image("team/app", "other", labels={}, seed=2)
    source.tags["team/app"] = ["prod-1"]
    config_blob = json.loads(source.manifests[decided][0])["config"]["digest"]

    def move(method: str, path: str) -> None:  # the decision has read the config: move the tag
        if method == "GET" and path.endswith(config_blob):
            source.point("team/app", "prod-1", unscanned)

    source.hooks.append(move)
    before = snapshot(target)
    result = run(tmp_path, "src/team/app:prod-1", source, target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _changed(before, snapshot(target)) == {"mirror/team/app": {"prod-1": decided}}
    assert result.stdout.splitlines()[0] == (
        "replicated src/team/app:prod-1 -> dst/mirror/team/app:prod-1 (warning: source tag "
        f"moved since the decision: decided {decided}, now {unscanned}; copied {decided})"
    )
    # what the copy read from the source: only the decided digest, never the tag
    manifest_reads = [s.path for s in source.seen if s.method == "GET" and "/manifests/" in s.path]
    assert manifest_reads == [f"/v2/team/app/manifests/{decided}"] * 2  # decision, copy


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_a_link_to_another_origin_gets_no_credentials_and_fails_that_listing(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path, auth: str
) -> None:
    elsewhere = hostile_factory()
    source = hostile_factory(auth=auth)
    good = source.add_image("team/good", "prod-1", labels=SCANNED, seed=1)
    source.add_image("team/app", "prod-2", labels=SCANNED, seed=2)
    source.catalog = ["team/app", "team/good"]
    source.links["/v2/team/app/tags/list"] = f"{elsewhere.url}/v2/team/app/tags/list?last=x"
    if auth == "basic":
        env = {"FREIGHTLINER_REGISTRY_SRC_USERNAME": "alice"}
        env["FREIGHTLINER_REGISTRY_SRC_PASSWORD"] = "wonderland"
        registry: dict[str, Any] = {}
        sent = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    else:
        env, registry, sent = {"SRC_TOKEN": source.token}, {"token_env": "SRC_TOKEN"}, ""
        sent = f"Bearer {source.token}"
    before = snapshot(target)
    result = run(tmp_path, "src", source, target, env=env, registry=registry)
    assert elsewhere.seen == []  # never followed, with or without credentials
    assert result.returncode == 7, result.stdout + result.stderr
    assert _changed(before, snapshot(target)) == {"mirror/team/good": {"prod-1": good}}
    assert (
        f"failed src/team/app: registry 'src': list tags of team/app: Link to another origin "
        f"'{elsewhere.url}/v2/team/app/tags/list?last=x' refused (the registry is {source.url})"
    ) in result.stdout.splitlines()
    assert set(source.authorizations()) == {sent}


def test_a_link_loop_stops_with_a_clear_error(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    loop = f"{source.url}/v2/team/app/tags/list?last=prod-1"
    source.links["/v2/team/app/tags/list"] = loop
    source.links["/v2/team/app/tags/list?last=prod-1"] = loop
    before = snapshot(target)
    result = run(tmp_path, "src/team/app", source, target)
    assert result.returncode == 7
    assert result.stdout.splitlines()[0] == (
        f"failed src/team/app: registry 'src': list tags of team/app: pagination repeats "
        f"'{loop}'; stopped"
    )
    assert snapshot(target) == before
    assert len([s for s in source.seen if "/tags/list" in s.path]) == 2


def test_a_realm_on_another_loopback_origin_gets_basic_but_the_token_stays_home(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    realm = hostile_factory()
    source = hostile_factory(auth="bearer", realm=f"{realm.url}/token")
    good = source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    env = {"FREIGHTLINER_REGISTRY_SRC_USERNAME": "alice"}
    env["FREIGHTLINER_REGISTRY_SRC_PASSWORD"] = "wonderland"
    before = snapshot(target)
    result = run(tmp_path, "src/team/app", source, target, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _changed(before, snapshot(target)) == {"mirror/team/app": {"prod-1": good}}
    basic = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    assert {(s.path.split("?")[0], s.authorization) for s in realm.seen} == {("/token", basic)}
    assert all(a.startswith("Bearer issued-") for a in source.authorizations())


def test_a_rendered_target_outside_the_grammar_fails_that_image(
    hostile_factory: Start, target: RunningRegistry, tmp_path: Path
) -> None:
    source = hostile_factory()
    good = source.add_image("team/app", "prod-1", labels=SCANNED, seed=1)
    source.add_image("team/app", "Prod-2", labels=SCANNED, seed=2)
    policies = json.loads(json.dumps(POLICIES))
    policies["policies"][0]["actions"][0]["target_repo"] = "mirror/{tag}"
    before = snapshot(target)
    result = run(tmp_path, "src/team/app", source, target, policies=policies)
    assert result.returncode == 7
    assert _changed(before, snapshot(target)) == {"mirror/prod-1": {"prod-1": good}}
    assert (
        "failed src/team/app:Prod-2: dst/mirror/Prod-2:Prod-2: rendered target refused: invalid "
        "target repository name 'mirror/Prod-2': path component 2 'Prod-2' is not [a-z0-9]+ "
        "joined by '.', '_', '__' or '-'; nothing copied"
    ) in result.stdout.splitlines()
