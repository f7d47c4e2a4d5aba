"""One registry's credentials over time: resolved once, re-read when a secret file changes,
fetched again on demand (a ``401`` with cached credentials).

The order (the first source configured or present wins):

1. ``token_env``: a bearer token in that environment variable (must be set);
2. ``token_file``: a bearer token in that file;
3. ``password_file``: the password in that file, the user from ``username``,
   ``username_env`` or ``FREIGHTLINER_REGISTRY_<NAME>_USERNAME``;
4. ``username_env``/``password_env`` (defaults ``FREIGHTLINER_REGISTRY_<NAME>_USERNAME``
   and ``_PASSWORD``; a variable named explicitly must be set, the defaults are optional);
5. Docker's ``config.json`` (``docker_config``, else ``$DOCKER_CONFIG/config.json``, else
   ``~/.docker/config.json``): ``credHelpers`` for the host, ``credsStore``, ``auths``;
6. none: anonymous.

:meth:`CredentialSource.refresh` re-runs the whole resolution (environment read
again, files re-read, helper run again); several threads that hit the same
``401`` share one refresh.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from adapter.registry.credstore import (
    Credentials,
    SecretFile,
    docker_config_credentials,
    docker_config_path,
)
from migrate.core.errors import AuthenticationError, ConfigError

__all__ = [
    "CredentialProvider",
    "CredentialSettings",
    "CredentialSource",
    "StaticCredentials",
    "env_prefix",
]


def env_prefix(name: str) -> str:
    """``FREIGHTLINER_REGISTRY_<NAME>_``: upper-cased, every non-alphanumeric made ``_``."""
    return "FREIGHTLINER_REGISTRY_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


class CredentialSettings(Protocol):
    """The fields of a registry's configuration that say where its credentials are."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def username_env(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...
    @property
    def password_file(self) -> Path | None: ...
    @property
    def token_env(self) -> str | None: ...
    @property
    def token_file(self) -> Path | None: ...
    @property
    def docker_config(self) -> Path | None: ...
    @property
    def helper_timeout_seconds(self) -> float: ...


class CredentialProvider(Protocol):
    """What :class:`adapter.registry.auth.RegistryAuth` asks for credentials."""

    def current(self) -> Credentials | None:
        """The credentials to send now (cheap: cached)."""
        ...

    def refresh(self, stale: Credentials | None) -> tuple[Credentials | None, bool]:
        """Fetch again after ``stale`` was rejected: ``(credentials, changed)``."""
        ...

    def ways(self) -> str:
        """Every way credentials could have been given, for a "none found" error."""
        ...


class StaticCredentials:
    """Credentials given in code (or ``None``: anonymous); :meth:`refresh` changes nothing."""

    def __init__(self, credentials: Credentials | None, ways: str = "") -> None:
        self._credentials = credentials
        self._ways = ways

    def current(self) -> Credentials | None:
        return self._credentials

    def refresh(self, stale: Credentials | None) -> tuple[Credentials | None, bool]:
        return self._credentials, False

    def ways(self) -> str:
        return self._ways


class CredentialSource:
    """The configured sources of one registry (see the module docstring). Thread-safe."""

    def __init__(
        self, settings: CredentialSettings, environ: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self._environ = environ
        self._lock = threading.Lock()
        self._files = [
            SecretFile(path.expanduser(), settings.name, field)
            for field, path in (
                ("token_file", settings.token_file),
                ("password_file", settings.password_file),
            )
            if path is not None
        ]
        self._cached: Credentials | None = None
        self._resolved = False

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    # -- CredentialProvider ------------------------------------------------
    def current(self) -> Credentials | None:
        """The cached credentials; resolved again when never resolved or a secret file
        changed (a changed file that cannot be read now keeps the last credentials until a
        ``401`` asks for a refresh)."""
        if self._resolved and not any(f.changed() for f in self._files):
            return self._cached
        with self._lock:
            if not self._resolved:
                self._cached, self._resolved = self.resolve(), True
            elif any(f.changed() for f in self._files):
                # mid-rotation (file being replaced): keep the last good ones until a 401
                with contextlib.suppress(ConfigError):
                    self._cached = self.resolve()
            return self._cached

    def refresh(self, stale: Credentials | None) -> tuple[Credentials | None, bool]:
        """Resolve again, unless another thread already did since ``stale`` was handed out.
        A source that fails now is an :class:`AuthenticationError` (the request's)."""
        with self._lock:
            if self._resolved and self._cached is not stale:
                return self._cached, self._cached != stale
            try:
                fresh = self.resolve(force=True)
            except ConfigError as exc:
                raise AuthenticationError(
                    f"{exc.message} (fetching credentials again after HTTP 401)"
                ) from exc
            self._cached, self._resolved = fresh, True
            return fresh, fresh != stale

    def ways(self) -> str:
        s = self.settings
        prefix = env_prefix(s.name)
        user_var = s.username_env or prefix + "USERNAME"
        pass_var = s.password_env or prefix + "PASSWORD"
        path = s.docker_config.expanduser() if s.docker_config else docker_config_path(self.environ)
        return (
            f"set {user_var} and {pass_var}, or token_env, token_file or password_file "
            f"(+ username) under registries.{s.name}, or an entry for {s.host} in {path} "
            "(auths, credHelpers or credsStore)"
        )

    # -- resolution ----------------------------------------------------------
    def resolve(self, force: bool = False) -> Credentials | None:
        """Every source in order; :class:`ConfigError` when one is misconfigured."""
        s, env = self.settings, self.environ
        files = {f.field_name: f for f in self._files}
        if s.token_env is not None:
            if not env.get(s.token_env):
                raise ConfigError(f"registry {s.name!r}: token_env {s.token_env} is not set")
            return Credentials(token=env[s.token_env], origin=f"token_env {s.token_env}")
        if "token_file" in files:
            token_file = files["token_file"]
            return Credentials(token=token_file.read(force), origin=f"token_file {token_file.path}")
        prefix = env_prefix(s.name)
        user_var = s.username_env or prefix + "USERNAME"
        if "password_file" in files:
            password_file = files["password_file"]
            user = s.username or env.get(user_var)
            if not user:
                raise ConfigError(
                    f"registry {s.name!r}: password_file needs a user: set username, or the "
                    f"environment variable {user_var}"
                )
            return Credentials(
                username=user,
                password=password_file.read(force),
                origin=f"password_file {password_file.path}",
            )
        pass_var = s.password_env or prefix + "PASSWORD"
        user, password = env.get(user_var), env.get(pass_var)
        explicit = s.username_env is not None or s.password_env is not None
        if user and password:
            return Credentials(username=user, password=password, origin=f"environment {pass_var}")
        if user or password or explicit:
            missing = pass_var if user else user_var
            raise ConfigError(f"registry {s.name!r}: environment variable {missing} is not set")
        path = s.docker_config.expanduser() if s.docker_config else docker_config_path(env)
        if not path.is_file():
            if s.docker_config is not None:
                raise ConfigError(f"registry {s.name!r}: docker_config {path} does not exist")
            return None
        return docker_config_credentials(
            path,
            s.host,
            registry=s.name,
            url=s.url,
            environ=env,
            timeout=s.helper_timeout_seconds,
        )
