"""The embedded engine decides from any thread (regorus engines are per thread)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from migrate.bundle.builder import BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents

NOW = "2026-11-23T12:00:00Z"


def test_decisions_from_many_threads_equal_the_first_threads(repo_root: Path) -> None:
    bundle = BundleBuilder(generate_tests=False).build(
        load_policy_documents([repo_root / "examples/policies"])
    )
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    images = [
        ImageMetadata(
            registry="hub",
            repository="team/app",
            tag=f"prod-{i}",
            labels={
                "environment": "production",
                **({"security.scan.status": "ok"} if i % 2 else {}),
            },
        )
        for i in range(40)
    ]
    expected = [engine.decide(i, now=NOW).outcome for i in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda i: engine.decide(i, now=NOW).outcome, images))
    assert got == expected == ["block", "replicate"] * 20
    assert engine.revision == bundle.revision
