"""Bundle signatures in OPA's format (OPA docs, management-bundles, "Signing").

A signed bundle has a file ``.signatures.json``: ``{"signatures": ["<JWT>"]}``,
exactly one compact JWS. Its header has ``alg``, ``typ: JWT`` and ``kid`` (the
key id, when one is given); its payload lists every other file of the bundle::

    {"files": [{"name": "data.json", "hash": "<hex>", "algorithm": "SHA-256"}, ...],
     "scope": "<scope>"}            # scope only when one is given

Files named ``data.json``, ``data.yaml`` or ``.manifest`` (structured documents)
are hashed over their canonical JSON form: parsed, object keys sorted (bytewise,
as Go's ``sort.Strings``), no whitespace, strings escaped as Go's encoder does
without HTML escaping, numbers as written. Every other file is hashed over its
bytes. Verification follows OPA: the JWT signature with the configured key
(``keyid`` from the verifier's config, else the header's ``kid``, else the
deprecated ``keyid`` claim), then the scope, then the file list both ways and
every digest; the first problem is reported with OPA's message.

Algorithms: RS256 and ES256 (PEM keys, via ``cryptography``) and HS256 (an HMAC
secret, stdlib). Keys are read from files; an HMAC secret is the file's exact
bytes (a trailing newline is part of the secret, as in OPA).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migrate.core.errors import BundleError

__all__ = [
    "ALGORITHMS",
    "SIGNATURES_FILE",
    "SignatureError",
    "SigningConfig",
    "VerificationConfig",
    "file_hash",
    "read_key",
    "sign_bundle",
    "sign_files",
    "verify_files",
]

SIGNATURES_FILE = ".signatures.json"
ALGORITHMS = ("RS256", "ES256", "HS256")
_NEGATIVE_ZERO = re.compile(r"[:,\[]\s*-0(?![0-9])|^\s*-0(?![0-9])")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STRUCTURED = frozenset({"data.json", "data.yaml", ".manifest", SIGNATURES_FILE})
_HASHES: dict[str, Callable[[], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA-512-224": lambda: hashlib.new("sha512_224"),
    "SHA-512-256": lambda: hashlib.new("sha512_256"),
}


class SignatureError(BundleError):
    """A bundle signature that does not verify; the message is OPA's."""

    def __init__(self, message: str, source: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}bundle signature verification failed: {message}")
        self.reason = message


# -- canonical form of structured files -------------------------------------------------
class _Number(str):
    """A JSON number kept exactly as written (Go decodes bundles with UseNumber)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _go_string(text: str) -> str:
    """``text`` as Go's JSON encoder writes it with HTML escaping off."""
    if _SURROGATE.search(text) is None:
        # Python's encoder escapes as Go's does (quote, backslash, the short escapes of
        # BS FF LF CR TAB, other controls as lower-case u00XX escapes, nothing else),
        # except U+2028 and U+2029, which Go escapes too.
        out = json.dumps(text, ensure_ascii=False)
        return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    chars = ['"']
    for ch in text:  # a lone surrogate is invalid UTF-8: Go writes U+FFFD
        chars.append("\\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else _go_string(ch)[1:-1])
    chars.append('"')
    return "".join(chars)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _canonical(value: Any, out: list[bytes]) -> None:
    if isinstance(value, dict):
        out.append(b"{")
        for i, key in enumerate(sorted(value, key=_utf8)):
            if i:
                out.append(b",")
            out.append(_go_string(key).encode("utf-8") + b":")
            _canonical(value[key], out)
        out.append(b"}")
    elif isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _canonical(item, out)
        out.append(b"]")
    elif isinstance(value, _Number):
        out.append(str(value).encode("ascii"))
    elif isinstance(value, str):
        out.append(_go_string(value).encode("utf-8"))
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif value is None:
        out.append(b"null")
    elif isinstance(value, int | float):  # from YAML
        out.append(json.dumps(value).encode("ascii"))
    else:  # YAML dates and the like: as the text YAML gave
        out.append(_go_string(str(value)).encode("utf-8"))


def _canonical_bytes(name: str, content: bytes) -> bytes:
    """The canonical JSON of a structured file, as OPA hashes it."""
    if name.rsplit("/", 1)[-1] == "data.yaml":
        parts: list[bytes] = []
        _canonical(yaml.safe_load(content.decode("utf-8")) or {}, parts)
        return b"".join(parts)
    text = content.decode("utf-8")
    exotic = False  # numbers Python would not write back as written: floats, and -0

    def number(written: str) -> _Number:
        nonlocal exotic
        exotic = True
        return _Number(written)

    # Integers are parsed by the C decoder unless the text may hold a -0 (anywhere, even
    # in a string: then every integer is kept as written).
    negative_zero = _NEGATIVE_ZERO.search(text) is not None
    value = json.loads(
        text,
        parse_int=number if negative_zero else None,
        parse_float=number,
        parse_constant=_reject_constant,
    )
    if not exotic:
        # One pass of the C encoder: sorted keys (code point order = UTF-8 byte order for
        # valid text), compact, Go's escaping but for U+2028/U+2029, fixed up below.
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if _SURROGATE.search(text) is None:
            return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
    parts = []
    _canonical(value, parts)
    return b"".join(parts)


def file_hash(name: str, content: bytes, algorithm: str = "SHA-256") -> str:
    """The hex digest OPA records for one bundle file."""
    factory = _HASHES.get(algorithm)
    if factory is None:
        raise SignatureError(f"unsupported hashing algorithm: {algorithm}")
    digest = factory()
    if name.rsplit("/", 1)[-1] in _STRUCTURED:
        try:
            digest.update(_canonical_bytes(name, content))
        except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SignatureError(f"{name}: cannot parse for hashing: {exc}") from None
    else:
        digest.update(content)
    result: str = digest.hexdigest()
    return result


# -- keys and JWS --------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_key(path: Path, what: str) -> bytes:
    """A key file's bytes (BundleError naming the file when it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{what} {path}: cannot read: {exc.strerror}") from None


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise BundleError(
            f"unsupported signing algorithm {algorithm!r} (supported: {', '.join(ALGORITHMS)})"
        )


@dataclass(frozen=True)
class SigningConfig:
    """How to sign: the private key (PEM) or HMAC secret, the algorithm, key id and scope."""

    key: bytes
    algorithm: str = "RS256"
    key_id: str = ""
    scope: str = ""

    @classmethod
    def from_file(
        cls, path: Path, algorithm: str = "RS256", key_id: str = "", scope: str = ""
    ) -> SigningConfig:
        _check_algorithm(algorithm)
        config = cls(read_key(path, "signing key"), algorithm, key_id, scope)
        try:
            config.sign(b"probe")  # a wrong key type fails now, with the file named
        except BundleError as exc:
            raise BundleError(f"signing key {path}: {exc.message}") from None
        return config

    def sign(self, message: bytes) -> bytes:
        if self.algorithm == "HS256":
            return hmac.new(self.key, message, hashlib.sha256).digest()
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        try:
            private = serialization.load_pem_private_key(self.key, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise BundleError(
                f"the signing key is not an unencrypted PEM private key: {exc}"
            ) from None
        if self.algorithm == "RS256":
            if not isinstance(private, rsa.RSAPrivateKey):
                raise BundleError("RS256 needs an RSA private key")
            return private.sign(message, padding.PKCS1v15(), hashes.SHA256())
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise BundleError("ES256 needs an EC P-256 private key")
        r, s = utils.decode_dss_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True)
class VerificationConfig:
    """How to verify: the public key (PEM) or HMAC secret, algorithm, key id, scope.

    As OPA's ``keys: {ID: {algorithm, key}}`` with one key, and the bundle's
    ``signing: {keyid, scope, exclude_files}``.
    """

    key: bytes
    algorithm: str = "RS256"
    key_id: str = "default"
    scope: str = ""
    exclude_files: tuple[str, ...] = ()

    @classmethod
    def from_file(
        cls, path: Path, algorithm: str = "RS256", key_id: str = "default", scope: str = ""
    ) -> VerificationConfig:
        _check_algorithm(algorithm)
        return cls(read_key(path, "verification key"), algorithm, key_id, scope)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if self.algorithm == "HS256":
            expected = hmac.new(self.key, message, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        try:
            public = serialization.load_pem_public_key(self.key)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SignatureError(f"failed to parse the verification key: {exc}") from None
        try:
            if self.algorithm == "RS256" and isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
                return True
            if self.algorithm == "ES256" and isinstance(public, ec.EllipticCurvePublicKey):
                if len(signature) != 64:
                    return False
                der = utils.encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
                public.verify(der, message, ec.ECDSA(hashes.SHA256()))
                return True
        except InvalidSignature:
            return False
        return False


def _sorted_names(files: Mapping[str, bytes]) -> list[str]:
    return sorted(n for n in files if n.lstrip("/") != SIGNATURES_FILE)


def sign_files(files: Mapping[str, bytes], config: SigningConfig) -> bytes:
    """The ``.signatures.json`` for ``files`` (every file but an old signature)."""
    listed = [
        {"name": name.lstrip("/"), "hash": file_hash(name, files[name]), "algorithm": "SHA-256"}
        for name in _sorted_names(files)
    ]
    payload: dict[str, Any] = {"files": listed}
    if config.scope:
        payload["scope"] = config.scope
    header: dict[str, str] = {"alg": config.algorithm, "typ": "JWT"}
    if config.key_id:
        header["kid"] = config.key_id
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode("utf-8"))
        + "."
        + _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    )
    token = signing_input + "." + _b64(config.sign(signing_input.encode("ascii")))
    return (json.dumps({"signatures": [token]}, indent=1) + "\n").encode("utf-8")


def _excluded(name: str, patterns: tuple[str, ...]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) for p in patterns)


def verify_files(files: Mapping[str, bytes], config: VerificationConfig) -> dict[str, Any]:
    """Check ``files`` (``.signatures.json`` included) against their signature.

    Returns the JWT payload; raises :class:`SignatureError` with OPA's message
    for the first problem.
    """
    by_name = {n.lstrip("/"): c for n, c in files.items()}
    raw = by_name.get(SIGNATURES_FILE)
    if raw is None:
        raise SignatureError("bundle missing .signatures.json file")
    try:
        document = json.loads(raw.decode("utf-8"))
        signatures = document.get("signatures") if isinstance(document, dict) else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureError(f"bundle load failed on signatures decode: {exc}") from None
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError(".signatures.json: missing JWT (expected exactly one)")
    if len(signatures) > 1:
        raise SignatureError(".signatures.json: multiple JWTs not supported (expected exactly one)")
    token = signatures[0]
    try:
        if not isinstance(token, str) or token.count(".") != 2:
            raise ValueError("not a compact JWS")
        head, body, sig = token.split(".")
        header = json.loads(_unb64(head))
        payload = json.loads(_unb64(body))
        signature = _unb64(sig)
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise ValueError("header and payload must be JSON objects")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SignatureError(f"failed to parse JWT: {exc}") from None
    key_id = config.key_id or str(header.get("kid") or "") or str(payload.get("keyid") or "")
    if not key_id:
        raise SignatureError("verification key ID is empty")
    if key_id != config.key_id:
        raise SignatureError(f"verification key corresponding to ID {key_id} not found")
    if header.get("alg") != config.algorithm:
        raise SignatureError(
            "failed to verify message: could not verify message using any of the signatures or keys"
        )
    if not config.verify(f"{head}.{body}".encode("ascii"), signature):
        raise SignatureError(
            "failed to verify message: could not verify message using any of the signatures or keys"
        )
    if str(payload.get("scope") or "") != config.scope:
        raise SignatureError("scope mismatch")
    listed: dict[str, dict[str, Any]] = {}
    for entry in payload.get("files") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            listed[entry["name"]] = entry
    for name in sorted(by_name):
        if name == SIGNATURES_FILE:
            continue
        if _excluded(name, config.exclude_files):
            listed.pop(name, None)
            continue
        entry = listed.pop(name, None)
        if entry is None:
            raise SignatureError(f"file {name} not included in bundle signature")
        algorithm = entry.get("algorithm")
        if not algorithm:
            raise SignatureError(f"no hashing algorithm provided for file {name}")
        got = file_hash(name, by_name[name], str(algorithm))
        want = str(entry.get("hash", "")).lower()
        if not hmac.compare_digest(got, want):
            raise SignatureError(f"{name}: digest mismatch (want: {want}, got: {got})")
    if listed:
        raise SignatureError(
            f"file(s) [{' '.join(sorted(listed))}] specified in bundle signatures "
            "but not found in the target bundle"
        )
    return payload


def sign_bundle(bundle: Any, config: SigningConfig) -> Any:
    """A copy of a :class:`migrate.bundle.builder.Bundle` with ``.signatures.json`` added
    (same revision: the revision is the content hash of the signed files). The copy is
    made with :func:`dataclasses.replace`, so this module does not import the builder
    (which imports it to verify what it reads)."""
    files = {n: c for n, c in bundle.files.items() if n.lstrip("/") != SIGNATURES_FILE}
    files[SIGNATURES_FILE] = sign_files(files, config)
    return dataclasses.replace(bundle, files=files, policy_ids=list(bundle.policy_ids))
