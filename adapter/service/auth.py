"""Bearer-token authentication and scopes of the ``/v1/`` API and the bundle endpoint.

Tokens are named and scoped. ``serve.tokens_file`` (YAML or JSON) holds them,
each stored as the SHA-256 of the token, never the token itself::

    tokens:
      - name: opa-sidecar
        sha256: 9f86d0...          # hex SHA-256 of the token (freightliner-policy token new)
        scopes: [bundle:read]
      - name: ci
        sha256: 2c26b4...
        scopes: [policies:read, policies:write]

Scopes (:data:`SCOPES`): ``bundle:read`` (download the bundle: the OPA sidecar),
``decisions`` (``POST /v1/evaluate``), ``replicate`` (``POST /v1/replicate``),
``policies:read`` (read, export, validate, preview policies), ``policies:write``
(create, change, delete policies). A request's token is hashed and compared with
every stored hash (:func:`hmac.compare_digest`; all of them, so the time does not
depend on which one matches). Unknown or missing token: 401; a known token
without the endpoint's scope: 403 naming the scope.

Without ``tokens_file`` the single legacy token (``serve.token_file``, else the
environment variable ``serve.token_env``) is accepted as the token ``default``
with every scope (the behaviour before scopes existed; docs/deployment.md,
"Migrating to scoped tokens").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.config import ServeSettings
from adapter.service.http import ApiError
from migrate.core.errors import ConfigError, Diagnostic
from migrate.core.yaml_source import line_of, load_yaml

__all__ = [
    "SCOPES",
    "Token",
    "TokenAuth",
    "hash_token",
    "load_token",
    "load_tokens",
    "new_token",
]

SCOPES = ("bundle:read", "decisions", "replicate", "policies:read", "policies:write")
_MIN_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHALLENGE = 'Bearer realm="freightliner-policy"'


def hash_token(token: str) -> str:
    """The hex SHA-256 stored for a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return "flp_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Token:
    """A named token: its SHA-256 and its scopes."""

    name: str
    digest: bytes
    scopes: frozenset[str]


def load_token(settings: ServeSettings, environ: Mapping[str, str] | None = None) -> str:
    """The legacy single API token; ConfigError when it is missing or shorter than 16 chars."""
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
        raise ConfigError(
            f"no API token: set serve.tokens_file (scoped tokens) or {source} (one token)"
        )
    if len(token) < _MIN_LENGTH:
        raise ConfigError(f"the API token from {source} is shorter than {_MIN_LENGTH} characters")
    return token


def _parse_tokens(data: Any, name: str) -> list[Token]:
    problems: list[Diagnostic] = []
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{name}: expected 'tokens:' with a non-empty list of tokens")
    if isinstance(data, dict):
        for key in sorted(set(data) - {"tokens"}):
            problems.append(
                Diagnostic("unknown key", file=name, line=line_of(data, [key]), field=key)
            )
    tokens: list[Token] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):

        def problem(message: str, field: str, path: list[str | int], i: int = i) -> None:
            problems.append(
                Diagnostic(
                    message,
                    file=name,
                    line=line_of(data, ["tokens", i, *path]),
                    field=f"tokens[{i}]{'.' + field if field else ''}",
                )
            )

        if not isinstance(entry, dict):
            problem("a token must be a mapping with name, sha256, scopes", "", [])
            continue
        for key in sorted(set(entry) - {"name", "sha256", "scopes"}):
            problem("unknown field", key, [key])
        token_name = entry.get("name")
        digest = entry.get("sha256")
        scopes = entry.get("scopes")
        ok = True
        if not isinstance(token_name, str) or not _NAME.fullmatch(token_name):
            problem("name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}", "name", ["name"])
            ok = False
        elif token_name in seen:
            problem(f"duplicate token name {token_name!r}", "name", ["name"])
            ok = False
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            problem(
                "sha256 must be 64 lower-case hex digits (the token's SHA-256)",
                "sha256",
                ["sha256"],
            )
            ok = False
        if not isinstance(scopes, list) or not scopes:
            problem(
                f"scopes must be a non-empty list of: {', '.join(SCOPES)}", "scopes", ["scopes"]
            )
            ok = False
        else:
            for j, scope in enumerate(scopes):
                if scope not in SCOPES:
                    problem(
                        f"unknown scope {scope!r} (known: {', '.join(SCOPES)})",
                        f"scopes[{j}]",
                        ["scopes", j],
                    )
                    ok = False
        if ok:
            assert isinstance(token_name, str) and isinstance(digest, str)
            assert isinstance(scopes, list)
            seen.add(token_name)
            tokens.append(Token(token_name, bytes.fromhex(digest), frozenset(scopes)))
    if problems:
        raise ConfigError(f"{name}: {len(problems)} problem(s) in the token file", problems)
    return tokens


def load_tokens(settings: ServeSettings, environ: Mapping[str, str] | None = None) -> list[Token]:
    """The tokens ``serve`` accepts: ``serve.tokens_file``, else the legacy single token."""
    tokens_file = getattr(settings, "tokens_file", None)
    if tokens_file:
        path = Path(tokens_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"serve.tokens_file {path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        try:
            data = load_yaml(text, str(path))
        except Exception as exc:  # PolicyError: the YAML syntax error with its line
            raise ConfigError(f"{path}: invalid YAML", getattr(exc, "diagnostics", None)) from None
        return _parse_tokens(data, str(path))
    token = load_token(settings, environ)
    return [Token("default", hashlib.sha256(token.encode("utf-8")).digest(), frozenset(SCOPES))]


class TokenAuth:
    """Checks ``Authorization: Bearer <token>`` and the token's scopes."""

    def __init__(self, tokens: Sequence[Token] | str) -> None:
        if isinstance(tokens, str):  # one all-powerful token (the legacy form)
            tokens = [
                Token("default", hashlib.sha256(tokens.encode("utf-8")).digest(), frozenset(SCOPES))
            ]
        self._tokens = list(tokens)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self._tokens]

    def authenticate(self, authorization: str) -> Token:
        """The token the header names; ApiError 401 when there is none or it is unknown."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(
                "unauthorized", "a bearer token is required", {"www-authenticate": _CHALLENGE}
            )
        digest = hashlib.sha256(given.strip().encode("utf-8")).digest()
        found: Token | None = None
        for token in self._tokens:  # compare with every one: no early exit
            if hmac.compare_digest(digest, token.digest) and found is None:
                found = token
        if found is None:
            raise ApiError(
                "unauthorized",
                "invalid bearer token",
                {"www-authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        return found

    def check(self, authorization: str, scope: str | None = None) -> Token:
        """Authenticate, then require ``scope``: ApiError 401, or 403 naming the scope."""
        token = self.authenticate(authorization)
        if scope is not None and scope not in token.scopes:
            raise ApiError(
                "forbidden",
                f"token {token.name!r} lacks the scope {scope!r}",
                {"www-authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
            )
        return token
