"""ImageCopier between real docker-registry instances: identical digests, skips, mounts."""

from __future__ import annotations

import pytest

from adapter.actions.replicate import CopyJob, CopyResult, ImageCopier, ImageLocation, copy_many
from migrate.core.errors import RegistryError
from tests.fixtures.images import push_image, push_index
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry


def test_copy_single_image_byte_for_byte(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=3, layer_size=50_000)
    source, target = registry.client(), fresh_registry.client()
    result = ImageCopier().copy((source, unique_repo, "v1"), (target, "prod/app", "prod-v1"))
    assert result == CopyResult(
        source_digest=image.digest,
        target_digest=image.digest,
        bytes_copied=image.size,
        blobs_copied=4,
        blobs_skipped=0,
        blobs_mounted=0,
        manifests_pushed=1,
        skipped=False,
        attempts=1,
        seconds=result.seconds,
    )
    copied = target.get_manifest("prod/app", "prod-v1")
    assert (copied.content, copied.digest) == (image.manifest, image.digest)
    for digest, blob in zip(
        [image.config_digest, *image.layer_digests],
        [image.config_bytes, *image.layers],
        strict=True,
    ):
        assert target.get_blob("prod/app", digest) == blob


def test_copy_multi_arch_index(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    index = push_index(registry, unique_repo, "multi")
    source, target = registry.client(), fresh_registry.client()
    result = ImageCopier().copy(
        ImageLocation(source, unique_repo, "multi"), ImageLocation(target, "mirror/app", "multi")
    )
    assert (result.source_digest, result.target_digest) == (index.digest, index.digest)
    assert (result.blobs_copied, result.manifests_pushed) == (6, 3)
    assert result.bytes_copied == sum(c.size for c in index.children)
    assert target.get_manifest("mirror/app", "multi").content == index.manifest
    for child in index.children:
        assert target.get_manifest("mirror/app", child.digest).content == child.manifest


def test_skip_when_target_has_the_same_digest(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    image = push_image(registry, unique_repo, "v1")
    source, target = registry.client(), fresh_registry.client()
    copier = ImageCopier()
    copier.copy((source, unique_repo, "v1"), (target, "app", "v1"))
    before = target.requests
    again = copier.copy((source, unique_repo, "v1"), (target, "app", "v1"))
    assert (again.skipped, again.source_digest, again.target_digest) == (
        True,
        image.digest,
        image.digest,
    )
    assert (again.bytes_copied, again.blobs_copied, again.manifests_pushed) == (0, 0, 0)
    assert target.requests - before == 1  # one HEAD of the target tag


def test_existing_blobs_are_skipped(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    push_image(registry, unique_repo, "v1", seed=5)
    source, target = registry.client(), fresh_registry.client()
    ImageCopier().copy((source, unique_repo, "v1"), (target, "app", "v1"))
    # the same image under another target tag: every blob is already there
    second = ImageCopier().copy((source, unique_repo, "v1"), (target, "app", "v1-copy"))
    assert (second.blobs_copied, second.blobs_skipped, second.bytes_copied) == (0, 3, 0)


def test_mount_within_the_same_registry(registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(registry, unique_repo, "v1")
    client = registry.client()
    result = ImageCopier().copy((client, unique_repo, "v1"), (client, unique_repo + "-prod", "v1"))
    assert (result.blobs_mounted, result.blobs_copied, result.bytes_copied) == (3, 0, 0)
    assert client.get_manifest(unique_repo + "-prod", "v1").digest == image.digest


def test_copy_many_keeps_order_and_reports_errors(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    images = [push_image(registry, unique_repo, f"v{i}", seed=100 + i) for i in range(6)]
    source, target = registry.client(), fresh_registry.client()
    jobs = [CopyJob((source, unique_repo, f"v{i}"), (target, "app", f"v{i}")) for i in range(6)]
    jobs.insert(2, CopyJob((source, unique_repo, "missing"), (target, "app", "missing")))
    outcomes = copy_many(jobs, max_concurrency=3)
    assert [o.job for o in outcomes] == jobs
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True, True]
    assert isinstance(outcomes[2].error, RegistryError)
    assert "missing: HTTP 404: MANIFEST_UNKNOWN" in outcomes[2].error.message
    digests = [o.result.target_digest for o in outcomes if o.result is not None]
    assert digests == [i.digest for i in images]
    assert sorted(target.tags("app")) == [f"v{i}" for i in range(6)]
    with pytest.raises(ValueError, match="max_concurrency"):
        copy_many(jobs, max_concurrency=0)
