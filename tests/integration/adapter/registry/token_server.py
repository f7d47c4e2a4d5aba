"""A tiny real token server (the distribution spec's token authentication) on loopback.

It checks Basic credentials, and issues RS256 JWTs signed with ``openssl`` by
a throw-away self-signed key whose certificate the registry trusts
(``auth.token.rootcertbundle``); the certificate rides in the ``x5c`` header.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ISSUER = "freightliner-test-issuer"
SERVICE = "freightliner-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    user: str | None
    service: str
    scopes: list[str]
    grant: str = "basic"  # or "refresh_token" (OAuth2 POST with an identity token)


@dataclass
class TokenServer:
    directory: Path
    users: dict[str, str]
    expires_in: int = 300
    requests: list[TokenRequest] = field(default_factory=list)
    #: identity (refresh) tokens accepted by the OAuth2 POST: token -> user
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = self.directory / "token.key"
        self.cert = self.directory / "token.crt"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key),
                "-out",
                str(self.cert),
                "-days",
                "2",
                "-subj",
                "/CN=freightliner-test-token",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        pem = self.cert.read_text()
        self.x5c = "".join(line for line in pem.splitlines() if "-----" not in line)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.tokens = self  # type: ignore[attr-defined]
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict[str, str]:
        """The ``auth: token:`` section of the registry config."""
        return {
            "realm": self.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(self.cert),
        }

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def issue(self, user: str | None, service: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": service,
            "exp": now + self.expires_in,
            "nbf": now - 30,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return self.sign(claims)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        tokens: TokenServer = self.server.tokens
        query = parse_qs(urlsplit(self.path).query)
        user = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if tokens.users.get(name) != password:
                self._send(401, {"details": "invalid credentials"})
                return
            user = name
        scopes = query.get("scope", [])
        tokens.requests.append(TokenRequest(user, query.get("service", [""])[0], scopes))
        if user is None:
            self._send(401, {"details": "authentication required"})
            return
        token = tokens.issue(user, query.get("service", [SERVICE])[0], scopes)
        self._send(200, {"token": token, "access_token": token, "expires_in": tokens.expires_in})

    def do_POST(self) -> None:
        """The OAuth2 refresh-token grant (distribution's token spec, "oauth")."""
        tokens: TokenServer = self.server.tokens
        length = int(self.headers.get("Content-Length", "0") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        grant = form.get("grant_type", [""])[0]
        refresh = form.get("refresh_token", [""])[0]
        scopes = form.get("scope", [""])[0].split()
        service = form.get("service", [""])[0]
        user = tokens.refresh_tokens.get(refresh) if grant == "refresh_token" else None
        tokens.requests.append(TokenRequest(user, service, scopes, grant))
        if user is None:
            self._send(400, {"error": "invalid_grant"})
            return
        token = tokens.issue(user, service or SERVICE, scopes)
        self._send(200, {"access_token": token, "expires_in": tokens.expires_in})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
