"""``platforms: allowed`` over real docker-registry instances and the embedded engine.

The source index has three platforms (linux/amd64, linux/arm64/v8,
linux/s390x) and two buildx attestation entries (for amd64 and s390x). The
policy allows amd64 and arm64: the target receives a new index with exactly
the amd64, arm64 and amd64-attestation entries (each child digest-preserved),
and the outcome reports the source index digest and the new one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapter.actions.executor import DecisionExecutor
from adapter.decision.failover import FailoverEngine
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.registry.manifest import OCI_INDEX
from adapter.runner.interface import ImageOutcome, ImageReference
from adapter.runner.replicator import RegistryReplicator
from adapter.service.state import StateDB
from adapter.service.sweep import SweepResult, _execute
from migrate.bundle.builder import BundleBuilder
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.fixtures.images import build_image, push_blob, push_manifest, sha256
from tests.fixtures.registry import RegistryFactory, RunningRegistry

pytestmark = pytest.mark.registry

POLICIES = """\
policies:
  - id: amd-and-arm
    conditions:
      - {type: tag, operator: matches, value: "^v"}
      - {type: metadata, key: architecture, operator: in, value: [amd64, arm64]}
    actions:
      - type: replicate
        target_registry: target
        target_repo: "mirror/{repository}"
        platforms: allowed
  - id: every-platform
    conditions: [{type: tag, operator: matches, value: "^all-"}]
    actions:
      - {type: replicate, target_registry: target, target_repo: "all/{repository}",
         platforms: allowed}
  - id: no-s390x
    priority: 100
    conditions:
      - {type: tag, operator: matches, value: "^blk-"}
      - {type: metadata, key: architecture, operator: equals, value: s390x}
    actions:
      - {type: block, parameters: {reason: "no mainframes"}}
  - id: blk-copy
    conditions: [{type: tag, operator: matches, value: "^blk-"}]
    actions:
      - {type: replicate, target_registry: target, target_repo: "blk/{repository}",
         platforms: allowed}
  - id: strict
    conditions:
      - {type: tag, operator: matches, value: "^strict-"}
      - {type: metadata, key: architecture, operator: in, value: [amd64, arm64]}
    actions:
      - {type: replicate, target_registry: target, target_repo: "strict/{repository}"}
"""

PLATFORMS = [("amd64", ""), ("arm64", "v8"), ("s390x", "")]


@dataclass
class Pushed:
    index: dict[str, Any]
    content: bytes
    children: dict[str, bytes]  # digest -> manifest bytes (platforms and attestations)

    @property
    def digest(self) -> str:
        return sha256(self.content)

    def entry(self, n: int) -> dict[str, Any]:
        entry: dict[str, Any] = self.index["manifests"][n]
        return entry


def push_three_platforms(registry: RunningRegistry, repository: str, tag: str, seed: int) -> Pushed:
    """An OCI index: amd64, arm64/v8, s390x, then attestations of amd64 and s390x."""
    entries: list[dict[str, Any]] = []
    children: dict[str, bytes] = {}
    with registry.http() as http:
        for i, (arch, variant) in enumerate(PLATFORMS):
            manifest, media_type, _, config_bytes, blobs = build_image(
                seed=seed * 10 + i, architecture=arch, variant=variant, layers=1
            )
            for blob in [config_bytes, *blobs]:
                push_blob(http, repository, blob)
            push_manifest(http, repository, sha256(manifest), manifest, media_type)
            children[sha256(manifest)] = manifest
            platform = {
                "architecture": arch,
                "os": "linux",
                **({"variant": variant} if variant else {}),
            }
            entries.append(
                {
                    "mediaType": media_type,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "platform": platform,
                }
            )
        for subject in (entries[0], entries[2]):
            manifest, media_type, _, config_bytes, blobs = build_image(
                seed=seed * 10 + 7 + len(children), layers=1, architecture="unknown", os="unknown"
            )
            for blob in [config_bytes, *blobs]:
                push_blob(http, repository, blob)
            push_manifest(http, repository, sha256(manifest), manifest, media_type)
            children[sha256(manifest)] = manifest
            entries.append(
                {
                    "mediaType": media_type,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "unknown", "os": "unknown"},
                    "annotations": {
                        "vnd.docker.reference.digest": subject["digest"],
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                }
            )
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
            "annotations": {"org.opencontainers.image.title": "three"},
        }
        content = json.dumps(index, indent=2).encode()
        push_manifest(http, repository, tag, content, OCI_INDEX)
    return Pushed(index, content, children)


@dataclass
class Setup:
    source: RunningRegistry
    target: RunningRegistry
    clients: dict[str, RegistryClient]
    replicator: RegistryReplicator


@pytest.fixture
def setup(registry_factory: RegistryFactory, tmp_path: Path) -> Iterator[Setup]:
    source = registry_factory.start(name="local")
    target = registry_factory.start(name="target")
    (tmp_path / "policies.yaml").write_text(POLICIES)
    bundle = BundleBuilder(generate_tests=False).build(
        load_policy_documents([tmp_path / "policies.yaml"])
    )
    clients = {"local": source.client(), "target": target.client()}
    engine = FailoverEngine(EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision))
    replicator = RegistryReplicator(
        engine, RegistryMetadataSource(clients), clients, DecisionExecutor(clients)
    )
    yield Setup(source, target, clients, replicator)
    source.stop()
    target.stop()


def _expected(pushed: Pushed, keep: list[int]) -> bytes:
    """The documented new index: the source JSON with only the kept entries, compact."""
    document = dict(pushed.index, manifests=[pushed.entry(n) for n in keep])
    return json.dumps(document, separators=(",", ":")).encode()


def test_allowed_platforms_become_a_new_index(setup: Setup) -> None:
    pushed = push_three_platforms(setup.source, "team/app", "v1", seed=1)
    summary = setup.replicator.replicate(ImageReference.parse("local/team/app:v1"))
    [outcome] = summary.outcomes
    expected = _expected(pushed, [0, 1, 3])  # amd64, arm64, amd64's attestation
    target = setup.clients["target"]
    stored = target.get_manifest("mirror/team/app", "v1")
    assert (stored.content, stored.digest, stored.media_type) == (
        expected,
        sha256(expected),
        OCI_INDEX,
    )
    for n in (0, 1, 3):
        digest = pushed.entry(n)["digest"]
        assert target.get_manifest("mirror/team/app", digest).content == pushed.children[digest]
    for n in (2, 4):  # s390x and its attestation never reach the target
        assert target.head_manifest("mirror/team/app", pushed.entry(n)["digest"]) is None
    assert (outcome.status, outcome.targets, summary.exit_code) == (
        "replicated",
        ["target/mirror/team/app:v1"],
        0,
    )
    assert _copies(outcome) == [
        {
            "target": "target/mirror/team/app:v1",
            "registry": "target",
            "status": "replicated",
            "source_digest": pushed.digest,
            "target_digest": sha256(expected),
            "platforms_copied": ["linux/amd64", "linux/arm64/v8"],
            "platforms_left_out": ["linux/s390x"],
        }
    ]
    assert outcome.detail == (
        "replicate linux/amd64, linux/arm64/v8 to target/mirror/team/app:v1 (left out: linux/s390x)"
    )
    # the same source and selection give the same digest: a second run skips
    [again] = setup.replicator.replicate(ImageReference.parse("local/team/app:v1")).outcomes
    assert (again.status, again.copies[0].target_digest) == ("skipped", sha256(expected))


def test_every_platform_allowed_copies_the_source_index_unchanged(setup: Setup) -> None:
    pushed = push_three_platforms(setup.source, "team/app", "all-1", seed=2)
    [outcome] = setup.replicator.replicate(ImageReference.parse("local/team/app:all-1")).outcomes
    stored = setup.clients["target"].get_manifest("all/team/app", "all-1")
    assert (stored.content, stored.digest) == (pushed.content, pushed.digest)
    assert outcome.copies[0].target_digest == outcome.copies[0].source_digest == pushed.digest
    assert outcome.copies[0].platforms_left_out == ()


def test_a_blocked_platform_is_left_out_with_its_reason(setup: Setup) -> None:
    pushed = push_three_platforms(setup.source, "team/app", "blk-1", seed=3)
    [outcome] = setup.replicator.replicate(ImageReference.parse("local/team/app:blk-1")).outcomes
    expected = _expected(pushed, [0, 1, 3])
    stored = setup.clients["target"].get_manifest("blk/team/app", "blk-1")
    assert stored.content == expected
    assert outcome.status == "replicated"
    assert outcome.decision is not None
    subset = outcome.decision.metadata["platform_selection"]["target/blk/team/app:blk-1"]
    assert [(p.platform, p.kept, p.why) for p in subset.platforms] == [
        ("linux/amd64", True, ""),
        ("linux/arm64/v8", True, ""),
        ("linux/s390x", False, "blocked: no mainframes"),
    ]


def test_default_all_still_blocks_when_platforms_disagree(setup: Setup) -> None:
    push_three_platforms(setup.source, "team/app", "strict-1", seed=4)
    summary = setup.replicator.replicate(ImageReference.parse("local/team/app:strict-1"))
    [outcome] = summary.outcomes
    assert outcome.status == "blocked"
    assert outcome.detail.startswith("blocked: the platforms of the index disagree (")
    assert list(setup.clients["target"].catalog()) == []
    assert summary.exit_code == 5


def test_a_sweep_records_the_source_index_and_the_new_index(setup: Setup, tmp_path: Path) -> None:
    """serve's sweep step (adapter/service/sweep.py, unchanged) over the same plan: the state
    database records source index digest -> target -> new index digest."""
    pushed = push_three_platforms(setup.source, "team/app", "v9", seed=5)
    [plan] = setup.replicator.plan(ImageReference.parse("local/team/app:v9"))
    state = StateDB(tmp_path / "state.db")
    result = SweepResult("amd-and-arm")
    _execute(plan, "amd-and-arm", setup.replicator, state, {}, result, threading.Lock())
    record = state.replicated(pushed.digest, "target/mirror/team/app:v9")
    assert record is not None
    expected = _expected(pushed, [0, 1, 3])
    assert (record.source_digest, record.target_digest, result.copied) == (
        pushed.digest,
        sha256(expected),
        1,
    )
    assert setup.clients["target"].get_manifest("mirror/team/app", "v9").content == expected


def test_allowed_without_the_runners_selection_copies_nothing(setup: Setup) -> None:
    """A decision that did not come through the runner (here: by hand, with a forged plain
    ``platform_selection``) cannot make the executor copy a subset or the whole index."""
    pushed = push_three_platforms(setup.source, "team/app", "v7", seed=6)
    [plan] = setup.replicator.plan(ImageReference.parse("local/team/app:v7"))
    action = DecisionAction(
        type="replicate", target_registry="target", target_repo="forged", platforms="allowed"
    )
    forged = ReplicationDecision(
        should_replicate=True,
        actions=[action],
        reason="by hand",
        metadata={
            "outcome": "replicate",
            "platform_selection": {"target/forged:v7": {"index_digest": pushed.digest}},
        },
    )
    [result] = DecisionExecutor(setup.clients).execute(plan.image, forged)
    assert (result.status, result.error) == (
        "failed",
        "local/team/app:v7: platforms: allowed, but no per-platform selection for "
        "target/forged:v7; nothing copied",
    )
    assert list(setup.clients["target"].catalog()) == []


def _copies(outcome: ImageOutcome) -> list[dict[str, object]]:
    """The outcome's JSON copies without the timing fields (they vary run to run)."""
    return [
        {k: v for k, v in copy.items() if k not in ("seconds", "bytes_copied")}
        for copy in outcome.view()["copies"]
    ]
