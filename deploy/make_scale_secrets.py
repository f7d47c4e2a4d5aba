"""Make the secrets of the compose ``scale`` profile: the PostgreSQL password, twice.

    python deploy/make_scale_secrets.py [DIR]      # default: deploy/secrets

Writes, refusing to overwrite an existing file (mode 0600):

    postgres_password   the password the postgres container sets (POSTGRES_PASSWORD_FILE)
    pgpass              the same password in libpq's passfile format, for serve and worker
                        (state.url ends in ?passfile=/run/secrets/pgpass)

The adapter and worker containers run as uid 10001: as root, pgpass is given to that uid.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ADAPTER_UID = 10001
FILES = ("postgres_password", "pgpass")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def make_scale_secrets(directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory}: already has {', '.join(existing)}; not overwritten")
    password = secrets.token_urlsafe(32)  # no ':' or '\\' (pgpass separators)
    _write(directory / "postgres_password", password.encode())
    _write(directory / "pgpass", f"postgres:5432:freightliner:freightliner:{password}\n".encode())
    notes = [f"wrote {', '.join(FILES)} to {directory}"]
    try:
        os.chown(directory / "pgpass", ADAPTER_UID, -1)
    except PermissionError:
        notes.append(f"serve and worker (uid {ADAPTER_UID}) must read pgpass: "
                     f"sudo chown {ADAPTER_UID} {directory / 'pgpass'}")
    return notes


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "secrets"
    try:
        notes = make_scale_secrets(directory)
    except (OSError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
