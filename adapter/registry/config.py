"""Named registries: the ``registries:`` section of the config file, and their credentials.

Example::

    registries:
      ecr:
        url: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
        # credentials from ~/.docker/config.json: credHelpers {"<host>": "ecr-login"}
      local:
        url: http://127.0.0.1:5000      # http: only for loopback hosts or insecure: true
        username_env: LOCAL_USER        # default FREIGHTLINER_REGISTRY_LOCAL_USERNAME
        password_env: LOCAL_PASS        # default FREIGHTLINER_REGISTRY_LOCAL_PASSWORD
      harbor:
        url: https://harbor.internal:8443
        username: robot$replicator
        password_file: /run/secrets/harbor   # re-read when it changes
        ca_file: /etc/pki/internal-ca.pem    # or certs_dir: /etc/docker/certs.d
      hub:
        url: https://registry-1.docker.io
        docker_config: ~/.docker/config.json

Secrets are never written in the file: a ``password`` (or ``token``,
``auth``...) key is rejected. Where credentials come from, in which order, is
:mod:`adapter.registry.credentials`; TLS settings are :mod:`adapter.registry.tls`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapter.registry.credentials import CredentialSource, env_prefix
from adapter.registry.credstore import Credentials, docker_config_path
from adapter.registry.lookup import registry_named
from adapter.registry.tls import TlsConfigError, ssl_context
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
_TLS_FIELDS = ("ca_file", "client_cert", "client_key", "certs_dir")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistryConfig(BaseModel):
    """One named registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    insecure: bool = False
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    token_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    docker_config: Path | None = None
    #: a Docker credential helper (credHelpers/credsStore) must answer within this time
    helper_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    certs_dir: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            inline = sorted(k for k in data if str(k).lower() in _SECRET_KEYS)
            if inline:
                raise ValueError(
                    f"inline secrets are not allowed ({', '.join(inline)}); use password_file/"
                    "token_file, environment variables (username_env/password_env/token_env) "
                    "or docker_config"
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
            host = urlsplit("https://" + value).hostname or ""
            plain = "" if is_loopback(host) else " with insecure: true"
            raise ValueError(
                f"url {value!r} has no scheme: write https://{value} (TLS, verified), or "
                f"http://{value}{plain} for plain http"
            )
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

    @model_validator(mode="after")
    def _sources(self) -> RegistryConfig:
        for first, second in (
            ("token_env", "token_file"),
            ("password_env", "password_file"),
            ("username", "username_env"),
            ("token_env", "password_file"),
            ("token_file", "password_file"),
        ):
            if getattr(self, first) is not None and getattr(self, second) is not None:
                raise ValueError(f"{first} and {second} exclude each other: keep one")
        if self.username is not None and self.password_file is None:
            raise ValueError("username is only used with password_file")
        tls = [f for f in _TLS_FIELDS if getattr(self, f) is not None]
        if tls and self.insecure:
            raise ValueError(
                f"insecure: true turns TLS verification off, {', '.join(tls)} would be "
                "ignored: remove one"
            )
        if tls and self.scheme != "https":
            raise ValueError(f"{', '.join(tls)} need an https url")
        if (self.client_cert is None) != (self.client_key is None):
            given, missing = (
                ("client_cert", "client_key")
                if self.client_key is None
                else ("client_key", "client_cert")
            )
            raise ValueError(f"{given} needs {missing}")
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

    @property
    def has_tls_files(self) -> bool:
        """True when a CA, client certificate or ``certs_dir`` is configured."""
        return any(getattr(self, f) is not None for f in _TLS_FIELDS)

    def check_tls(self) -> None:
        """Load the TLS files once (:class:`TlsConfigError` naming the field if one is bad)."""
        if self.has_tls_files:
            ssl_context(self)

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Resolve credentials once (:mod:`adapter.registry.credentials`); ``None`` means
        anonymous. Raises :class:`ConfigError` when a named variable or file is missing, a
        credential helper is missing or fails, or only half of a user/password pair is set.
        """
        return CredentialSource(self, environ).resolve()

    def credential_source(self, environ: Mapping[str, str] | None = None) -> CredentialSource:
        """The registry's credentials over time (re-read on change, fetched again on 401)."""
        return CredentialSource(self, environ)


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
                parsed[str(name)].check_tls()
            except TlsConfigError as exc:
                field = f"registries.{name}.{exc.field}"
                problems.append(Diagnostic(exc.problem, file=source, field=field))
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
