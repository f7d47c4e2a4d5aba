"""Metadata sources: registry (real docker-registry), JSON file, Docker inspect mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.metadata.docker_source import metadata_from_inspect
from adapter.metadata.file_source import FileMetadataSource
from adapter.metadata.interface import MetadataSource
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.manifest import DOCKER_MANIFEST, OCI_MANIFEST
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError, RegistryError
from tests.fixtures.images import CREATED, push_image, push_index
from tests.fixtures.registry import RunningRegistry

LABELS = {"org.opencontainers.image.source": "https://example.com/app", "team": "platform"}


@pytest.fixture
def source(registry: RunningRegistry) -> RegistryMetadataSource:
    return RegistryMetadataSource({"local": registry.client()}, cache_size=2)


@pytest.mark.registry
@pytest.mark.parametrize(
    ("flavour", "media_type"), [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)]
)
def test_single_platform_image(
    source: RegistryMetadataSource,
    registry: RunningRegistry,
    unique_repo: str,
    flavour: str,
    media_type: str,
) -> None:
    image = push_image(
        registry,
        unique_repo,
        "v1.2",
        flavour=flavour,
        labels=LABELS,
        architecture="arm",
        variant="v7",
        annotations={"a": "b"},
    )
    assert isinstance(source, MetadataSource)
    assert source.get_metadata("local", unique_repo, "v1.2") == [
        ImageMetadata(
            registry="local",
            repository=unique_repo,
            tag="v1.2",
            digest=image.digest,
            labels=LABELS,
            annotations={"a": "b"},
            size=image.size,
            created_at=CREATED,
            architecture="arm",
            os="linux",
            variant="v7",
            media_type=media_type,
            index_digest="",
        )
    ]


@pytest.mark.registry
def test_index_gives_one_entry_per_platform(
    source: RegistryMetadataSource, registry: RunningRegistry, unique_repo: str
) -> None:
    index = push_index(registry, unique_repo, "multi", labels={"tier": "gold"})
    amd64, arm64 = index.children
    assert source.get_metadata("local", unique_repo, "multi") == [
        ImageMetadata(
            registry="local",
            repository=unique_repo,
            tag="multi",
            digest=amd64.digest,
            labels={"tier": "gold"},
            annotations={"org.example.platform": "amd64"},
            size=amd64.size,
            created_at=CREATED,
            architecture="amd64",
            os="linux",
            variant="",
            media_type=OCI_MANIFEST,
            index_digest=index.digest,
        ),
        ImageMetadata(
            registry="local",
            repository=unique_repo,
            tag="multi",
            digest=arm64.digest,
            labels={"tier": "gold"},
            annotations={"org.example.platform": "arm64v8"},
            size=arm64.size,
            created_at=CREATED,
            architecture="arm64",
            os="linux",
            variant="v8",
            media_type=OCI_MANIFEST,
            index_digest=index.digest,
        ),
    ]


@pytest.mark.registry
def test_lru_cache_by_digest(
    source: RegistryMetadataSource, registry: RunningRegistry, unique_repo: str
) -> None:
    a = push_image(registry, unique_repo, "a", seed=1)
    push_image(registry, unique_repo, "a-again", seed=1)  # same digest, other tag
    push_image(registry, unique_repo, "b", seed=2)
    push_image(registry, unique_repo, "c", seed=3)
    first = source.get_metadata("local", unique_repo, "a")
    again = source.get_metadata("local", unique_repo, "a-again")
    assert (source.misses, source.hits) == (1, 1)
    assert again == [first[0].model_copy(update={"tag": "a-again"})]
    assert again[0].digest == a.digest
    source.get_metadata("local", unique_repo, "b")
    source.get_metadata("local", unique_repo, "c")  # evicts a (cache_size=2)
    source.get_metadata("local", unique_repo, "a")
    assert (source.misses, source.hits) == (4, 1)


@pytest.mark.registry
def test_errors(source: RegistryMetadataSource, unique_repo: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown registry 'ecr' \(configured: local\)"):
        source.get_metadata("ecr", unique_repo, "v1")
    with pytest.raises(RegistryError, match=f"registry 'local': {unique_repo}:v1 not found"):
        source.get_metadata("local", unique_repo, "v1")


def test_file_source(tmp_path: Path) -> None:
    images = [
        {
            "registry": "ecr",
            "repository": "team/app",
            "tag": "v1",
            "digest": "sha256:" + "a" * 64,
            "labels": {"env": "prod"},
            "size": 10,
            "architecture": "amd64",
            "os": "linux",
        },
        {"registry": "ecr", "repository": "team/app", "tag": "v2"},
    ]
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": images}))
    source = FileMetadataSource(path)
    assert source.get_metadata("ecr", "team/app", "v1") == [ImageMetadata.model_validate(images[0])]
    with pytest.raises(RegistryError, match="no image ecr/team/app:v3"):
        source.get_metadata("ecr", "team/app", "v3")
    path.write_text(
        json.dumps(
            [
                {"registry": "ecr", "repository": "x", "colour": "red"},
                {"registry": "ecr", "repository": "x", "size": -1},
            ]
        )
    )
    with pytest.raises(ConfigError) as info:
        FileMetadataSource(path)
    assert [d.field for d in info.value.diagnostics] == ["images[0].colour", "images[1].size"]


#: ``docker image inspect`` output of an image pulled by tag (trimmed of irrelevant keys).
RECORDED_INSPECT = {
    "Id": "sha256:" + "c" * 64,
    "RepoTags": ["team/app:v1"],
    "RepoDigests": ["other/app@sha256:" + "d" * 64, "registry.example/team/app@sha256:" + "e" * 64],
    "Created": "2024-05-06T07:08:09.123456789Z",
    "Config": {"Env": ["PATH=/usr/bin"], "Labels": {"team": "platform", "version": "1"}},
    "Architecture": "arm64",
    "Variant": "v8",
    "Os": "linux",
    "Size": 7_340_032,
    "Descriptor": {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "e" * 64, "size": 1234},
}


def test_docker_inspect_mapping() -> None:
    assert metadata_from_inspect(
        RECORDED_INSPECT, registry="local", repository="team/app", tag="v1"
    ) == ImageMetadata(
        registry="local",
        repository="team/app",
        tag="v1",
        digest="sha256:" + "c" * 64,  # the image ID: what docker:// decisions are about
        labels={"team": "platform", "version": "1"},
        annotations={},
        size=7_340_032,
        created_at="2024-05-06T07:08:09.123456789Z",
        architecture="arm64",
        os="linux",
        variant="v8",
        media_type=OCI_MANIFEST,
    )
    bare = metadata_from_inspect(
        {"Id": "sha256:" + "c" * 64, "Config": {"Labels": None}},
        registry="local",
        repository="new/app",
        tag="dev",
    )
    assert (bare.digest, bare.labels, bare.size, bare.media_type) == (
        "sha256:" + "c" * 64,
        {},
        0,
        "",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Id": "c" * 64}, "has no sha256 image ID (got 'cccc"),
        ({"Id": None}, "has no sha256 image ID (got 'None')"),
        ({"Size": -1}, "image new/app:dev: size: Input should be greater than or equal to 0"),
        ({"Size": "12"}, "image size '12' is not an integer"),
        ({"Config": {"Labels": {"a": 1}}}, "Config.Labels is not a map of strings"),
        ({"Config": []}, "malformed inspect document for new/app:dev"),
    ],
)
def test_docker_inspect_hostile_answers_are_refused(change: dict[str, Any], message: str) -> None:
    document = {"Id": "sha256:" + "c" * 64, **change}
    with pytest.raises(RegistryError) as info:
        metadata_from_inspect(document, registry="docker", repository="new/app", tag="dev")
    assert message in info.value.message
