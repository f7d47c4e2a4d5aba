"""How a copy pushes manifests: one PUT to the tag after everything it references, the
registry's digest verified (a HEAD of the tag when the registry reports none); each blob
byte hashed once, and a corrupt blob still never lands.

The target is a real docker-registry; :class:`Recording` is httpx's real transport that
logs each request and, for the hostile cases, edits a response header on the way back.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from adapter.actions.replicate import ImageCopier
from adapter.registry.digest import DigestVerifier, is_digest
from migrate.core.errors import DigestMismatch, RegistryError
from tests.fixtures.faults import FaultProxy
from tests.fixtures.images import push_image, push_index
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry
FORGED = "sha256:" + "f" * 64
Edit = Callable[[httpx.Request, httpx.Response], None]


class Recording(httpx.HTTPTransport):
    """The real transport; logs ``METHOD path`` (a digest shown as ``DIGEST``) and applies
    ``edit`` to every response."""

    def __init__(self, edit: Edit | None = None) -> None:
        super().__init__()
        self.log: list[str] = []
        self._edit = edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        parts = request.url.path.split("/")
        shown = "/".join("DIGEST" if is_digest(p) else p for p in parts)
        self.log.append(f"{request.method} {shown}")
        if self._edit is not None:
            self._edit(request, response)
        return response


def _is_tag_put(request: httpx.Request) -> bool:
    return request.method == "PUT" and request.url.path.endswith("/manifests/v1")


def test_an_image_is_pushed_with_one_put_to_the_tag_after_its_blobs(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=2, layer_size=10_000)
    recording = Recording()
    target = fresh_registry.client(transport=recording)
    result = ImageCopier().copy(
        (registry.client(), unique_repo, image.digest), (target, "app", "v1")
    )
    assert (result.target_digest, result.manifests_pushed) == (image.digest, 1)
    blob = [
        "HEAD /v2/app/blobs/DIGEST",
        "POST /v2/app/blobs/uploads/",
        "PUT /v2/app/blobs/uploads/",
    ]
    uploads = [
        e if not e.startswith("PUT /v2/app/blobs/uploads/") else blob[2] for e in recording.log
    ]
    assert uploads == ["HEAD /v2/app/manifests/v1", *blob * 3, "PUT /v2/app/manifests/v1"]
    assert fresh_registry.client().head_manifest("app", "v1").digest == image.digest  # type: ignore[union-attr]


def test_an_index_pushes_its_children_by_digest_then_itself_to_the_tag(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    index = push_index(registry, unique_repo, "v1")
    recording = Recording()
    target = fresh_registry.client(transport=recording)
    result = ImageCopier().copy(
        (registry.client(), unique_repo, index.digest), (target, "app", "v1")
    )
    assert (result.target_digest, result.manifests_pushed) == (index.digest, 3)
    puts = [e for e in recording.log if e.startswith("PUT /v2/app/manifests/")]
    assert puts == [
        "PUT /v2/app/manifests/DIGEST",
        "PUT /v2/app/manifests/DIGEST",
        "PUT /v2/app/manifests/v1",
    ]
    assert recording.log[-1] == "PUT /v2/app/manifests/v1"  # the tag is the last request
    copied = fresh_registry.client()
    assert copied.head_manifest("app", "v1").digest == index.digest  # type: ignore[union-attr]
    for child in index.children:
        assert copied.get_manifest("app", child.digest).content == child.manifest


def test_a_registry_reporting_no_digest_is_checked_with_a_head_of_the_tag(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    def strip(request: httpx.Request, response: httpx.Response) -> None:
        if _is_tag_put(request):
            del response.headers["Docker-Content-Digest"]

    image = push_image(registry, unique_repo, "v1", layers=1, layer_size=10_000)
    recording = Recording(strip)
    target = fresh_registry.client(transport=recording)
    result = ImageCopier().copy(
        (registry.client(), unique_repo, image.digest), (target, "app", "v1")
    )
    assert result.target_digest == image.digest
    assert recording.log[-2:] == ["PUT /v2/app/manifests/v1", "HEAD /v2/app/manifests/v1"]


@pytest.mark.parametrize("where", ["put", "head"])
def test_a_registry_storing_another_digest_fails_the_copy(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str, where: str
) -> None:
    """The tag PUT reports another digest, or reports none and the tag then resolves to
    another: the copy fails naming both digests."""
    pushes = 0

    def forge(request: httpx.Request, response: httpx.Response) -> None:
        nonlocal pushes
        if _is_tag_put(request):
            pushes += 1
            if where == "put":
                response.headers["Docker-Content-Digest"] = FORGED
            else:
                del response.headers["Docker-Content-Digest"]
        elif where == "head" and pushes and request.method == "HEAD":
            response.headers["Docker-Content-Digest"] = FORGED

    image = push_image(registry, unique_repo, "v1", layers=1, layer_size=10_000)
    target = fresh_registry.client(transport=Recording(forge))
    with pytest.raises(RegistryError) as raised:
        ImageCopier().copy((registry.client(), unique_repo, image.digest), (target, "app", "v1"))
    assert str(raised.value) == (
        f"registry 'fresh': stored manifest app:v1 as {FORGED}, expected {image.digest}"
    )


# -- every blob byte is hashed once, and a corrupt one still never lands ------------------
def test_a_copy_hashes_each_byte_once(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The download stream verifies each blob; the upload does not hash it a second time."""
    hashed: list[int] = []
    update = DigestVerifier.update

    def counting(self: DigestVerifier, chunk: bytes) -> None:
        hashed.append(len(chunk))
        update(self, chunk)

    image = push_image(registry, unique_repo, "v1", layers=2, layer_size=300_000)
    source, target = registry.client(), fresh_registry.client()
    monkeypatch.setattr(DigestVerifier, "update", counting)
    ImageCopier().copy((source, unique_repo, image.digest), (target, "app", "v1"))
    blobs = len(image.config_bytes) + sum(len(layer) for layer in image.layers)
    assert sum(hashed) == len(image.manifest) + blobs


@pytest.mark.parametrize("upload_chunk_size", [None, 100_000])
def test_a_corrupt_source_blob_never_lands(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    fault_proxy_factory: Callable[[RunningRegistry], FaultProxy],
    unique_repo: str,
    upload_chunk_size: int | None,
) -> None:
    image = push_image(registry, unique_repo, "v1", layers=2, layer_size=300_000, tar=False)
    proxy = fault_proxy_factory(registry)
    proxy.corrupt(path=image.layer_digests[1])
    source, target = registry.client(url=proxy.url), fresh_registry.client()
    copier = ImageCopier(upload_chunk_size=upload_chunk_size)
    with pytest.raises(DigestMismatch, match=f"blob {unique_repo}@{image.layer_digests[1]}: "):
        copier.copy((source, unique_repo, image.digest), (target, "app", "v1"))
    assert target.head_manifest("app", "v1") is None
    assert not target.blob_exists("app", image.layer_digests[1])
    assert target.blob_exists("app", image.layer_digests[0])  # copied before the corrupt one
