"""Make the secrets the compose demo needs (docker-compose.yml ``secrets:``); none ship.

    python deploy/make_secrets.py [DIR]      # default: deploy/secrets

Writes, refusing to overwrite any existing file:

    tokens.yaml                    serve.tokens_file: names, SHA-256 hashes and scopes
    opa_bundle_token               the OPA sidecar's token (scope bundle:read only)
    admin_token                    yours: decisions, replicate, policies:read, policies:write
    bundle_signing_key.pem         RSA-2048 private key: serve signs the bundles it publishes
    bundle_verification_key.pem    its public key: the sidecar verifies every bundle with it

Needs the project installed (``pip install .``: the token helpers and ``cryptography``).
The private files are mode 0600; the adapter container runs as uid 10001, so when run
as root the signing key is given to that uid (otherwise the script says what to run).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapter.service.auth import hash_token, new_token

ADAPTER_UID = 10001
FILES = (
    "tokens.yaml",
    "opa_bundle_token",
    "admin_token",
    "bundle_signing_key.pem",
    "bundle_verification_key.pem",
)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)


def make_secrets(directory: Path) -> list[str]:
    """Write the five files into ``directory``; the notes to print."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory}: already has {', '.join(existing)}; not overwritten")
    sidecar, admin = new_token(), new_token()
    tokens = {
        "tokens": [
            {"name": "opa-sidecar", "sha256": hash_token(sidecar), "scopes": ["bundle:read"]},
            {
                "name": "admin",
                "sha256": hash_token(admin),
                "scopes": ["decisions", "replicate", "policies:read", "policies:write"],
            },
        ]
    }
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(directory / "tokens.yaml", yaml.safe_dump(tokens, sort_keys=False).encode(), 0o644)
    _write(directory / "opa_bundle_token", sidecar.encode(), 0o600)
    _write(directory / "admin_token", admin.encode() + b"\n", 0o600)
    _write(directory / "bundle_signing_key.pem", private, 0o600)
    _write(directory / "bundle_verification_key.pem", public, 0o644)
    notes = [f"wrote {', '.join(FILES)} to {directory}"]
    try:
        os.chown(directory / "bundle_signing_key.pem", ADAPTER_UID, -1)
    except PermissionError:
        notes.append(
            f"the adapter (uid {ADAPTER_UID}) must read bundle_signing_key.pem: "
            f"sudo chown {ADAPTER_UID} {directory / 'bundle_signing_key.pem'}"
        )
    notes.append(f"your API token is in {directory / 'admin_token'}")
    return notes


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "secrets"
    try:
        notes = make_secrets(directory)
    except (OSError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
