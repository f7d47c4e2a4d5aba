"""RegistryReplicator over real docker-registry instances and the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapter.actions.executor import DecisionExecutor
from adapter.decision.failover import FailoverEngine
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.runner.interface import ImageOutcome, ImageReference
from adapter.runner.replicator import RegistryReplicator
from migrate.bundle.builder import BundleBuilder
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.fixtures.images import push_image, push_index
from tests.fixtures.registry import RegistryFactory, RunningRegistry

pytestmark = pytest.mark.registry

POLICIES = """\
policies:
  - id: copy-v
    conditions: [{type: tag, operator: matches, value: "^v"}]
    actions:
      - {type: replicate, target_registry: target, target_repo: "mirror/{repository}"}
  - id: newest-two
    conditions: [{type: tag, operator: matches, value: "^rel-"}]
    actions:
      - type: replicate
        target_registry: target
        target_repo: "latest/{repository}"
        parameters: {latest_n: "2"}
  - id: first-one
    conditions: [{type: tag, operator: matches, value: "^lim-"}]
    actions:
      - type: replicate
        target_registry: target
        target_repo: "limited/{repository}"
        parameters: {limit: "1"}
  - id: arm-only
    conditions:
      - {type: tag, operator: matches, value: "^multi-"}
      - {type: metadata, key: architecture, operator: equals, value: arm64}
    actions:
      - {type: replicate, target_registry: target, target_repo: "arm/{repository}"}
  - id: skip-existing
    conditions: [{type: tag, operator: matches, value: "^skip-"}]
    actions:
      - type: replicate
        target_registry: target
        target_repo: "{repository}"
        parameters: {skip_existing: "true"}
  - id: no-unscanned
    priority: 100
    conditions: [{type: tag, operator: matches, value: "^bad-"}]
    actions:
      - {type: block, parameters: {reason: "bad tag"}}
"""


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
        engine,
        RegistryMetadataSource(clients),
        clients,
        DecisionExecutor(clients),
        max_concurrency=4,
        batch_size=3,
    )
    yield Setup(source, target, clients, replicator)
    source.stop()
    target.stop()


def _statuses(outcomes: list[ImageOutcome]) -> list[tuple[str, str]]:
    return [(o.image.reference, o.status) for o in outcomes]


def test_index_whose_platforms_agree_is_copied_whole(setup: Setup) -> None:
    index = push_index(setup.source, "team/app", "v1")
    summary = setup.replicator.replicate(ImageReference.parse("local/team/app:v1"))
    [outcome] = summary.outcomes
    assert (outcome.status, outcome.targets, outcome.platforms) == (
        "replicated",
        ["target/mirror/team/app:v1"],
        2,
    )
    copied = setup.clients["target"].get_manifest("mirror/team/app", "v1")
    assert (copied.content, copied.digest) == (index.manifest, index.digest)
    for child in index.children:
        assert (
            setup.clients["target"].get_manifest("mirror/team/app", child.digest).content
            == child.manifest
        )
    assert summary.exit_code == 0


def test_index_whose_platforms_disagree_is_blocked(setup: Setup) -> None:
    push_index(setup.source, "team/app", "multi-1")
    summary = setup.replicator.replicate(ImageReference.parse("local/team/app:multi-1"))
    [outcome] = summary.outcomes
    assert outcome.status == "blocked"
    assert outcome.detail == (
        "blocked: the platforms of the index disagree (linux/amd64 -> nothing; "
        "linux/arm64/v8 -> target/arm/team/app:multi-1)"
    )
    assert list(setup.clients["target"].catalog()) == []
    assert summary.exit_code == 5


def test_sweep_limits_latest_n_and_limit(setup: Setup) -> None:
    for seed, (tag, created) in enumerate(
        [
            ("rel-a", "2024-01-01T00:00:00Z"),
            ("rel-b", "2025-01-01T00:00:00Z"),
            ("rel-c", "2023-01-01T00:00:00Z"),
            ("lim-1", "2020-01-01T00:00:00Z"),
            ("lim-2", "2026-01-01T00:00:00Z"),
        ]
    ):
        push_image(setup.source, "team/svc", tag, seed=seed, created=created)
    totals: list[int] = []
    seen: list[str] = []
    summary = setup.replicator.replicate(
        ImageReference.parse("local/team/svc"),
        progress=lambda o: seen.append(o.image.tag),
        on_total=totals.append,
    )
    assert totals == [5]
    assert sorted(seen) == ["lim-1", "lim-2", "rel-a", "rel-b", "rel-c"]
    # Registry order is what the registry lists (docker-registry: directory order, unsorted).
    order = list(setup.clients["local"].tags("team/svc"))
    first_lim = next(t for t in order if t.startswith("lim-"))
    expected = {
        "rel-a": "replicated",
        "rel-b": "replicated",
        "rel-c": "skipped",
        first_lim: "replicated",
        ({"lim-1", "lim-2"} - {first_lim}).pop(): "skipped",
    }
    assert _statuses(summary.outcomes) == [(f"local/team/svc:{t}", expected[t]) for t in order]
    details = {o.image.tag: o.detail for o in summary.outcomes if o.status == "skipped"}
    assert details == {
        ({"lim-1", "lim-2"} - {first_lim}).pop(): "beyond the first 1 tags (limit) for target",
        "rel-c": "not among the 2 newest tags (latest_n) for target",
    }
    assert sorted(setup.clients["target"].tags("latest/team/svc")) == ["rel-a", "rel-b"]
    assert list(setup.clients["target"].tags("limited/team/svc")) == [first_lim]


def test_dry_run_plans_and_writes_nothing(setup: Setup) -> None:
    push_image(setup.source, "team/a", "v2")
    push_image(setup.source, "team/b", "bad-1", seed=1)
    push_image(setup.source, "team/b", "other", seed=2)
    summary = setup.replicator.replicate(ImageReference.parse("local"), dry_run=True)
    assert sorted(_statuses(summary.outcomes)) == [
        ("local/team/a:v2", "planned"),
        ("local/team/b:bad-1", "blocked"),
        ("local/team/b:other", "not_replicated"),
    ]
    by_tag = {o.image.tag: o for o in summary.outcomes}
    assert by_tag["v2"].targets == ["target/mirror/team/a:v2"]
    assert by_tag["bad-1"].detail == "bad tag"
    assert list(setup.clients["target"].catalog()) == []
    assert (summary.count("planned"), summary.count("blocked"), summary.exit_code) == (1, 1, 5)


def test_skip_existing_and_same_digest_skip(setup: Setup) -> None:
    push_image(setup.source, "team/c", "skip-1", seed=1)
    other = push_image(setup.target, "team/c", "skip-1", seed=2)
    pushed = push_image(setup.source, "team/c", "v3", seed=3)
    push_image(setup.target, "mirror/team/c", "v3", seed=3)
    summary = setup.replicator.replicate(ImageReference.parse("local/team/c"))
    assert sorted(_statuses(summary.outcomes)) == [
        ("local/team/c:skip-1", "skipped"),
        ("local/team/c:v3", "skipped"),
    ]
    assert setup.clients["target"].get_manifest("team/c", "skip-1").digest == other.digest
    assert pushed.digest == setup.clients["target"].get_manifest("mirror/team/c", "v3").digest


def test_evaluate_has_no_side_effects(setup: Setup) -> None:
    push_image(setup.source, "team/d", "v1")
    [(image, decision)] = setup.replicator.evaluate(ImageReference.parse("local/team/d:v1"))
    assert (image.reference, decision.outcome) == ("local/team/d:v1", "replicate")
    assert list(setup.clients["target"].catalog()) == []
