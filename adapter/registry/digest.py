"""Content digests (``algorithm:hex``) as the OCI distribution spec defines them."""

from __future__ import annotations

import hashlib

from migrate.core.errors import DigestMismatch, RegistryError
from migrate.core.reference import InvalidName, check_digest
from migrate.core.reference import is_digest as _is_digest

__all__ = ["DigestVerifier", "compute_digest", "is_digest", "parse_digest"]


def is_digest(reference: str) -> bool:
    """True when ``reference`` is a digest (``sha256:<64 hex>``, ``sha512:<128 hex>``) rather
    than a tag; the one grammar of :mod:`migrate.core.reference`."""
    return _is_digest(reference)


def parse_digest(digest: str) -> tuple[str, str]:
    """Split a digest into ``(algorithm, hex)``; :class:`RegistryError` when malformed."""
    try:
        check_digest(digest)
    except InvalidName as exc:
        raise RegistryError(str(exc)) from exc
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
