"""Credentials as Docker keeps them (credHelpers, credsStore through a real helper executable),
secret files re-read on change, and rejected credentials fetched again once, against real
htpasswd docker-registry processes whose password is changed mid-test.

Debian's docker-registry 2.8.2 re-reads its htpasswd file when it changes (checked by
:func:`rotate`: the old password is refused before the test goes on).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter.registry.client import RegistryClient
from adapter.registry.config import Credentials, RegistryConfig
from adapter.registry.digest import compute_digest
from migrate.core.errors import AuthenticationError, ConfigError
from tests.fixtures.cred_helper import CredentialHelper, install_helper
from tests.fixtures.registry import PASSWORD, USERNAME, RegistryFactory, RunningRegistry
from tests.integration.adapter.registry.token_server import TokenServer

pytestmark = pytest.mark.registry


def rotate(registry: RunningRegistry, old: str, new: str) -> None:
    """Change ``alice``'s password in the registry's htpasswd; wait until the old one fails."""
    line = subprocess.run(
        ["htpasswd", "-Bbn", USERNAME, new], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    path = registry.root / "htpasswd"
    tmp = path.with_suffix(".new")
    tmp.write_text(line + "\n")
    tmp.replace(path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"{registry.url}/v2/", auth=(USERNAME, old), timeout=5).status_code == 401:
            assert httpx.get(f"{registry.url}/v2/", auth=(USERNAME, new), timeout=5).is_success
            return
        time.sleep(0.1)
    raise AssertionError("docker-registry did not pick up the new htpasswd")


@pytest.fixture
def basic(registry_factory: RegistryFactory) -> Iterator[RunningRegistry]:
    """A fresh htpasswd registry (its password is changed by the tests)."""
    running = registry_factory.start(auth="htpasswd", name="basic")
    yield running
    running.stop()


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CredentialHelper:
    """``docker-credential-fltest`` on PATH; DOCKER_CONFIG points at an empty directory."""
    installed = install_helper(tmp_path / "bin")
    monkeypatch.setenv("PATH", installed.path_env())
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return installed


def docker_config(document: dict[str, object]) -> Path:
    import os

    path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    path.write_text(json.dumps(document))
    return path


def client_for(registry: RunningRegistry, **settings: object) -> RegistryClient:
    config = RegistryConfig.model_validate({"name": "basic", "url": registry.url, **settings})
    client = RegistryClient(config, timeout=20.0)
    registry.clients.append(client)
    return client


def test_cred_helpers_entry_is_run_with_the_host_on_stdin(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    wrong = base64.b64encode(f"{USERNAME}:wrong".encode()).decode()
    # the helper wins over a (stale) auths entry for the same host, as with Docker
    docker_config({"credHelpers": {basic.host: "fltest"}, "auths": {basic.host: {"auth": wrong}}})
    helper.store(basic.host, USERNAME, PASSWORD)
    client = client_for(basic)
    client.ping()
    assert list(client.catalog()) == []
    assert helper.calls() == [basic.host]  # once at start; cached afterwards
    # another host is not the helper's: its credentials never leave for it
    assert RegistryConfig(name="other", url="http://127.0.0.1:1").credentials() is None
    assert helper.calls() == [basic.host]


def test_creds_store_is_used_and_not_found_means_anonymous(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    path = docker_config({"credsStore": "fltest"})
    client = client_for(basic)  # the helper has nothing for this host: anonymous
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert info.value.lines() == [
        f"registry 'basic' at {basic.url}: credentials required (HTTP 401 on GET /v2/); none "
        "found: set FREIGHTLINER_REGISTRY_BASIC_USERNAME and FREIGHTLINER_REGISTRY_BASIC_PASSWORD, "
        "or token_env, token_file or password_file (+ username) under registries.basic, or an "
        f"entry for {basic.host} in {path} (auths, credHelpers or credsStore)"
    ]
    helper.store(basic.host, USERNAME, PASSWORD)
    client_for(basic).ping()


def test_a_helper_identity_token_is_resolved_as_one(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    path = docker_config({"credHelpers": {basic.host: "fltest"}})
    helper.store(basic.host, "<token>", "identity-token-value")
    config = RegistryConfig(name="basic", url=basic.url)
    resolved = config.credentials()
    assert resolved == Credentials(identity_token="identity-token-value")
    assert resolved is not None
    assert resolved.origin == f"credential helper docker-credential-fltest (credHelpers in {path})"


@pytest.mark.parametrize("problem", ["missing", "fail", "garbage", "hang"])
def test_helper_problems_are_one_clear_error(
    basic: RunningRegistry, helper: CredentialHelper, problem: str
) -> None:
    path = docker_config(
        {"credHelpers": {basic.host: "nosuch" if problem == "missing" else "fltest"}}
    )
    helper.store(basic.host, USERNAME, "s3cret-value")
    helper.mode(problem)
    config = RegistryConfig(name="basic", url=basic.url, helper_timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        RegistryClient(config)
    program = "docker-credential-nosuch" if problem == "missing" else "docker-credential-fltest"
    prefix = f"registry 'basic' at {basic.url}: credential helper {program} (credHelpers in {path})"
    expected = {
        "missing": "not found on PATH",
        "fail": "get failed (exit 3): error getting credentials - err: exit status 1, out: "
        "`token expired`",
        "garbage": "get printed no JSON object with a string Username and a non-empty Secret",
        "hang": "no answer within 1 s",
    }[problem]
    assert info.value.lines() == [f"{prefix}: {expected}"]
    assert "s3cret-value" not in info.value.message
    assert time.monotonic() - started < 10  # the hang is cut at 1 s


def test_a_401_runs_the_helper_again_and_the_request_succeeds(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    docker_config({"credHelpers": {basic.host: "fltest"}})
    helper.store(basic.host, USERNAME, PASSWORD)
    client = client_for(basic)
    client.ping()
    rotate(basic, PASSWORD, "rotated-1")
    helper.store(basic.host, USERNAME, "rotated-1")
    assert list(client.catalog()) == []  # 401 with the cached password → helper → retry → 200
    assert helper.calls() == [basic.host, basic.host]
    assert client._auth.refreshes == 1
    client.ping()
    assert helper.calls() == [basic.host, basic.host]  # the new credentials are cached


def test_credentials_still_rejected_after_one_refetch_fail_clearly(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    path = docker_config({"credHelpers": {basic.host: "fltest"}})
    helper.store(basic.host, USERNAME, PASSWORD)
    client = client_for(basic)
    client.ping()
    rotate(basic, PASSWORD, "rotated-2")  # the helper still has the old password
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert info.value.lines() == [
        f"registry 'basic' at {basic.url}: credentials for user 'alice' from credential helper "
        f"docker-credential-fltest (credHelpers in {path}) (fetched again once) were rejected "
        "(HTTP 401 on GET /v2/)"
    ]
    assert helper.calls() == [basic.host, basic.host]


def test_a_failing_helper_on_refetch_is_an_authentication_error(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    path = docker_config({"credHelpers": {basic.host: "fltest"}})
    helper.store(basic.host, USERNAME, PASSWORD)
    client = client_for(basic)
    client.ping()
    rotate(basic, PASSWORD, "rotated-3")
    helper.mode("fail")
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert info.value.lines() == [
        f"registry 'basic' at {basic.url}: credential helper docker-credential-fltest "
        f"(credHelpers in {path}): get failed (exit 3): error getting credentials - err: exit "
        "status 1, out: `token expired` (fetching credentials again after HTTP 401)"
    ]


def test_password_file_is_re_read_when_it_changes(
    basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    client = client_for(basic, username=USERNAME, password_file=str(secret))
    client.ping()
    rotate(basic, PASSWORD, "from-the-file")
    tmp = tmp_path / "password.new"
    tmp.write_text("from-the-file\n")
    tmp.replace(secret)  # how Kubernetes and Vault agents swap a secret file
    client.ping()
    assert client._auth.refreshes == 0  # read again because it changed, before any 401


def test_a_401_reads_the_environment_again(
    basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("FREIGHTLINER_REGISTRY_BASIC_USERNAME", USERNAME)
    monkeypatch.setenv("FREIGHTLINER_REGISTRY_BASIC_PASSWORD", PASSWORD)
    client = client_for(basic)
    client.ping()
    rotate(basic, PASSWORD, "from-the-env")
    monkeypatch.setenv("FREIGHTLINER_REGISTRY_BASIC_PASSWORD", "from-the-env")
    client.ping()
    assert client._auth.refreshes == 1


def test_token_file_missing_names_the_registry_and_field(tmp_path: Path) -> None:
    config = RegistryConfig(
        name="basic", url="https://registry.example", token_file=tmp_path / "missing"
    )
    with pytest.raises(ConfigError) as info:
        RegistryClient(config)
    assert info.value.lines() == [
        f"registry 'basic': token_file {tmp_path / 'missing'} cannot read: No such file or directory"
    ]


def test_a_token_realm_redirecting_elsewhere_never_gets_the_credentials() -> None:
    """The realm's own host gets Basic (the protocol); a redirect to another host does not
    (httpx drops Authorization across origins; the token request never goes through the
    registry's auth flow). httpx.MockTransport: a non-loopback host cannot run here."""
    sent: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.headers.get("Authorization", "")))
        if request.url.host == "realm.example":
            return httpx.Response(302, headers={"Location": "https://elsewhere.example/token"})
        if request.url.host == "elsewhere.example":
            return httpx.Response(200, json={"token": "t"})
        if request.headers.get("Authorization") == "Bearer t":
            return httpx.Response(200, json={})
        challenge = 'Bearer realm="https://realm.example/token",service="s"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    client = RegistryClient(
        RegistryConfig(name="r", url="https://registry.example"),
        credentials=Credentials(username="alice", password="secret"),
        transport=httpx.MockTransport(answer),
    )
    client.ping()
    assert [(host, auth[:6]) for host, auth in sent] == [
        ("registry.example", ""),
        ("realm.example", "Basic "),
        ("elsewhere.example", ""),
        ("registry.example", "Bearer"),
    ]
    client.close()


def test_a_helper_identity_token_is_exchanged_at_the_token_service_and_refetched(
    token_registry: RunningRegistry,
    token_server: TokenServer,
    helper: CredentialHelper,
    unique_repo: str,
) -> None:
    """``<token>`` from the helper is an OAuth2 refresh token: POSTed to the realm for an
    access token; when the token service refuses it (revoked), the helper is asked again."""
    docker_config({"credHelpers": {token_registry.host: "fltest"}})
    token_server.refresh_tokens["identity-1"] = USERNAME
    helper.store(token_registry.host, "<token>", "identity-1")
    config = RegistryConfig(name="bearer", url=token_registry.url)
    client = RegistryClient(config, timeout=20.0)
    token_registry.clients.append(client)
    before = len(token_server.requests)
    data = b"identity token blob"
    digest = compute_digest(data)
    client.upload_blob(unique_repo, digest, [data])
    assert [(r.grant, r.user, r.scopes) for r in token_server.requests[before:]] == [
        ("refresh_token", USERNAME, [f"repository:{unique_repo}:pull,push"])
    ]
    del token_server.refresh_tokens["identity-1"]  # revoked; the helper has a new one
    token_server.refresh_tokens["identity-2"] = USERNAME
    helper.store(token_registry.host, "<token>", "identity-2")
    assert unique_repo in list(client.catalog())  # new scope: a new exchange, refused, refetched
    assert [(r.grant, r.user) for r in token_server.requests[before + 1 :]] == [
        ("refresh_token", None),
        ("refresh_token", USERNAME),
    ]
    assert helper.calls() == [token_registry.host, token_registry.host]


def test_concurrent_401s_share_one_refetch(
    basic: RunningRegistry, helper: CredentialHelper
) -> None:
    """``serve`` runs many requests at once: after a password change they all get a 401, and
    the helper runs once for all of them."""
    from concurrent.futures import ThreadPoolExecutor

    docker_config({"credHelpers": {basic.host: "fltest"}})
    helper.store(basic.host, USERNAME, PASSWORD)
    client = client_for(basic)
    client.ping()
    rotate(basic, PASSWORD, "rotated-concurrently")
    helper.store(basic.host, USERNAME, "rotated-concurrently")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.ping(), range(16)))
    assert results == [None] * 16
    assert helper.calls() == [basic.host, basic.host]
