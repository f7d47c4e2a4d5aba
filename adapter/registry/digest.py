"""Content digests (``algorithm:hex``) as the OCI distribution spec defines them."""

from __future__ import annotations

import hashlib
import re

from migrate.core.errors import DigestMismatch, RegistryError

__all__ = ["DigestVerifier", "compute_digest", "is_digest", "parse_digest"]

_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]+)$")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}


def is_digest(reference: str) -> bool:
    """True when ``reference`` looks like a digest (``sha256:<64 hex>``) rather than a tag."""
    match = _DIGEST.match(reference)
    return match is not None and len(match.group(2)) == _HEX_LENGTH[match.group(1)]


def parse_digest(digest: str) -> tuple[str, str]:
    """Split a digest into ``(algorithm, hex)``; :class:`RegistryError` when malformed."""
    if not is_digest(digest):
        raise RegistryError(
            f"malformed digest {digest!r} (expected sha256:<64 hex> or sha512:<128 hex>)"
        )
    algorithm, _, hexpart = digest.partition(":")
    return algorithm, hexpart


def compute_digest(content: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``content``: ``sha256:<hex>`` by default."""
    return f"{algorithm}:{hashlib.new(algorithm, content).hexdigest()}"


class DigestVerifier:
    """Hashes content as it streams by and checks it against an expected digest.

    >>> v = DigestVerifier(compute_digest(b"abc"))
    >>> v.update(b"ab"); v.update(b"c"); v.verify("blob")
    """

    def __init__(self, expected: str) -> None:
        algorithm, _ = parse_digest(expected)
        self.expected = expected
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def actual(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"

    def matches(self) -> bool:
        return self.actual == self.expected

    def verify(self, what: str) -> None:
        """Raise :class:`DigestMismatch` naming ``what`` unless the content matched the digest."""
        if not self.matches():
            raise DigestMismatch(
                f"{what}: content hashed to {self.actual} ({self.size} bytes), "
                f"expected {self.expected}"
            )
