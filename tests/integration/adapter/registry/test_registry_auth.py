"""Authentication against real registries: anonymous, htpasswd Basic, and token (Bearer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.registry.auth import Challenge, parse_challenge, scopes_for
from adapter.registry.config import Credentials
from adapter.registry.digest import compute_digest
from migrate.core.errors import AuthenticationError
from tests.fixtures.images import push_image
from tests.fixtures.registry import USERNAME, RunningRegistry
from tests.integration.adapter.registry.token_server import SERVICE, TokenServer

pytestmark = pytest.mark.registry


def test_parse_challenge() -> None:
    header = 'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull"'
    assert parse_challenge(header) == Challenge(
        "bearer",
        {
            "realm": "https://auth.example/token",
            "service": "reg.example",
            "scope": "repository:a/b:pull",
        },
    )
    assert parse_challenge('Basic realm="basic-realm"') == Challenge(
        "basic", {"realm": "basic-realm"}
    )
    assert parse_challenge("") is None


def test_scopes_follow_the_request() -> None:
    assert scopes_for("GET", "/v2/team/app/manifests/v1") == ("repository:team/app:pull",)
    assert scopes_for("HEAD", "/v2/team/app/blobs/sha256:ab") == ("repository:team/app:pull",)
    assert scopes_for("PUT", "/v2/team/app/blobs/uploads/u-1") == ("repository:team/app:pull,push",)
    assert scopes_for(
        "POST", "/v2/dst/blobs/uploads/", {"mount": "sha256:ab", "from": "src/x"}
    ) == ("repository:dst:pull,push", "repository:src/x:pull")
    assert scopes_for("GET", "/v2/_catalog") == ("registry:catalog:*",)
    assert scopes_for("GET", "/v2/") == ()


def test_anonymous_registry(registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(registry, unique_repo, "v1")
    client = registry.client(credentials=None)
    client.ping()
    assert client.get_manifest(unique_repo, "v1").digest == image.digest


def test_basic_auth_with_htpasswd(htpasswd_registry: RunningRegistry, unique_repo: str) -> None:
    image = push_image(htpasswd_registry, unique_repo, "v1")
    client = htpasswd_registry.client()
    assert client.get_manifest(unique_repo, "v1").digest == image.digest
    first = client.requests
    assert client.blob_exists(unique_repo, image.layer_digests[0])
    # the challenge is remembered: later requests authenticate up front (no extra 401 round trip)
    assert client.requests == first + 1


@pytest.mark.parametrize("credentials", [Credentials(USERNAME, "wrong"), None])
def test_basic_auth_bad_or_missing_credentials(
    htpasswd_registry: RunningRegistry,
    credentials: Credentials | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = htpasswd_registry.client(credentials=credentials, name="basic")
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    expected = (
        "registry 'basic': credentials for user 'alice' were rejected (HTTP 401 on GET /v2/)"
        if credentials
        else f"registry 'basic' at {htpasswd_registry.url}: credentials required (HTTP 401 on "
        "GET /v2/); none found: set FREIGHTLINER_REGISTRY_BASIC_USERNAME and "
        "FREIGHTLINER_REGISTRY_BASIC_PASSWORD, or token_env, token_file or password_file "
        f"(+ username) under registries.basic, or an entry for {htpasswd_registry.host} in "
        f"{tmp_path / 'config.json'} (auths, credHelpers or credsStore)"
    )
    assert info.value.lines() == [expected]


def test_bearer_token_flow_with_scopes(
    token_registry: RunningRegistry, token_server: TokenServer, unique_repo: str
) -> None:
    client = token_registry.client()
    before = len(token_server.requests)
    data = b"bearer blob"
    digest = compute_digest(data)
    client.upload_blob(unique_repo, digest, [data])
    assert client.blob_exists(unique_repo, digest)
    assert unique_repo in list(client.catalog())
    asked = [(r.user, r.service, r.scopes) for r in token_server.requests[before:]]
    # the push token (pull,push) is cached and reused for the pull-only HEAD
    assert asked == [
        ("alice", SERVICE, [f"repository:{unique_repo}:pull,push"]),
        ("alice", SERVICE, ["registry:catalog:*"]),
    ]


def test_bearer_tokens_are_cached_until_expiry(
    token_registry: RunningRegistry, token_server: TokenServer, unique_repo: str
) -> None:
    push_image_with_token(token_registry, unique_repo)
    client = token_registry.client()
    before = len(token_server.requests)
    for _ in range(3):
        client.get_manifest(unique_repo, "v1")
    assert [r.scopes for r in token_server.requests[before:]] == [
        [f"repository:{unique_repo}:pull"]
    ]


def push_image_with_token(token_registry: RunningRegistry, repository: str) -> None:
    from tests.fixtures.images import build_image

    manifest, media_type, _, config_bytes, blobs = build_image(layers=1)
    client = token_registry.client()
    for blob in [config_bytes, *blobs]:
        client.upload_blob(repository, compute_digest(blob), [blob])
    client.put_manifest(repository, "v1", manifest, media_type)


def test_bearer_bad_credentials_is_one_clear_error(token_registry: RunningRegistry) -> None:
    client = token_registry.client(credentials=Credentials(USERNAME, "wrong"), name="bearer")
    with pytest.raises(AuthenticationError) as info:
        client.get_manifest("any/repo", "v1")
    realm = token_registry.config().url  # not the realm: check the message shape instead
    assert realm not in info.value.message
    assert info.value.message.startswith(
        "registry 'bearer': credentials for user 'alice' were rejected by the token service "
        "http://127.0.0.1:"
    )
    assert info.value.message.endswith("/token (HTTP 401)")
