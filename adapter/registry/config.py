"""Named registries: the ``registries:`` section of the config file, and their credentials.

Example::

    registries:
      ecr:
        url: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
      local:
        url: http://127.0.0.1:5000      # http: only for loopback hosts or insecure: true
        username_env: LOCAL_USER        # default FREIGHTLINER_REGISTRY_LOCAL_USERNAME
        password_env: LOCAL_PASS        # default FREIGHTLINER_REGISTRY_LOCAL_PASSWORD
      hub:
        url: https://registry-1.docker.io
        docker_config: ~/.docker/config.json

Secrets are never written in the file: a ``password`` (or ``token``,
``auth``...) key is rejected. Credentials come, in this order, from the
``token_env`` variable (a pre-issued bearer token), the username/password
variables, or a Docker ``config.json`` (``auths`` keyed by ``host[:port]``,
base64 ``auth`` = ``user:pass``); otherwise access is anonymous.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from adapter.registry.lookup import registry_named
from migrate.core.errors import ConfigError, Diagnostic

__all__ = [
    "Credentials",
    "RegistriesConfig",
    "RegistryConfig",
    "docker_config_path",
    "env_prefix",
    "is_loopback",
]

_SECRET_KEYS = frozenset({"password", "token", "auth", "secret", "identitytoken", "access_token"})
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials: a username/password pair or a bearer ``token`` (never both)."""

    username: str = ""
    password: str = ""
    token: str = ""

    def __repr__(self) -> str:  # never print secrets
        kind = "token" if self.token else f"user={self.username!r}"
        return f"Credentials({kind})"


def env_prefix(name: str) -> str:
    """``FREIGHTLINER_REGISTRY_<NAME>_``: upper-cased, every non-alphanumeric made ``_``."""
    return "FREIGHTLINER_REGISTRY_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    return Path.home() / ".docker" / "config.json"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise_auth_key(key: str) -> str:
    """``https://host:port/v1/`` → ``host:port``."""
    if "://" in key:
        key = urlsplit(key).netloc
    return key.split("/", 1)[0].lower()


class RegistryConfig(BaseModel):
    """One named registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    insecure: bool = False
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    docker_config: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            inline = sorted(k for k in data if str(k).lower() in _SECRET_KEYS)
            if inline:
                raise ValueError(
                    f"inline secrets are not allowed ({', '.join(inline)}); name environment "
                    "variables with username_env/password_env/token_env or use docker_config"
                )
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            raise ValueError(f"invalid registry name {value!r}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = "https://" + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port], got {value!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"url must not have a path or query, got {value!r}")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _plain_http(self) -> RegistryConfig:
        if self.scheme == "http" and not self.insecure and not is_loopback(self.hostname):
            raise ValueError(
                f"plain http to {self.hostname!r} needs insecure: true "
                "(only loopback hosts may use http)"
            )
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def hostname(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def host(self) -> str:
        """``host[:port]`` as Docker's ``config.json`` keys it."""
        return urlsplit(self.url).netloc.lower()

    @property
    def verify_tls(self) -> bool:
        """``insecure: true`` allows http and skips TLS verification."""
        return not self.insecure

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Resolve credentials (see the module docstring); ``None`` means anonymous.

        Raises :class:`ConfigError` when an explicitly named variable or
        ``docker_config`` file is missing, or only half of a user/password pair is set.
        """
        env = os.environ if environ is None else environ
        if self.token_env is not None:
            if not env.get(self.token_env):
                raise ConfigError(f"registry {self.name!r}: token_env {self.token_env} is not set")
            return Credentials(token=env[self.token_env])
        prefix = env_prefix(self.name)
        user_var = self.username_env or prefix + "USERNAME"
        pass_var = self.password_env or prefix + "PASSWORD"
        user, password = env.get(user_var), env.get(pass_var)
        explicit = self.username_env is not None or self.password_env is not None
        if user and password:
            return Credentials(username=user, password=password)
        if user or password or explicit:
            missing = pass_var if user else user_var
            raise ConfigError(f"registry {self.name!r}: environment variable {missing} is not set")
        return self._docker_config_credentials(env)

    def _docker_config_credentials(self, env: Mapping[str, str]) -> Credentials | None:
        path = self.docker_config.expanduser() if self.docker_config else docker_config_path(env)
        if not path.is_file():
            if self.docker_config is not None:
                raise ConfigError(f"registry {self.name!r}: docker_config {path} does not exist")
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"registry {self.name!r}: cannot read {path}: {exc}") from exc
        auths = document.get("auths") if isinstance(document, dict) else None
        if not isinstance(auths, dict):
            return None
        wanted = {self.host} | (_DOCKER_HUB if self.hostname in _DOCKER_HUB else set())
        for key, entry in auths.items():
            if _normalise_auth_key(str(key)) in wanted and isinstance(entry, dict):
                return _decode_auth_entry(entry, self.name, path)
        return None


def _decode_auth_entry(entry: dict[str, Any], name: str, path: Path) -> Credentials | None:
    if entry.get("identitytoken"):
        return Credentials(token=str(entry["identitytoken"]))
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"registry {name!r}: {path}: 'auth' is not base64 of user:pass"
            ) from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f"registry {name!r}: {path}: 'auth' does not decode to user:pass")
        return Credentials(username=user, password=password)
    if entry.get("username") and entry.get("password"):
        return Credentials(username=str(entry["username"]), password=str(entry["password"]))
    return None


class RegistriesConfig(BaseModel):
    """All named registries: build with :meth:`from_section`, :meth:`from_yaml`, :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registries: dict[str, RegistryConfig] = {}

    @classmethod
    def from_section(cls, section: Any, source: str | None = None) -> RegistriesConfig:
        """From the value of the ``registries:`` key (a mapping name → settings)."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError(
                "registries: must be a mapping of name to settings",
                [Diagnostic("must be a mapping", file=source, field="registries")],
            )
        problems: list[Diagnostic] = []
        parsed: dict[str, RegistryConfig] = {}
        for name, settings in section.items():
            if not isinstance(settings, Mapping):
                problems.append(
                    Diagnostic("must be a mapping", file=source, field=f"registries.{name}")
                )
                continue
            try:
                parsed[str(name)] = RegistryConfig.model_validate({**settings, "name": str(name)})
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    field = f"registries.{name}" + (f".{loc}" if loc else "")
                    message = str(err["msg"]).removeprefix("Value error, ")
                    problems.append(Diagnostic(message, file=source, field=field))
        if problems:
            raise ConfigError(
                f"invalid registries configuration ({len(problems)} problem(s))", problems
            )
        return cls(registries=parsed)

    @classmethod
    def from_yaml(cls, text: str, source: str | None = None) -> RegistriesConfig:
        """From a whole YAML document; only its ``registries:`` key is read."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source or 'config'}: invalid YAML: {exc}") from exc
        if document is not None and not isinstance(document, Mapping):
            raise ConfigError(f"{source or 'config'}: the document must be a mapping")
        return cls.from_section((document or {}).get("registries"), source)

    @classmethod
    def load(cls, path: str | Path) -> RegistriesConfig:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        return cls.from_yaml(text, str(path))

    def get(self, name: str) -> RegistryConfig:
        """The registry called ``name``; :class:`ConfigError` listing the known names otherwise."""
        return registry_named(self.registries, name)

    def __contains__(self, name: object) -> bool:
        return name in self.registries

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(sorted(self.registries))

    def __len__(self) -> int:
        return len(self.registries)
