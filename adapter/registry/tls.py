"""TLS per registry: extra CA certificates, a client certificate, Docker's ``certs.d``.

* ``ca_file``: PEM CA certificate(s) trusted for this registry, **in addition to** the
  default trust store (httpx's, certifi), as Docker does on Linux;
* ``client_cert`` + ``client_key``: a PEM client certificate and its key (mutual TLS);
* ``certs_dir``: a Docker ``certs.d`` root (``/etc/docker/certs.d``): the files of
  ``<certs_dir>/<host[:port]>/`` are used as Docker uses them: every ``*.crt`` is a CA
  certificate, a ``<name>.cert`` with its ``<name>.key`` is the client certificate (a
  ``.cert`` without its ``.key``, or the other way round, is an error); a host without a
  directory there uses the defaults; the directory is named as the URL writes the host
  (``registry.example:5443``, ``registry.example`` for the default port);
* ``insecure: true`` turns verification off (and allows http); it cannot be combined with
  the settings above. Verification is on by default.

Every problem (missing file, not PEM, key not matching the certificate) is a
:class:`ConfigError` naming the registry and the field.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import certifi

from migrate.core.errors import ConfigError

__all__ = [
    "TlsConfigError",
    "TlsFiles",
    "TlsSettings",
    "describe_tls_failure",
    "ssl_context",
    "tls_files",
    "verify_setting",
]


class TlsConfigError(ConfigError):
    """A bad TLS setting: ``registry 'NAME': FIELD: PROBLEM``, with ``field`` and ``problem``."""

    def __init__(self, registry: str, field: str, problem: str) -> None:
        super().__init__(f"registry {registry!r}: {field}: {problem}")
        self.registry = registry
        self.field = field
        self.problem = problem


class TlsSettings(Protocol):
    """The TLS fields of a registry's configuration."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def insecure(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def client_cert(self) -> Path | None: ...
    @property
    def client_key(self) -> Path | None: ...
    @property
    def certs_dir(self) -> Path | None: ...


@dataclass(frozen=True)
class TlsFiles:
    """The files one registry's TLS uses, each with the field that named it."""

    cas: tuple[tuple[str, Path], ...] = ()
    client: tuple[str, Path, Path] | None = None  # (field, certificate, key)

    @property
    def empty(self) -> bool:
        return not self.cas and self.client is None


def tls_files(settings: TlsSettings) -> TlsFiles:
    """The CA and client-certificate files of ``settings`` (``certs_dir`` listed)."""
    cas: list[tuple[str, Path]] = []
    client: tuple[str, Path, Path] | None = None
    if settings.ca_file is not None:
        cas.append(("ca_file", settings.ca_file.expanduser()))
    if settings.client_cert is not None and settings.client_key is not None:
        client = (
            "client_cert",
            settings.client_cert.expanduser(),
            settings.client_key.expanduser(),
        )
    if settings.certs_dir is not None:
        root = settings.certs_dir.expanduser()
        if not root.is_dir():
            raise _error(settings, "certs_dir", f"{root} is not a directory")
        directory = root / settings.host
        if directory.is_dir():
            pairs: list[tuple[Path, Path]] = []
            for entry in sorted(directory.iterdir()):
                if entry.suffix == ".crt":
                    cas.append(("certs_dir", entry))
                elif entry.suffix == ".cert":
                    key = entry.with_suffix(".key")
                    if not key.is_file():
                        raise _error(
                            settings,
                            "certs_dir",
                            f"missing key {key.name} for client certificate {entry} "
                            "(CA certificates must end in .crt)",
                        )
                    pairs.append((entry, key))
                elif entry.suffix == ".key" and not entry.with_suffix(".cert").is_file():
                    raise _error(
                        settings,
                        "certs_dir",
                        f"missing client certificate {entry.with_suffix('.cert').name} "
                        f"for key {entry}",
                    )
            if len(pairs) > 1:
                raise _error(
                    settings,
                    "certs_dir",
                    f"{directory} holds {len(pairs)} client certificates; one is supported",
                )
            if pairs:
                if client is not None:
                    raise _error(
                        settings,
                        "client_cert",
                        f"given twice: in the config and as {pairs[0][0]} in certs_dir",
                    )
                client = ("certs_dir", pairs[0][0], pairs[0][1])
    return TlsFiles(tuple(cas), client)


def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """A verifying context: the default trust store, plus the registry's CAs and client
    certificate."""
    files = tls_files(settings)
    context = ssl.create_default_context(cafile=certifi.where())
    for field, path in files.cas:
        if not path.is_file():
            raise _error(settings, field, f"{path} does not exist")
        try:
            context.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise _error(
                settings, field, f"{path} is not a PEM CA certificate ({_why(exc)})"
            ) from exc
    if files.client is not None:
        field, cert, key = files.client
        for role, path in (("client_cert", cert), ("client_key", key)):
            if not path.is_file():
                raise _error(
                    settings, role if field == "client_cert" else field, f"{path} does not exist"
                )
        try:
            context.load_cert_chain(certfile=str(cert), keyfile=str(key))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise _error(
                settings,
                field,
                f"cannot use client certificate {cert} with key {key} ({_why(exc)})",
            ) from exc
    return context


def verify_setting(settings: TlsSettings) -> bool | ssl.SSLContext:
    """httpx's ``verify``: ``False`` for ``insecure``, ``True`` (defaults) when nothing is
    configured, else :func:`ssl_context`."""
    if settings.insecure:
        return False
    if settings.ca_file is None and settings.client_cert is None and settings.certs_dir is None:
        return True
    return ssl_context(settings)


def describe_tls_failure(exc: BaseException, host: str) -> str | None:
    """A one-line explanation with the fix when ``exc`` (an httpx error) comes from a TLS
    *setting*: an untrusted server certificate, a client certificate the server refused or
    wants, or https spoken to a plain-http port; else ``None`` (e.g. a connection cut in the
    middle of a transfer, which is worth retrying)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS: the certificate of {host} is not trusted ({cause.verify_message}); "
                "trust its CA with ca_file or certs_dir (insecure: true turns verification off)"
            )
        if isinstance(cause, ssl.SSLError):
            reason = str(cause.reason or "")
            if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
                return (
                    f"TLS handshake with {host} failed ({reason}): the registry wants a client "
                    "certificate it trusts (client_cert + client_key, or certs_dir)"
                )
            if "WRONG_VERSION_NUMBER" in reason:
                return (
                    f"TLS handshake with {host} failed ({reason}): it does not speak https "
                    "there; a plain-http registry needs an http:// url (loopback, or with "
                    "insecure: true)"
                )
            return None
        cause = cause.__cause__ or cause.__context__
    return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _error(settings: TlsSettings, field: str, problem: str) -> TlsConfigError:
    return TlsConfigError(settings.name, field, problem)
