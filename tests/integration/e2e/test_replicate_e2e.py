"""End to end: the real CLI, the example policies, three loopback docker-registry instances
(``local`` source, ``ecr`` and ``gcr`` targets), a real OPA sidecar, a real webhook receiver.

``local/team/app:prod-v1.0.0`` (scanned, production) and the multi-arch index
``local/team/multi:prod-v2.0.0`` are copied to ecr and gcr with identical
manifest and blob digests; ``local/team/app:prod-v1.0.1`` (unscanned) is
blocked and appears nowhere; the webhook receives one event per prod tag.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.builder import BundleBuilder
from migrate.policy.loader import load_policy_documents
from tests.fixtures.images import PushedImage, push_image, push_index
from tests.fixtures.registry import RegistryFactory, RunningRegistry
from tests.fixtures.webhook import WebhookReceiver

pytestmark = [pytest.mark.registry, pytest.mark.opa, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
SCANNED = {"environment": "production", "security.scan.status": "passed"}
LEGACY_RULES = [
    {
        "source_registry": "local",
        "source_repository": "team/*",
        "destination_registry": "ecr",
        "destination_repository": "legacy/*",
        "tag_filter": "prod-*",
    }
]


@dataclass
class World:
    local: RunningRegistry
    ecr: RunningRegistry
    gcr: RunningRegistry
    scanned: PushedImage
    unscanned: PushedImage
    index: PushedImage
    policies: list[Path]
    tmp: Path
    webhook: WebhookReceiver

    def config(self, **opa: Any) -> Path:
        document: dict[str, Any] = {
            "policy": {"evaluationTimeout": "5s", "maxConcurrency": 4, "cacheSize": 100},
            "registries": {
                name: {"url": r.url}
                for name, r in (("local", self.local), ("ecr", self.ecr), ("gcr", self.gcr))
            },
            "opa": {"retries": 1, "backoff": "10ms", **opa},
        }
        if opa.get("failure_mode") == "fail-open":
            document["replication"] = {"rules": LEGACY_RULES}
        path = self.tmp / f"config-{len(list(self.tmp.glob('config-*')))}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def run(self, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
        command = [CLI, *args, "--config", str(config)]
        for policy in self.policies:
            command += ["--policies", str(policy)]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=180,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.tmp)},
        )

    def bundle(self) -> Any:
        return BundleBuilder(generate_tests=False).build(load_policy_documents(self.policies))


@pytest.fixture
def world(
    registry_factory: RegistryFactory, repo_root: Path, tmp_path: Path, webhook: WebhookReceiver
) -> Iterator[World]:
    local = registry_factory.start(name="local")
    ecr = registry_factory.start(name="ecr")
    gcr = registry_factory.start(name="gcr")
    notify = tmp_path / "notify.yaml"
    notify.write_text(
        yaml.safe_dump(
            {
                "policies": [
                    {
                        "id": "announce-prod",
                        "priority": 5,
                        "conditions": [{"type": "tag", "operator": "matches", "value": "^prod-"}],
                        "actions": [{"type": "notify", "parameters": {"url": webhook.url}}],
                    }
                ]
            }
        )
    )
    yield World(
        local,
        ecr,
        gcr,
        scanned=push_image(local, "team/app", "prod-v1.0.0", labels=SCANNED, seed=1),
        unscanned=push_image(
            local, "team/app", "prod-v1.0.1", labels={"environment": "production"}, seed=2
        ),
        index=push_index(local, "team/multi", "prod-v2.0.0", labels=SCANNED, seed=3),
        policies=[repo_root / "examples" / "policies" / "seed.yaml", notify],
        tmp=tmp_path,
        webhook=webhook,
    )
    for running in (local, ecr, gcr):
        running.stop()


def _assert_copied(target: RunningRegistry, repository: str, image: PushedImage) -> None:
    client = target.client()
    copied = client.get_manifest(repository, image.tag)
    assert (copied.digest, copied.content) == (image.digest, image.manifest)
    for part in image.children or [image]:
        if image.children:
            assert client.get_manifest(repository, part.digest).content == part.manifest
        for digest, blob in zip(
            [part.config_digest, *part.layer_digests],
            [part.config_bytes, *part.layers],
            strict=True,
        ):
            assert client.get_blob(repository, digest) == blob


def _assert_seed_outcome(world: World, document: dict[str, Any]) -> None:
    by_ref = {o["reference"]: o for o in document["outcomes"]}
    assert {ref: o["status"] for ref, o in by_ref.items()} == {
        "local/team/app:prod-v1.0.0": "replicated",
        "local/team/app:prod-v1.0.1": "blocked",
        "local/team/multi:prod-v2.0.0": "replicated",
    }
    assert by_ref["local/team/app:prod-v1.0.0"]["targets"] == [
        "ecr/production/team/app:prod-v1.0.0",
        "gcr/prod-mirror/team/app:prod-v1.0.0",
    ]
    assert by_ref["local/team/multi:prod-v2.0.0"]["platforms"] == 2
    assert by_ref["local/team/app:prod-v1.0.1"]["detail"] == "Missing security scan"
    assert document["summary"] == {
        "replicated": 2,
        "skipped": 0,
        "blocked": 1,
        "failed": 0,
        "not_replicated": 0,
        "planned": 0,
    }
    _assert_copied(world.ecr, "production/team/app", world.scanned)
    _assert_copied(world.gcr, "prod-mirror/team/app", world.scanned)
    _assert_copied(world.ecr, "production/team/multi", world.index)
    _assert_copied(world.gcr, "prod-mirror/team/multi", world.index)
    for target in (world.ecr, world.gcr):
        for repository in ("production/team/app", "prod-mirror/team/app"):
            assert target.client().head_manifest(repository, "prod-v1.0.1") is None
    events = world.webhook.wait_for(3, timeout=10)
    assert sorted((e.json()["image"]["tag"], e.json()["decision"]["outcome"]) for e in events) == [
        ("prod-v1.0.0", "replicate"),
        ("prod-v1.0.1", "block"),
        ("prod-v2.0.0", "replicate"),
    ]
    assert {tuple(e.json()["policy_ids"]) for e in events} == {("announce-prod",)}


def test_replicate_with_the_embedded_engine(world: World) -> None:
    result = world.run("replicate", "local", "--output", "json", config=world.config())
    assert result.returncode == 5, result.stderr
    _assert_seed_outcome(world, json.loads(result.stdout))


def test_replicate_with_the_opa_sidecar(world: World, opa_factory: Any) -> None:
    opa = opa_factory.start(world.bundle())
    try:
        result = world.run(
            "replicate", "local", "--output", "json", config=world.config(url=opa.url)
        )
    finally:
        opa.stop()
    assert result.returncode == 5, result.stderr
    document = json.loads(result.stdout)
    assert document["revision"] == world.bundle().revision
    _assert_seed_outcome(world, document)


def test_text_output_and_dry_run(world: World) -> None:
    result = world.run("replicate", "local/team/app", "--dry-run", config=world.config())
    assert result.returncode == 5, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines[:2]) == [
        "blocked local/team/app:prod-v1.0.1: Missing security scan",
        "planned local/team/app:prod-v1.0.0 -> ecr/production/team/app:prod-v1.0.0, "
        "gcr/prod-mirror/team/app:prod-v1.0.0",
    ]
    # the table per target registry (issue 17): planned copies, the blocked image
    assert lines[2:-1] == [
        "TARGET       COPIED  SKIPPED  BLOCKED  FAILED  PLANNED  BYTES  TIME",
        "ecr               0        0        0       0        1    0 B  0.0s",
        "gcr               0        0        0       0        1    0 B  0.0s",
        "(no target)       0        0        1       0        0    0 B     -",
    ]
    assert lines[-1] == (
        "dry run: nothing written; summary: replicated 0, skipped 0, blocked 1, failed 0, planned 1"
    )
    assert list(world.ecr.client().catalog()) == list(world.gcr.client().catalog()) == []
    assert world.webhook.requests == []


def test_evaluate_decides_without_side_effects(world: World) -> None:
    result = world.run("evaluate", "local/team/app:prod-v1.0.0", config=world.config())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "local/team/app:prod-v1.0.0",
        "  outcome: replicate",
        "  reason: replicate to ecr/production/team/app:prod-v1.0.0, "
        "gcr/prod-mirror/team/app:prod-v1.0.0 (policies: production-replication)",
        "  matched policies: production-replication, announce-prod",
        "    replicate ecr/production/team/app:prod-v1.0.0  [production-replication]",
        "    replicate gcr/prod-mirror/team/app:prod-v1.0.0  [production-replication]",
        f'    notify    {{"url": "{world.webhook.url}"}}  [announce-prod]',
    ]
    blocked = world.run(
        "evaluate", "local/team/app:prod-v1.0.1", "--output", "json", config=world.config()
    )
    assert blocked.returncode == 5
    [entry] = json.loads(blocked.stdout)["images"]
    assert entry["decision"]["reason"] == "Missing security scan"
    assert list(world.ecr.client().catalog()) == []
    assert world.webhook.requests == []


# -- faults: OPA down ----------------------------------------------------------


def _opa_killed(world: World, opa_factory: Any) -> str:
    opa = opa_factory.start(world.bundle())
    opa.kill()
    return str(opa.url)


def test_opa_down_fail_closed_blocks_everything(world: World, opa_factory: Any) -> None:
    url = _opa_killed(world, opa_factory)
    result = world.run(
        "replicate",
        "local",
        "--output",
        "json",
        config=world.config(url=url, failure_mode="fail-closed"),
    )
    assert result.returncode == 6, result.stderr
    document = json.loads(result.stdout)
    assert {o["status"] for o in document["outcomes"]} == {"blocked"}
    assert all(
        o["detail"].startswith(
            "blocked: decision engine failed (failure_mode fail-closed): OPA at "
        )
        for o in document["outcomes"]
    )
    assert (
        "warning: the decision engine failed for 4 image(s) (failure_mode fail-closed; "
        "fail-closed: 4)" in result.stderr
    )
    assert list(world.ecr.client().catalog()) == list(world.gcr.client().catalog()) == []
    assert world.webhook.requests == []


def test_opa_down_fail_open_uses_legacy_rules(world: World, dead_url: str) -> None:
    result = world.run(
        "replicate",
        "local",
        "--output",
        "json",
        config=world.config(url=dead_url, failure_mode="fail-open"),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {o["reference"]: o["targets"] for o in document["outcomes"]} == {
        "local/team/app:prod-v1.0.0": ["ecr/legacy/app:prod-v1.0.0"],
        "local/team/app:prod-v1.0.1": ["ecr/legacy/app:prod-v1.0.1"],
        "local/team/multi:prod-v2.0.0": ["ecr/legacy/multi:prod-v2.0.0"],
    }
    _assert_copied(world.ecr, "legacy/app", world.scanned)
    _assert_copied(world.ecr, "legacy/multi", world.index)
    assert "failure_mode fail-open; legacy: 4" in result.stderr


def test_opa_down_fail_open_without_rules_fails_closed(world: World, dead_url: str) -> None:
    config = world.config(url=dead_url, failure_mode="fail-open")
    document = yaml.safe_load(config.read_text())
    del document["replication"]
    config.write_text(yaml.safe_dump(document))
    result = world.run("replicate", "local/team/app:prod-v1.0.0", config=config)
    assert result.returncode == 6
    assert result.stdout.splitlines()[0].startswith(
        "blocked local/team/app:prod-v1.0.0: blocked: decision engine failed and failure_mode "
        "fail-open has no legacy replication rules to fall back to: OPA at "
    )


def test_opa_down_embedded_decides_the_same(world: World, opa_factory: Any) -> None:
    url = _opa_killed(world, opa_factory)
    result = world.run(
        "replicate",
        "local",
        "--output",
        "json",
        config=world.config(url=url, failure_mode="embedded"),
    )
    assert result.returncode == 5, result.stderr
    _assert_seed_outcome(world, json.loads(result.stdout))
    assert "failure_mode embedded; embedded: 4" in result.stderr


def test_progress_bar_on_a_tty(world: World) -> None:
    import os
    import pty

    controller, terminal = pty.openpty()
    # --progress: the bar from the start (it waits 2 s otherwise), on stderr
    command = [CLI, "replicate", "local", "--config", str(world.config()), "--progress"]
    for policy in world.policies:
        command += ["--policies", str(policy)]
    process = subprocess.Popen(
        command,
        stdout=terminal,
        stderr=terminal,
        env={"PATH": "/usr/bin:/bin", "HOME": str(world.tmp)},
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=180) == 5
    os.close(controller)
    text = b"".join(chunks).decode()
    assert "images: [########################] 3/3" in text
    assert "blocked local/team/app:prod-v1.0.1: Missing security scan" in text
    assert text.rstrip().endswith("summary: replicated 2, skipped 0, blocked 1, failed 0")
