"""Enforcement integrity at the registry layer (issue 10): the name grammar, request paths,
credentials bound to their origin, bounded pagination, "already present" for indexes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

import adapter.registry.client as client_module
from adapter.actions.replicate import ImageCopier
from adapter.registry.auth import RegistryAuth
from adapter.registry.client import RegistryClient
from adapter.registry.config import Credentials, RegistryConfig
from adapter.registry.reference import (
    InvalidName,
    check_digest,
    check_repository,
    check_tag,
    parse_reference,
)
from migrate.core.errors import AuthenticationError, RegistryError
from tests.fixtures.hostile import HostileRegistry
from tests.fixtures.images import push_index
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.topology import TopologyFactory
from tests.integration.adapter.service.policies import tag_policy

CLI = str(Path(sys.executable).parent / "freightliner-policy")
Start = Callable[..., HostileRegistry]


# -- the grammar ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["a", "team/app", "a.b_c__d---e/f0", "x" * 255, "a/" * 126 + "ab"],
)
def test_valid_repository_names(name: str) -> None:
    assert check_repository(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "repository name is empty"),
        ("team/../secret", "path component 2 '..' is not"),
        ("team/./x", "path component 2 '.' is not"),
        ("/team", "path component 1 '' is not"),
        ("team/", "path component 2 '' is not"),
        ("Team/app", "path component 1 'Team' is not"),
        ("team app", "path component 1 'team app' is not"),
        ("team/app?x=1", "path component 2 'app?x=1' is not"),
        ("team/app#x", "path component 2 'app#x' is not"),
        ("team/a%2e%2e", "path component 2 'a%2e%2e' is not"),
        ("team/\napp", "path component 2 '\\napp' is not"),
        ("a-", "path component 1 'a-' is not"),
        ("a___b", "path component 1 'a___b' is not"),
        ("x" * 256, "is 256 characters long (at most 255)"),
    ],
)
def test_invalid_repository_names(name: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        check_repository(name)
    assert reason in str(info.value)


def test_tags_and_digests() -> None:
    for tag in ["latest", "prod-1", "_x", "V1.2.3-rc_1", "a" * 128]:
        assert check_tag(tag) == tag
    for tag in ["", ".x", "-x", "prod-evil/../latest", "prod-3#", "prod-4?x=1", "a\x1b", "a" * 129]:
        with pytest.raises(InvalidName):
            check_tag(tag)
    assert check_digest("sha256:" + "a" * 64) == "sha256:" + "a" * 64
    assert check_digest("sha512:" + "0" * 128) == "sha512:" + "0" * 128
    for digest in ["sha256:" + "a" * 63, "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256:"]:
        with pytest.raises(InvalidName):
            check_digest(digest)


def test_references() -> None:
    assert parse_reference("src") == ("src", None, None)
    assert parse_reference("src/team/app") == ("src", "team/app", None)
    assert parse_reference("src/team/app:prod-1") == ("src", "team/app", "prod-1")
    digest = "sha256:" + "b" * 64
    assert parse_reference(f"src/team/app@{digest}") == ("src", "team/app", digest)
    with pytest.raises(InvalidName, match=r"^invalid image reference 'src/a:b\\nc': invalid tag"):
        parse_reference("src/a:b\nc")


# -- request paths -------------------------------------------------------------------
def test_no_request_leaves_the_checked_path(hostile_factory: Start) -> None:
    source = hostile_factory()
    client = RegistryClient(RegistryConfig(name="src", url=source.url), credentials=None)
    for repository, tag in [
        ("team/app/../../../prod/critical", "latest"),
        ("team/app", "prod-evil/../latest"),
        ("team/app", "prod-3#"),
        ("team/app", "prod-4?x=1"),
        ("team/app", "prod-\n5"),
        ("team/app", ""),
    ]:
        with pytest.raises(
            RegistryError, match=r"^registry 'src': (invalid tag|invalid repo|tag is)"
        ):
            client.head_manifest(repository, tag)
    with pytest.raises(RegistryError, match="invalid digest"):
        client.blob_exists("team/app", "sha256:../../x")
    with pytest.raises(RegistryError, match="not the registry's origin"):
        client.request("PUT", "http://127.0.0.1:1/v2/team/app/blobs/uploads/x")
    assert source.seen == []
    client.close()


def test_pagination_past_the_page_cap_stops(
    hostile_factory: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = hostile_factory()
    source.tags["team/app"] = ["t"]
    for page in range(10):
        here = "/v2/team/app/tags/list" + (f"?p={page}" if page else "")
        source.links[here] = f"/v2/team/app/tags/list?p={page + 1}"
    monkeypatch.setattr(client_module, "MAX_PAGES", 4)
    client = RegistryClient(RegistryConfig(name="src", url=source.url), credentials=None)
    with pytest.raises(RegistryError) as info:
        list(client.tags("team/app"))
    assert info.value.message == (
        "registry 'src': list tags of team/app: more than 4 pages; stopped"
    )
    assert len(source.seen) == 4
    client.close()


def test_a_link_to_another_path_is_refused(hostile_factory: Start) -> None:
    source = hostile_factory()
    source.tags["team/app"] = ["t"]
    source.links["/v2/team/app/tags/list"] = "/v2/prod/critical/tags/list"
    client = RegistryClient(RegistryConfig(name="src", url=source.url), credentials=None)
    with pytest.raises(RegistryError, match="Link to another path"):
        list(client.tags("team/app"))
    client.close()


# -- credentials stay with their origin ------------------------------------------------
def _auth_world(
    registry_url: str, realm: str, *, insecure: bool = False
) -> tuple[RegistryClient, list[tuple[str, int | None, str]]]:
    """A client over httpx.MockTransport: the only way to have a non-loopback registry here
    (the machine is loopback only); the transport records every request it is given."""
    sent: list[tuple[str, int | None, str]] = []  # (host, port, Authorization) as sent

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.url.port, request.headers.get("Authorization", "")))
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "t"})
        if request.headers.get("Authorization") == "Bearer t":
            return httpx.Response(200, json={})
        challenge = f'Bearer realm="{realm}",service="s"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    config = RegistryConfig(name="r", url=registry_url, insecure=insecure)
    client = RegistryClient(
        config,
        credentials=Credentials(username="alice", password="secret"),
        transport=httpx.MockTransport(answer),
    )
    return client, sent


def test_a_plain_http_realm_of_a_tls_registry_never_receives_credentials() -> None:
    client, sent = _auth_world("https://registry.example", "http://realm.example/token")
    with pytest.raises(AuthenticationError) as info:
        client.ping()
    assert info.value.message == (
        "registry 'r': token realm 'http://realm.example/token' is plain http; credentials go "
        "to a realm only over https (unless the registry is loopback or insecure)"
    )
    assert sent == [("registry.example", None, "")]


def test_an_https_realm_gets_basic_and_the_token_goes_only_to_the_registry() -> None:
    client, sent = _auth_world("https://registry.example", "https://realm.example/token")
    client.ping()
    assert [(host, auth[:6]) for host, _, auth in sent] == [
        ("registry.example", ""),
        ("realm.example", "Basic "),
        ("registry.example", "Bearer"),
    ]
    insecure, sent = _auth_world(
        "http://10.0.0.1:5000", "http://10.0.0.1:5001/token", insecure=True
    )
    insecure.ping()  # an insecure registry may name a plain-http realm
    assert [port for _, port, _ in sent] == [5000, 5001, 5000]


def test_the_auth_flow_strips_credentials_from_any_other_origin() -> None:
    auth = RegistryAuth(
        "r",
        Credentials(token="secret"),
        lambda r: httpx.Response(500),
        origin="https://registry.example",
        plain_realm_ok=False,
    )
    for url, expected in [
        ("https://registry.example/v2/", "Bearer secret"),
        ("https://registry.example:443/v2/", "Bearer secret"),
        ("http://registry.example/v2/", None),
        ("https://registry.example:8443/v2/", None),
        ("https://elsewhere.example/v2/", None),
    ]:
        request = httpx.Request("GET", url, headers={"Authorization": "Bearer leaked"})
        flow = auth.auth_flow(request)
        assert next(flow).headers.get("Authorization") == expected, url


# -- "already present" means the whole image ------------------------------------------
@pytest.mark.registry
def test_an_index_with_a_missing_child_is_completed_not_skipped(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    index = push_index(registry, unique_repo, "v1")
    source, target = registry.client(), fresh_registry.client()
    copier = ImageCopier()
    first = copier.copy((source, unique_repo, index.digest), (target, "app", "v1"))
    assert (first.skipped, first.target_digest) == (False, index.digest)
    child = index.children[1].digest
    target.delete_manifest("app", child)
    assert target.head_manifest("app", child) is None
    again = copier.copy((source, unique_repo, index.digest), (target, "app", "v1"))
    assert (again.skipped, again.target_digest, again.blobs_copied) == (False, index.digest, 0)
    assert target.head_manifest("app", child) is not None
    third = copier.copy((source, unique_repo, index.digest), (target, "app", "v1"))
    assert third.skipped


@pytest.mark.registry
def test_the_copy_reads_the_source_by_digest_and_tags_last(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str
) -> None:
    index = push_index(registry, unique_repo, "v1")
    source, target = registry.client(), fresh_registry.client()
    moved = push_index(registry, unique_repo, "v1", seed=9)  # the tag moves after the decision
    assert moved.digest != index.digest
    result = ImageCopier().copy((source, unique_repo, index.digest), (target, "app", "v1"))
    assert result.target_digest == index.digest
    assert target.head_manifest("app", "v1").digest == index.digest  # type: ignore[union-attr]


# -- the CLI and the API refuse bad references; validate judges templates ---------------
def test_cli_reference_with_a_control_character_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"registries": {"src": {"url": "http://127.0.0.1:1"}}}))
    result = subprocess.run(
        [CLI, "replicate", "src/team/app:prod\x1b[2J", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Error: invalid image reference 'src/team/app:prod\\x1b[2J': invalid tag" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_policy_validate_judges_target_templates(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    actions = [
        {"type": "replicate", "target_registry": "d", "target_repo": "mirror/{repository}/.."},
        {"type": "replicate", "target_registry": "d", "target_repo": "../x"},
        {"type": "replicate", "target_registry": "d", "target_repo": "Mirror/{repository}"},
        {"type": "replicate", "target_registry": "d", "target_repo": "m i/{repository}"},
        {"type": "replicate", "target_registry": "d", "target_repo": "x" * 300},
        {"type": "replicate", "target_registry": "d", "target_tag": "../../x"},
        {"type": "replicate", "target_registry": "d", "target_repo": "ok/{repository}"},
    ]
    conditions = [{"type": "tag", "operator": "matches", "value": "^prod-"}]
    document = {"policies": [{"id": "p", "conditions": conditions, "actions": actions}]}
    policy.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [CLI, "policy", "validate", str(policy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 6
    assert lines[0] == (
        f"error: {policy}:4: policy 'p': actions[0].target_repo: invalid target_repo name "
        "'mirror/a/..': path component 3 '..' is not [a-z0-9]+ joined by '.', '_', '__' or '-' "
        "(variables judged as 'a'; the rendered name is checked again)"
    )
    assert "actions[4].target_repo: target_repo name 'xxxx" in lines[4]
    assert "is 300 characters long (at most 255)" in lines[4]
    assert "actions[5].target_tag: invalid target_tag '../../x'" in lines[5]


@pytest.mark.registry
def test_api_reference_with_traversal_is_422(topology_factory: TopologyFactory) -> None:
    topo = topology_factory.start({"prod.yaml": tag_policy("^prod-.*")}, opa=False)
    response = topo.api().post("/v1/replicate", json={"reference": "src/team/../secret/app:prod-1"})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": "invalid image reference 'src/team/../secret/app:prod-1': invalid repository "
        "name 'team/../secret/app': path component 2 '..' is not [a-z0-9]+ joined by '.', "
        "'_', '__' or '-'",
    }
