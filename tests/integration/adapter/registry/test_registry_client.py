"""RegistryClient against a real docker-registry (and the fault proxy in front of it)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from adapter.registry.digest import compute_digest
from adapter.registry.interface import ManifestInfo
from adapter.registry.manifest import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from migrate.core.errors import DigestMismatch, RegistryError
from migrate.core.retry import RetrySettings
from tests.fixtures.faults import FaultProxy, http_date_in
from tests.fixtures.images import push_image, push_index, random_stream
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry
FAST = RetrySettings(max_attempts=3, initial_backoff_seconds=0.05, max_backoff_seconds=0.2)


def test_catalog_pagination(fresh_registry: RunningRegistry) -> None:
    names = [f"team/app{i}" for i in range(5)]
    for name in names:
        push_image(fresh_registry, name, "v1", layers=1)
    client = fresh_registry.client()
    before = client.requests
    assert list(client.catalog(page_size=2)) == names
    assert client.requests - before == 3  # pages of 2, 2, 1
    assert list(client.catalog()) == names


def test_tags_pagination(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    for i in range(5):
        push_image(registry, unique_repo, f"v{i}", layers=1)
    fault_proxy.paginate_tags = True
    client = registry.client(url=fault_proxy.url)
    assert list(client.tags(unique_repo, page_size=2)) == ["v0", "v1", "v2", "v3", "v4"]
    pages = fault_proxy.requests("GET", "/tags/list")
    assert len(pages) == 3
    assert sorted(registry.client().tags(unique_repo)) == ["v0", "v1", "v2", "v3", "v4"]


@pytest.mark.parametrize(
    ("flavour", "media_type"), [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)]
)
def test_get_and_head_manifest(
    registry: RunningRegistry, unique_repo: str, flavour: str, media_type: str
) -> None:
    image = push_image(registry, unique_repo, "v1", flavour=flavour)
    client = registry.client()
    manifest = client.get_manifest(unique_repo, "v1")
    assert (manifest.content, manifest.media_type, manifest.digest) == (
        image.manifest,
        media_type,
        image.digest,
    )
    assert client.get_manifest(unique_repo, image.digest).content == image.manifest
    assert client.head_manifest(unique_repo, "v1") == ManifestInfo(
        image.digest, media_type, len(image.manifest)
    )
    assert client.head_manifest(unique_repo, "nope") is None
    with pytest.raises(RegistryError, match=r"GET manifest .*:nope: HTTP 404: MANIFEST_UNKNOWN"):
        client.get_manifest(unique_repo, "nope")


def test_index_manifest(registry: RunningRegistry, unique_repo: str) -> None:
    index = push_index(registry, unique_repo, "multi")
    manifest = registry.client().get_manifest(unique_repo, "multi")
    assert (manifest.media_type, manifest.digest) == (OCI_INDEX, index.digest)
    assert [m["digest"] for m in json.loads(manifest.content)["manifests"]] == [
        c.digest for c in index.children
    ]


def test_blobs_stream_and_verify(registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(registry, unique_repo, "v1", layers=1, layer_size=300_000)
    client = registry.client()
    digest = image.layer_digests[0]
    assert client.blob_exists(unique_repo, digest)
    assert not client.blob_exists(unique_repo, compute_digest(b"absent"))
    with client.open_blob(unique_repo, digest, chunk_size=65536) as blob:
        chunks = list(blob)
    assert blob.size == len(image.layers[0])
    assert b"".join(chunks) == image.layers[0]
    assert max(len(c) for c in chunks) == 65536
    assert client.get_blob(unique_repo, image.config_digest) == image.config_bytes


def test_corrupted_blob_raises_digest_mismatch(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=1)
    fault_proxy.corrupt(path=image.layer_digests[0])
    client = registry.client(url=fault_proxy.url)
    with pytest.raises(
        DigestMismatch,
        match=f"blob {unique_repo}@{image.layer_digests[0]}: content hashed to sha256:",
    ):
        client.get_blob(unique_repo, image.layer_digests[0])


@pytest.mark.parametrize("chunk_size", [None, 256 * 1024])
def test_streamed_upload(
    registry: RunningRegistry, unique_repo: str, chunk_size: int | None
) -> None:
    size = 1_000_003
    source = random_stream(7, size, chunk=100_000)
    digest = compute_digest(b"".join(source()))
    client = registry.client()
    assert (
        client.upload_blob(unique_repo, digest, source(), size=size, chunk_size=chunk_size) == size
    )
    assert client.get_blob(unique_repo, digest) == b"".join(source())


def test_upload_with_wrong_digest_is_cancelled(registry: RunningRegistry, unique_repo: str) -> None:
    client = registry.client()
    wrong = compute_digest(b"something else")
    with pytest.raises(DigestMismatch):
        client.upload_blob(unique_repo, wrong, [b"actual content"])
    assert not client.blob_exists(unique_repo, wrong)


def test_cross_repository_mount(registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(registry, unique_repo, "v1", layers=1)
    client = registry.client()
    target = unique_repo + "-mounted"
    assert client.mount_blob(target, image.layer_digests[0], unique_repo)
    assert client.blob_exists(target, image.layer_digests[0])
    assert not client.mount_blob(target, compute_digest(b"nowhere"), unique_repo)


def test_put_manifest_byte_for_byte(registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(registry, unique_repo, "v1")
    client = registry.client()
    assert (
        client.put_manifest(unique_repo, "copy", image.manifest, image.media_type) == image.digest
    )
    assert client.get_manifest(unique_repo, "copy").content == image.manifest


def test_retries_500_then_succeeds(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    image = push_image(registry, unique_repo, "v1")
    fault_proxy.fail("/manifests/v1", status=500, times=2)
    client = registry.client(url=fault_proxy.url, retry=FAST)
    assert client.get_manifest(unique_repo, "v1").digest == image.digest
    assert [r.status for r in fault_proxy.requests("GET", "/manifests/v1")] == [500, 500, 200]


def test_gives_up_after_max_attempts(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail("/manifests/v1", status=503, times=10)
    client = registry.client(url=fault_proxy.url, retry=FAST, name="flaky")
    with pytest.raises(RegistryError, match=r"registry 'flaky': GET manifest .*: HTTP 503"):
        client.get_manifest(unique_repo, "v1")
    assert len(fault_proxy.requests("GET", "/manifests/v1")) == 3


@pytest.mark.parametrize("retry_after", ["1", http_date_in(2)])
def test_429_honours_retry_after(
    registry: RunningRegistry,
    unique_repo: str,
    fault_proxy: FaultProxy,
    retry_after: str | Callable[[], str],
) -> None:
    image = push_image(registry, unique_repo, "v1")
    fault_proxy.fail("/manifests/v1", status=429, headers={"Retry-After": retry_after})
    client = registry.client(url=fault_proxy.url, retry=FAST)
    started = time.monotonic()
    assert client.get_manifest(unique_repo, "v1").digest == image.digest
    statuses = fault_proxy.requests("GET", "/manifests/v1")
    assert [r.status for r in statuses] == [429, 200]
    waited = statuses[1].at - statuses[0].at
    assert 0.9 <= waited < 3.0  # the backoff alone would be 0.05 s
    assert time.monotonic() - started < 5


def test_retry_after_is_capped(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    push_image(registry, unique_repo, "v1")
    fault_proxy.fail("/manifests/v1", status=429, headers={"Retry-After": "3600"})
    client = registry.client(url=fault_proxy.url, retry=FAST, max_retry_after=0.5)
    started = time.monotonic()
    client.get_manifest(unique_repo, "v1")
    assert time.monotonic() - started < 2.0


def test_connection_errors_are_retried(
    registry: RunningRegistry, unique_repo: str, fault_proxy: FaultProxy
) -> None:
    image = push_image(registry, unique_repo, "v1")
    fault_proxy.cut(path="/manifests/v1", method="GET")
    client = registry.client(url=fault_proxy.url, retry=FAST)
    assert client.get_manifest(unique_repo, "v1").digest == image.digest
    assert [r.status for r in fault_proxy.requests("GET", "/manifests/v1")] == [0, 200]


def test_unreachable_registry_is_a_registry_error() -> None:
    from adapter.registry.client import RegistryClient
    from adapter.registry.config import RegistryConfig
    from tests.fixtures.registry import free_port

    config = RegistryConfig(name="gone", url=f"http://127.0.0.1:{free_port()}")
    with (
        RegistryClient(config, credentials=None, retry=FAST, timeout=5) as client,
        pytest.raises(RegistryError, match=r"registry 'gone': GET /v2/: ConnectError"),
    ):
        client.ping()


def test_open_clients_one_per_configured_registry(
    registry: RunningRegistry, htpasswd_registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapter.registry import RegistriesConfig, open_clients

    monkeypatch.setenv("FREIGHTLINER_REGISTRY_BASIC_USERNAME", "alice")
    monkeypatch.setenv("FREIGHTLINER_REGISTRY_BASIC_PASSWORD", "wonderland")
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    config = RegistriesConfig.from_yaml(
        f"registries:\n  local: {{url: '{registry.url}'}}\n"
        f"  basic: {{url: '{htpasswd_registry.url}'}}\n"
    )
    clients = open_clients(config, retry=FAST)
    try:
        assert {name: c.base_url for name, c in clients.items()} == {
            "basic": htpasswd_registry.url,
            "local": registry.url,
        }
        for client in clients.values():
            client.ping()
    finally:
        for client in clients.values():
            client.close()
