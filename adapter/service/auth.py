"""Bearer-token authentication of the ``/v1/`` API (and the bundle endpoint).

The token comes from ``serve.token_file`` (first line, stripped) when set,
else from the environment variable ``serve.token_env``. Comparison is
constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from adapter.config import ServeSettings
from adapter.service.http import ApiError
from migrate.core.errors import ConfigError

__all__ = ["TokenAuth", "load_token"]

_MIN_LENGTH = 16


def load_token(settings: ServeSettings, environ: Mapping[str, str] | None = None) -> str:
    """The API token; ConfigError when it is missing or shorter than 16 characters."""
    env = os.environ if environ is None else environ
    if settings.token_file:
        path = Path(settings.token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"serve.token_file {path}: cannot read a token from it") from exc
        source = f"serve.token_file {path}"
    else:
        token = env.get(settings.token_env, "").strip()
        source = f"environment variable {settings.token_env}"
    if not token:
        raise ConfigError(f"no API token: set {source}")
    if len(token) < _MIN_LENGTH:
        raise ConfigError(f"the API token from {source} is shorter than {_MIN_LENGTH} characters")
    return token


class TokenAuth:
    """Checks ``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")

    def check(self, authorization: str) -> None:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(
                "unauthorized",
                "a bearer token is required",
                {"www-authenticate": 'Bearer realm="freightliner-policy"'},
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            raise ApiError(
                "unauthorized",
                "invalid bearer token",
                {"www-authenticate": 'Bearer realm="freightliner-policy", error="invalid_token"'},
            )
