"""Where registry credentials are kept: secret files, Docker's ``config.json`` and
Docker credential helpers.

* :class:`SecretFile`: a ``password_file``/``token_file``, re-read only when its
  ``(mtime, size, inode)`` changes (one ``stat`` per look; no thread);
* :func:`docker_config_credentials`: Docker's lookup for one registry host: a
  ``credHelpers`` entry for the host wins, then ``credsStore``, then the static
  ``auths`` entry (``auth`` = base64 ``user:pass``, ``username``/``password``,
  ``identitytoken``);
* :func:`run_helper`: the ``docker-credential-<name>`` protocol, ``get`` with the
  server URL on stdin and ``{"ServerURL", "Username", "Secret"}`` on stdout; a
  ``Username`` of ``<token>`` means ``Secret`` is an identity token (an OAuth2
  refresh token, exchanged at the registry's token realm); a helper that
  says ``credentials not found in native keychain`` has none (anonymous, as
  Docker does). A helper missing, failing, timing out or printing anything else
  is one :class:`ConfigError` naming the helper, the registry and its URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrate.core.errors import ConfigError

__all__ = [
    "DOCKER_HUB",
    "HELPER_NOT_FOUND",
    "Credentials",
    "SecretFile",
    "docker_config_credentials",
    "docker_config_path",
    "helper_server_url",
    "normalise_auth_key",
    "run_helper",
]

DOCKER_HUB = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
#: What a helper prints (exit 1) when it holds nothing for the server (docker-credential-helpers).
HELPER_NOT_FOUND = "credentials not found in native keychain"
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_SECRET_BYTES = 64 * 1024
_MAX_HELPER_OUTPUT = 1 << 20


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials: a username/password pair, a bearer ``token`` sent as is, or an
    ``identity_token`` (OAuth2 refresh token) exchanged for bearer tokens; one of them.

    ``origin`` says where they came from (``password_file /run/x``, ``credential helper
    docker-credential-ecr-login (credHelpers in ~/.docker/config.json)``...) for error
    messages; it takes no part in comparisons and never holds a secret.
    """

    username: str = ""
    password: str = ""
    token: str = ""
    #: an OAuth2 refresh token (Docker's identity token), exchanged at the token realm
    identity_token: str = ""
    origin: str = field(default="", compare=False)

    def __repr__(self) -> str:  # never print secrets
        if self.token:
            return "Credentials(token)"
        if self.identity_token:
            return "Credentials(identity token)"
        return f"Credentials(user={self.username!r})"


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    return Path.home() / ".docker" / "config.json"


def normalise_auth_key(key: str) -> str:
    """``https://host:port/v1/`` → ``host:port`` (how ``auths``/``credHelpers`` keys compare)."""
    if "://" in key:
        key = urlsplit(key).netloc
    return key.split("/", 1)[0].lower()


def helper_server_url(host: str) -> str:
    """What Docker hands a helper on stdin: ``https://index.docker.io/v1/`` for Docker Hub,
    else the registry's ``host[:port]``."""
    return "https://index.docker.io/v1/" if host in DOCKER_HUB else host


class SecretFile:
    """A file holding one secret; :meth:`read` re-reads it only when it changed.

    The content is used as written, minus one trailing newline (``\\n`` or
    ``\\r\\n``); an empty file, a file over 64 KiB or an unreadable one is a
    :class:`ConfigError` naming the registry and the field. Thread-safe.
    """

    def __init__(self, path: Path, registry: str, field_name: str) -> None:
        self.path = path
        self.registry = registry
        self.field_name = field_name
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._value = ""

    def _stat(self) -> tuple[int, int, int]:
        try:
            info = self.path.stat()
        except OSError as exc:
            raise self._error(f"cannot read: {exc.strerror}") from exc
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def changed(self) -> bool:
        """True when the file is not the one last read (or was never read)."""
        try:
            return self._stat() != self._stamp
        except ConfigError:
            return True

    def read(self, force: bool = False) -> str:
        with self._lock:
            stamp = self._stat()
            if not force and stamp == self._stamp:
                return self._value
            try:
                with self.path.open("rb") as handle:
                    data = handle.read(_MAX_SECRET_BYTES + 1)
            except OSError as exc:
                raise self._error(f"cannot read: {exc.strerror}") from exc
            if len(data) > _MAX_SECRET_BYTES:
                raise self._error(f"is larger than {_MAX_SECRET_BYTES} bytes")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._error("is not UTF-8 text") from exc
            text = text.removesuffix("\n").removesuffix("\r")
            if not text:
                raise self._error("is empty")
            self._stamp, self._value = stamp, text
            return text

    def _error(self, problem: str) -> ConfigError:
        return ConfigError(f"registry {self.registry!r}: {self.field_name} {self.path} {problem}")


def docker_config_credentials(
    path: Path,
    host: str,
    *,
    registry: str,
    url: str,
    environ: Mapping[str, str],
    timeout: float,
) -> Credentials | None:
    """Docker's credentials for ``host`` from the config file at ``path`` (see the module
    docstring); ``None`` when the file has none for the host. The file must exist."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"registry {registry!r}: cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"registry {registry!r}: {path}: not a JSON object")
    wanted = {host} | (DOCKER_HUB if host in DOCKER_HUB else set())
    helpers = document.get("credHelpers")
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if normalise_auth_key(str(key)) in wanted:
                return _helper(
                    str(helper), "credHelpers", path, host, registry, url, environ, timeout
                )
    store = document.get("credsStore")
    if isinstance(store, str) and store:
        return _helper(store, "credsStore", path, host, registry, url, environ, timeout)
    auths = document.get("auths")
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if normalise_auth_key(str(key)) in wanted and isinstance(entry, dict):
            return _decode_auth_entry(entry, registry, path)
    return None


def _helper(
    name: str,
    key: str,
    path: Path,
    host: str,
    registry: str,
    url: str,
    environ: Mapping[str, str],
    timeout: float,
) -> Credentials | None:
    return run_helper(
        name,
        helper_server_url(host),
        registry=registry,
        url=url,
        where=f"{key} in {path}",
        environ=environ,
        timeout=timeout,
    )


def run_helper(
    name: str,
    server_url: str,
    *,
    registry: str,
    url: str,
    where: str,
    environ: Mapping[str, str],
    timeout: float,
) -> Credentials | None:
    """``docker-credential-<name> get`` for ``server_url`` (found on ``environ``'s ``PATH``),
    bounded by ``timeout`` seconds; ``None`` when the helper holds nothing for it."""
    program = f"docker-credential-{name}"
    prefix = f"registry {registry!r} at {url}: credential helper {program} ({where})"
    if not _HELPER_NAME.fullmatch(name):
        raise ConfigError(
            f"registry {registry!r} at {url}: {where}: invalid credential helper name {name!r}"
        )
    executable = shutil.which(program, path=environ.get("PATH", os.defpath))
    if executable is None:
        raise ConfigError(f"{prefix}: not found on PATH")
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server_url.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            env=dict(environ),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"{prefix}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise ConfigError(f"{prefix}: cannot run: {exc.strerror}") from exc
    stdout = done.stdout[:_MAX_HELPER_OUTPUT].decode("utf-8", errors="replace")
    if done.returncode != 0:
        said = stdout.strip() or done.stderr.decode("utf-8", errors="replace").strip()
        if HELPER_NOT_FOUND in said:
            return None
        raise ConfigError(f"{prefix}: get failed (exit {done.returncode}): {_first_line(said)}")
    try:
        answer: Any = json.loads(stdout)
    except ValueError:
        answer = None
    username = answer.get("Username") if isinstance(answer, dict) else None
    secret = answer.get("Secret") if isinstance(answer, dict) else None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        # the output is never echoed: it may hold a secret
        raise ConfigError(
            f"{prefix}: get printed no JSON object with a string Username and a non-empty Secret"
        )
    origin = f"credential helper {program} ({where})"
    if username == "<token>":
        return Credentials(identity_token=secret, origin=origin)
    return Credentials(username=username, password=secret, origin=origin)


def _first_line(text: str) -> str:
    line = text.splitlines()[0] if text else "(no output)"
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= 200 else line[:200] + "..."


def _decode_auth_entry(entry: dict[str, Any], name: str, path: Path) -> Credentials | None:
    origin = f"auths in {path}"
    if entry.get("identitytoken"):
        return Credentials(identity_token=str(entry["identitytoken"]), origin=origin)
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
        return Credentials(username=user, password=password, origin=origin)
    if entry.get("username") and entry.get("password"):
        return Credentials(
            username=str(entry["username"]), password=str(entry["password"]), origin=origin
        )
    return None
