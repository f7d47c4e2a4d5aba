"""The compose demo: its files are checked statically (CI); bringing it up needs a Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapter.config import FreightlinerConfig
from migrate.bundle.builder import BundleBuilder
from migrate.bundle.tester import run_bundle_tests
from migrate.policy.loader import load_policy_documents
from tests.fixtures.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[3]
PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+(-[\w.-]+)?$")
DIGEST_PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+(-[\w.-]+)?@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_services_are_pinned_or_built(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {n for n, s in services.items() if "profiles" not in s} == {
        "registry-src",
        "registry-dst",
        "seed",
        "adapter",
        "opa",
    }
    for name, service in services.items():
        if "build" in service:
            assert service["build"] == "."
        else:
            assert PINNED.match(service["image"]), (
                f"{name}: image {service['image']!r} is not pinned"
            )
    assert services["opa"]["image"].startswith("openpolicyagent/opa:1.20.2")
    assert (
        services["registry-src"]["image"] == services["registry-dst"]["image"] == "registry:2.8.3"
    )
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base and DIGEST_PINNED.match(base.group(1)), base
    # the image holds no demo files: the seed script is mounted
    assert services["seed"]["entrypoint"] == ["python", "/seed/seed.py"]
    assert _mounts(services["seed"]) == {"/seed/seed.py": "./deploy/seed.py"}


def test_healthchecks_and_ordering(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ["registry-src", "registry-dst", "adapter", "opa"]:
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["retries"] >= 3, name
    assert "/health?bundles" in " ".join(services["opa"]["healthcheck"]["test"])
    assert services["opa"]["depends_on"] == {"adapter": {"condition": "service_healthy"}}
    assert services["seed"]["restart"] == "no"
    assert services["seed"]["depends_on"]["registry-src"]["condition"] == "service_healthy"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {
        v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")
    }


def test_opa_polls_the_adapter_bundle_endpoint(compose: dict[str, Any]) -> None:
    services = compose["services"]
    opa = services["opa"]
    command = opa["command"]
    assert command[:2] == ["run", "--server"]
    config_file = command[command.index("--config-file") + 1]
    opa_config = yaml.safe_load((ROOT / _mounts(opa)[config_file]).read_text())
    adapter_config_file = _mounts(services["adapter"])["/config/config.yaml"]
    adapter = FreightlinerConfig.load(ROOT / adapter_config_file)
    listen = services["adapter"]["command"][services["adapter"]["command"].index("--listen") + 1]
    port = listen.rsplit(":", 1)[1]
    [(bundle_name, bundle)] = opa_config["bundles"].items()
    service = opa_config["services"][bundle["service"]]
    assert service["url"] == f"http://adapter:{port}"
    assert bundle_name == adapter.serve.bundle_name
    assert bundle["resource"] == f"bundles/{adapter.serve.bundle_name}.tar.gz"
    # the sidecar's token comes from a compose secret; the adapter's token file from another
    assert service["credentials"]["bearer"] == {"token_path": "/run/secrets/opa_bundle_token"}
    assert adapter.serve.tokens_file == "/run/secrets/freightliner_tokens"
    assert adapter.opa.url == "http://opa:8181"
    assert {n: r.url for n, r in adapter.registries.registries.items()} == {
        "src": "http://registry-src:5000",
        "dst": "http://registry-dst:5000",
    }


def test_secrets_no_default_token_no_published_opa_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "x-token" not in compose
    for name, service in services.items():
        assert "FREIGHTLINER_API_TOKEN" not in str(service.get("environment", "")), name
    assert "ports" not in services["opa"]  # only the adapter talks to OPA, on the network
    assert {n: s["file"] for n, s in compose["secrets"].items()} == {
        "freightliner_tokens": "./deploy/secrets/tokens.yaml",
        "opa_bundle_token": "./deploy/secrets/opa_bundle_token",
        "bundle_signing_key": "./deploy/secrets/bundle_signing_key.pem",
        "bundle_verification_key": "./deploy/secrets/bundle_verification_key.pem",
        "postgres_password": "./deploy/secrets/postgres_password",
        "pgpass": "./deploy/secrets/pgpass",
    }
    assert services["adapter"]["secrets"] == ["freightliner_tokens", "bundle_signing_key"]
    assert services["opa"]["secrets"] == ["opa_bundle_token", "bundle_verification_key"]
    assert not (ROOT / "deploy" / "secrets").exists() or not any(
        subprocess.run(
            ["git", "ls-files", "deploy/secrets"], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
    )
    command = services["opa"]["command"]
    assert command[command.index("--set-file") + 1] == (
        "keys.freightliner.key=/run/secrets/bundle_verification_key"
    )
    opa_config = yaml.safe_load((ROOT / "deploy" / "opa.yaml").read_text())
    assert opa_config["keys"] == {"freightliner": {"algorithm": "RS256"}}
    assert opa_config["bundles"]["freightliner"]["signing"] == {"keyid": "freightliner"}
    adapter = FreightlinerConfig.load(ROOT / "deploy" / "config.yaml")
    assert (adapter.bundle_signing.signing_key, adapter.bundle_signing.key_id) == (
        "/run/secrets/bundle_signing_key",
        "freightliner",
    )


def test_demo_policies_build_and_pass_their_tests() -> None:
    bundle = BundleBuilder().build(load_policy_documents([ROOT / "deploy" / "policies"]))
    assert bundle.policy_ids == ["demo-mirror"]
    report = run_bundle_tests(bundle, "embedded")
    assert report.failed == 0 and report.passed > 0


def test_seed_script_pushes_the_demo_images(fresh_registry: RunningRegistry) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "seed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SEED_REGISTRY": fresh_registry.url},
        check=True,
    )
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "demo/app:v1",
        "demo/app:v2",
        "demo/app:dev",
        "demo/tools:v1",
    ]
    tags = httpx.get(f"{fresh_registry.url}/v2/demo/app/tags/list").json()["tags"]
    assert sorted(tags) == ["dev", "v1", "v2"]


def _docker_engine() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # no socket, permission, daemon down
        return f"no reachable Docker engine ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="module")
def docker_compose_file() -> str:
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def running_demo(request: pytest.FixtureRequest) -> Any:
    reason = _docker_engine()
    if reason:
        pytest.skip(reason)
    return request.getfixturevalue("docker_services")


def test_compose_demo_mirrors_the_seeded_images(running_demo: Any) -> None:
    admin = (ROOT / "deploy" / "secrets" / "admin_token").read_text().strip()
    token = {"Authorization": f"Bearer {admin}"}

    def in_sync() -> bool:
        try:
            ready = httpx.get("http://127.0.0.1:8080/ready", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(ready.get("checks", {}).get("opa", {}).get("in_sync"))

    running_demo.wait_until_responsive(check=in_sync, timeout=300.0, pause=1.0)
    running_demo.wait_until_responsive(
        check=lambda: _ok("http://127.0.0.1:5002/v2/mirror/demo/app/manifests/v2"),
        timeout=60.0,
        pause=1.0,
    )
    tags = httpx.get("http://127.0.0.1:5002/v2/mirror/demo/app/tags/list").json()["tags"]
    assert sorted(tags) == ["v1", "v2"]
    decision = httpx.post(
        "http://127.0.0.1:8080/v1/evaluate",
        headers=token,
        json={"image": {"registry": "src", "repository": "demo/app", "tag": "v9"}},
    ).json()
    assert decision["results"][0]["decision"]["should_replicate"] is True


def _ok(url: str) -> bool:
    try:
        return (
            httpx.get(
                url, timeout=2, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
            ).status_code
            == 200
        )
    except httpx.HTTPError:
        return False
