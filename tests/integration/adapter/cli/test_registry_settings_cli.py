"""``freightliner-policy replicate`` (a real process) with registry credential and TLS
settings: one ``error:`` line and the documented exit code (docs/cli.md: 3 invalid input,
6 registry unavailable / credentials rejected)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.cred_helper import install_helper
from tests.fixtures.images import push_image
from tests.fixtures.registry import USERNAME, RegistryFactory, RunningRegistry

pytestmark = pytest.mark.registry

POLICY = """policies:
  - id: mirror
    priority: 10
    conditions:
      - type: tag
        operator: matches
        value: "^v.*"
    actions:
      - type: replicate
        target_registry: dst
        target_repo: "mirror/{repository}"
"""


def replicate(
    tmp_path: Path, registries: dict[str, object], reference: str, env: dict[str, str]
) -> tuple[int, str]:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "mirror.yaml").write_text(POLICY)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"registries": registries}))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from adapter.cli.main import main; main()",
            "replicate",
            reference,
            "--config",
            str(config),
            "--policies",
            str(tmp_path / "policies"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    return proc.returncode, proc.stderr


def test_a_missing_helper_stops_the_command_with_one_line(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"credHelpers": {"dst.example": "ecr-login"}}))
    code, err = replicate(
        tmp_path,
        {"src": {"url": registry.url}, "dst": {"url": "https://dst.example"}},
        "src/team/app:v1",
        {"DOCKER_CONFIG": str(docker), "PATH": os.defpath},
    )
    assert (code, err) == (
        3,
        "error: registry 'dst' at https://dst.example: credential helper "
        f"docker-credential-ecr-login (credHelpers in {docker / 'config.json'}): not found on "
        "PATH\n",
    )


def test_a_url_without_scheme_is_a_config_error(tmp_path: Path) -> None:
    code, err = replicate(
        tmp_path,
        {"src": {"url": "127.0.0.1:5000"}, "dst": {"url": "https://dst.example"}},
        "src/team/app:v1",
        {"DOCKER_CONFIG": str(tmp_path)},
    )
    assert (code, err) == (
        3,
        f"error: {tmp_path / 'config.yaml'}:5: registries.src.url: url '127.0.0.1:5000' has no "
        "scheme: write https://127.0.0.1:5000 (TLS, verified), or http://127.0.0.1:5000 for "
        "plain http\n",
    )


def test_credentials_rejected_after_the_refetch_exit_6_naming_the_helper(
    registry: RunningRegistry, registry_factory: RegistryFactory, tmp_path: Path, unique_repo: str
) -> None:
    dst = registry_factory.start(auth="htpasswd", name="dst")
    push_image(registry, unique_repo, "v1")
    helper = install_helper(tmp_path / "bin")
    helper.store(dst.host, USERNAME, "not-the-password")
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"credHelpers": {dst.host: "fltest"}}))
    code, err = replicate(
        tmp_path,
        {"src": {"url": registry.url}, "dst": {"url": dst.url}},
        f"src/{unique_repo}:v1",
        {"DOCKER_CONFIG": str(docker), "PATH": helper.path_env()},
    )
    assert (code, err.splitlines()[-1]) == (
        6,
        f"error: registry 'dst' at {dst.url} is unavailable: credentials rejected (registry "
        f"'dst' at {dst.url}: credentials for user 'alice' from credential helper "
        f"docker-credential-fltest (credHelpers in {docker / 'config.json'}) (fetched again "
        f"once) were rejected (HTTP 401 on HEAD /v2/mirror/{unique_repo}/manifests/v1))",
    )
    assert helper.calls() == [dst.host, dst.host]  # at start, and once on the 401
    dst.stop()
