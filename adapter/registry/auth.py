"""Registry authentication as an ``httpx.Auth`` flow: challenges, Basic, and Bearer tokens.

The flow follows the distribution spec's token authentication: a request
answered ``401`` carries a challenge; for ``Basic`` the credentials are sent;
for ``Bearer realm=...,service=...`` a token is fetched from the realm with
``GET realm?service=S&scope=repository:NAME:pull[,push]`` (with the
credentials as Basic auth, or anonymously) and cached until it expires. Once a
registry's challenge is known, later requests authenticate up front.

Credentials stay with their origin: :class:`RegistryAuth` adds an
``Authorization`` header only to requests whose scheme, host and port are the
registry's own (any other request loses the header), and the Basic
credentials go to a token realm only when that realm is https, or the
registry itself is loopback or ``insecure``. A configured bearer token
(``token_env``, ``token_file``, a helper's identity token) follows the same origin
rule. The token request itself goes through the client's ``send`` without this
flow: httpx drops ``Authorization`` when a realm redirects to another origin.

Credentials come from a :class:`~adapter.registry.credentials.CredentialProvider`:
when the registry (or its token service) rejects the credentials that were sent,
they are fetched again once (helper run again, files and environment re-read)
and, if they changed, the request is sent once more before the error is raised.

An identity token (Docker's ``identitytoken``, or a helper's ``<token>`` user) is
an OAuth2 refresh token: it is exchanged at the realm with ``POST`` ``grant_type=
refresh_token`` (form: ``refresh_token``, ``service``, ``scope``, ``client_id``)
for the access token, under the same realm rules as Basic credentials.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapter.registry.credentials import CredentialProvider, StaticCredentials
from adapter.registry.credstore import Credentials
from migrate.core.errors import AuthenticationError

__all__ = ["Challenge", "RegistryAuth", "origin_of", "parse_challenge", "scopes_for"]

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPO_PATH = re.compile(r"^/v2/(.+)/(?:manifests/[^/]+|blobs/uploads/.*|blobs/[^/]+|tags/list)$")
_EXPIRY_MARGIN = 5.0
_DEFAULT_TOKEN_LIFETIME = 60.0


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower-case) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``Bearer realm="...",service="...",scope="..."`` or ``Basic realm="..."``."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def scopes_for(method: str, path: str, params: dict[str, str] | None = None) -> tuple[str, ...]:
    """The token scopes a request needs, derived from its path.

    ``GET/HEAD /v2/NAME/...`` → ``repository:NAME:pull``; any other method
    → ``repository:NAME:pull,push``; a cross-repository mount also needs
    ``repository:FROM:pull``; ``/v2/_catalog`` → ``registry:catalog:*``.
    """
    if path.rstrip("/") == "/v2/_catalog":
        return ("registry:catalog:*",)
    match = _REPO_PATH.match(path)
    if match is None:
        return ()
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    scopes = [f"repository:{match.group(1)}:{action}"]
    if params and params.get("from") and params.get("mount"):
        scopes.append(f"repository:{params['from']}:pull")
    return tuple(scopes)


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), port)


class RegistryAuth(httpx.Auth):
    """Per-registry authentication state, as an ``httpx.Auth`` flow (thread-safe).

    ``origin`` is the registry's ``scheme://host:port``; ``plain_realm_ok``
    allows an http token realm (loopback or ``insecure`` registries only).
    ``send`` performs the token request (the client's own ``send``, without
    this flow). A ``401`` on a request whose body can be replayed is answered
    once after learning the challenge, and once more after fetching rejected
    credentials again (when they changed); on a streamed body it is returned.
    ``credentials`` are fixed :class:`Credentials` (or ``None``) or a provider.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        registry: str,
        credentials: Credentials | CredentialProvider | None,
        send: Callable[[httpx.Request], httpx.Response],
        *,
        origin: str,
        plain_realm_ok: bool,
    ) -> None:
        self.registry = registry
        self._source: CredentialProvider = (
            StaticCredentials(credentials)
            if credentials is None or isinstance(credentials, Credentials)
            else credentials
        )
        self._send = send
        self.url = origin
        self.origin = origin_of(httpx.URL(origin))
        self.plain_realm_ok = plain_realm_ok
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self.token_requests = 0
        #: how many times rejected credentials were fetched again (diagnostics, tests)
        self.refreshes = 0

    @property
    def _credentials(self) -> Credentials | None:
        return self._source.current()

    # -- httpx.Auth -----------------------------------------------------------
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(request.url) != self.origin:
            request.headers.pop("Authorization", None)
            yield request
            return
        scopes = scopes_for(request.method, request.url.path, dict(request.url.params))
        replayable = isinstance(request.stream, httpx.ByteStream)
        used = self._credentials
        refreshed = False
        try:
            sent = self.header_for(scopes)
        except AuthenticationError:  # the token service rejected them
            if not self._refetch(used):
                raise
            refreshed, used = True, self._credentials
            sent = self.header_for(scopes)
        if sent is not None:
            request.headers["Authorization"] = sent
        response = yield request
        for _ in range(2):  # learn the challenge once; fetch rejected credentials once
            if response.status_code != 401 or not replayable:
                return
            try:
                self.on_challenge(response, scopes, sent)  # raises when retrying cannot help
                again = self.header_for(scopes)
            except AuthenticationError:
                if refreshed or not self._refetch(used):
                    raise
                refreshed, used = True, self._credentials
                again = self.header_for(scopes)
            if again is None:
                return
            request.headers["Authorization"] = sent = again
            response = yield request
        if response.status_code == 401 and replayable:
            self.on_challenge(response, scopes, sent)  # rejected again: says why

    def _refetch(self, stale: Credentials | None) -> bool:
        """Fetch credentials again after ``stale`` was rejected; True when they changed
        (cached bearer tokens, issued for the old ones, are dropped)."""
        if stale is None:
            return False
        fresh, changed = self._source.refresh(stale)
        self.refreshes += 1
        if changed:
            with self._lock:
                self._tokens.clear()
        return changed and fresh is not None

    # -- header for an outgoing request ---------------------------------
    def header_for(self, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` for the registry's origin; ``None`` when anonymous or not
        yet challenged."""
        creds = self._credentials
        if creds is not None and creds.token:
            return f"Bearer {creds.token}"
        with self._lock:
            challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic_header()
        if challenge.scheme == "bearer":
            return f"Bearer {self._token(challenge, tuple(scopes))}"
        return None

    def on_challenge(
        self, response: httpx.Response, scopes: Sequence[str], sent: str | None
    ) -> None:
        """Learn from a ``401``; raise :class:`AuthenticationError` when retrying cannot help."""
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        where = f"{response.request.method} {response.request.url.path}"
        creds = self._credentials
        if creds is not None and creds.token:
            raise AuthenticationError(
                f"registry {self.registry!r}{self._at(creds)}: the configured token"
                f"{self._from(creds)} was rejected (HTTP 401 on {where})"
            )
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise AuthenticationError(
                f"registry {self.registry!r}: HTTP 401 on {where} without a "
                "usable WWW-Authenticate challenge"
            )
        if challenge.scheme == "basic":
            if creds is not None and creds.identity_token:
                raise AuthenticationError(
                    f"registry {self.registry!r} at {self.url}: an identity token"
                    f"{self._from(creds)} needs a token service (Bearer challenge); the registry "
                    f"asks for Basic (HTTP 401 on {where})"
                )
            if creds is None:
                ways = self._source.ways()
                raise AuthenticationError(
                    f"registry {self.registry!r} at {self.url}: credentials required "
                    f"(HTTP 401 on {where}); none found" + (f": {ways}" if ways else "")
                )
            if sent is not None:
                raise AuthenticationError(
                    f"registry {self.registry!r}{self._at(creds)}: credentials for user "
                    f"{creds.username!r}{self._from(creds)} were rejected (HTTP 401 on {where})"
                )
        elif sent is not None:
            with self._lock:
                self._tokens.pop(tuple(scopes), None)
            if sent.startswith("Bearer "):
                who = (
                    "anonymous access"
                    if creds is None
                    else "the identity token"
                    if creds.identity_token
                    else f"user {creds.username!r}"
                )
                raise AuthenticationError(
                    f"registry {self.registry!r}: {who} not authorised for "
                    f"{' '.join(scopes) or where} (HTTP 401 on {where})"
                )
        with self._lock:
            self._challenge = challenge

    # -- internals -----------------------------------------------------
    def _at(self, creds: Credentials) -> str:
        return f" at {self.url}" if creds.origin else ""

    @staticmethod
    def _from(creds: Credentials) -> str:
        return f" from {creds.origin} (fetched again once)" if creds.origin else ""

    def _basic_header(self) -> str | None:
        creds = self._credentials
        if creds is None or creds.identity_token or creds.token:
            return None
        userpass = f"{creds.username}:{creds.password}".encode()
        return "Basic " + base64.b64encode(userpass).decode("ascii")

    def _token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        now = time.monotonic()
        with self._lock:
            for key in (scopes, tuple(s.replace(":pull", ":pull,push") for s in scopes)):
                cached = self._tokens.get(key)
                if cached is not None and cached[1] > now:
                    return cached[0]
        token, lifetime = self._fetch_token(challenge, scopes)
        with self._lock:
            self._tokens[scopes] = (token, now + max(lifetime - _EXPIRY_MARGIN, 1.0))
        return token

    def _check_realm(self, realm: str) -> None:
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL as exc:
            raise AuthenticationError(
                f"registry {self.registry!r}: token realm {realm!r} is not a URL"
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise AuthenticationError(
                f"registry {self.registry!r}: token realm {realm!r} is not an http(s) URL"
            )
        if url.scheme != "https" and not self.plain_realm_ok:
            raise AuthenticationError(
                f"registry {self.registry!r}: token realm {realm!r} is plain http; credentials "
                "go to a realm only over https (unless the registry is loopback or insecure)"
            )

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthenticationError(f"registry {self.registry!r}: Bearer challenge without realm")
        self._check_realm(realm)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", s) for s in scopes)
        creds = self._credentials
        if creds is not None and creds.identity_token:
            # OAuth2 refresh-token grant (distribution's token spec, "oauth"): a POST form
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "freightliner-policy",
                "scope": " ".join(scopes),
            }
            if challenge.params.get("service"):
                form["service"] = challenge.params["service"]
            request = httpx.Request("POST", realm, data=form)
        else:
            headers = {}
            basic = self._basic_header()
            if basic is not None:
                headers["Authorization"] = basic
            request = httpx.Request("GET", realm, params=params, headers=headers)
        self.token_requests += 1
        try:
            response = self._send(request)
        except httpx.HTTPError as exc:
            raise AuthenticationError(
                f"registry {self.registry!r}: token service {realm} unreachable: {exc}"
            ) from exc
        if response.status_code in (401, 403) or (
            response.status_code == 400 and creds is not None and creds.identity_token
        ):
            if creds is None:
                who = "anonymous access was"
            elif creds.identity_token:
                who = f"the identity token{self._from(creds)} was"
            else:
                who = f"credentials for user {creds.username!r}{self._from(creds)} were"
            at = self._at(creds) if creds is not None else ""
            raise AuthenticationError(
                f"registry {self.registry!r}{at}: {who} rejected by the token "
                f"service {realm} (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise AuthenticationError(
                f"registry {self.registry!r}: token service {realm} answered "
                f"HTTP {response.status_code}"
            )
        body: Any = response.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"registry {self.registry!r}: token service {realm} returned no token"
            )
        lifetime = body.get("expires_in", _DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = _DEFAULT_TOKEN_LIFETIME
        return token, float(lifetime)
