"""subset_index: the new index of ``platforms: allowed``, byte for byte."""

from __future__ import annotations

import json

import pytest

from adapter.actions.subset import subset_index
from migrate.core.errors import ActionError

A, B, C, ATT = ("sha256:" + c * 64 for c in "abcd")
INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": A, "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
        {"digest": B, "size": 2, "platform": {"architecture": "arm64", "os": "linux"}},
        {"digest": C, "size": 3, "mediaType": "application/vnd.oci.image.index.v1+json"},
        {
            "digest": ATT,
            "size": 4,
            "annotations": {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": A,
            },
        },
    ],
    "annotations": {"z": "last", "a": "first"},
}
SOURCE = json.dumps(INDEX, indent=4).encode()


def test_kept_entries_in_source_order_key_order_kept_compact() -> None:
    built = subset_index(SOURCE, frozenset({A}))
    assert built is not None
    content, children = built
    assert children == [A, ATT]
    assert content == (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
        b'{"digest":"'
        + A.encode()
        + b'","size":1,"platform":{"architecture":"amd64","os":"linux"}},'
        b'{"digest":"' + ATT.encode() + b'","size":4,"annotations":{"vnd.docker.reference.type":'
        b'"attestation-manifest","vnd.docker.reference.digest":"' + A.encode() + b'"}}],'
        b'"annotations":{"z":"last","a":"first"}}'
    )


def test_an_attestation_follows_its_platform() -> None:
    built = subset_index(SOURCE, frozenset({B}))
    assert built is not None and built[1] == [B]


def test_every_entry_kept_means_copy_the_source_unchanged() -> None:
    assert subset_index(SOURCE, frozenset({A, B, C})) is None


def test_nothing_kept_or_not_an_index_is_an_error() -> None:
    with pytest.raises(ActionError, match="no platform of the index is allowed"):
        subset_index(SOURCE, frozenset({"sha256:" + "e" * 64}))
    with pytest.raises(ActionError, match="no 'manifests' list"):
        subset_index(b'{"layers": []}', frozenset({A}))
    with pytest.raises(ActionError, match="not JSON"):
        subset_index(b"{", frozenset({A}))
