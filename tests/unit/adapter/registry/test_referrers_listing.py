"""Referrers listings are hostile: index_entries refuses what breaks a rule; referrer tags."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapter.registry.manifest import parse_manifest
from adapter.registry.referrers import checked_size, fallback_tag, index_entries, is_referrer_tag
from migrate.core.errors import RegistryError

D = "sha256:" + "a" * 64
M = "application/vnd.oci.image.manifest.v1+json"


def _index(*entries: Any, media_type: str = "application/vnd.oci.image.index.v1+json") -> bytes:
    return json.dumps({"mediaType": media_type, "manifests": list(entries)}).encode()


def test_valid_entries() -> None:
    entry = {"mediaType": M, "digest": D, "size": 10, "artifactType": "application/spdx+json"}
    assert index_entries(_index(entry), "x") == [(D, M, 10)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            _index({"mediaType": M, "digest": "sha256:zz", "size": 1}),
            "x: manifests[0]: invalid digest 'sha256:zz'",
        ),
        (_index({"mediaType": "text/html", "digest": D, "size": 1}), "is not a manifest"),
        (_index({"mediaType": M, "digest": D, "size": True}), "size must be 1.."),
        (_index({"mediaType": M, "digest": D, "size": 5 << 20}), "size must be 1.."),
        (_index({"mediaType": M, "digest": D, "size": 1, "artifactType": "a\nb"}), "printable"),
        (
            _index(
                {
                    "mediaType": M,
                    "digest": D,
                    "size": 1,
                    "annotations": {str(i): "" for i in range(65)},
                }
            ),
            "annotations must be an object of at most 64",
        ),
        (_index(*[{"mediaType": M, "digest": D, "size": 1}] * 65), "more than 64 referrers"),
        (_index(media_type=M), "is not an OCI image index"),
        (b"[]", "is not an OCI image index"),
        (b"{", "is not JSON"),
    ],
)
def test_hostile_listings_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(RegistryError) as info:
        index_entries(content, "x")
    assert message in info.value.message


def test_referrer_tags() -> None:
    assert fallback_tag(D) == "sha256-" + "a" * 64
    assert [is_referrer_tag(fallback_tag(D) + s) for s in ("", ".sig", ".att", ".sbom")] == [
        True,
        True,
        True,
        True,
    ]
    assert [is_referrer_tag(t) for t in ("v1", "sha256-abc", fallback_tag(D) + ".x")] == [
        False,
        False,
        False,
    ]


def _manifest(*sizes: int) -> bytes:
    layers = [{"mediaType": "x", "digest": D, "size": size} for size in sizes]
    return json.dumps(
        {"mediaType": M, "config": {"digest": D, "size": 2}, "layers": layers}
    ).encode()


def test_referrer_sizes_must_stay_exact() -> None:
    assert checked_size(parse_manifest(_manifest(10, 20)), "r") == 32
    for sizes in ((-5,), (2**63,), (2**62, 2**62)):
        with pytest.raises(RegistryError, match="r: blob sizes out of range; refused"):
            checked_size(parse_manifest(_manifest(*sizes)), "r")
