"""End to end: ``evaluate`` / ``replicate docker://IMAGE[:TAG]`` against a real Docker-API engine.

The engine is Debian's ``podman system service`` (:mod:`tests.fixtures.podman`,
all state in temp dirs) reached through ``DOCKER_HOST``; the targets are two
loopback ``docker-registry`` instances (``ecr``, ``gcr``) listed as insecure
in the engine's ``registries.conf``; the policies are the example
``examples/policies/seed.yaml`` (production images with a passed scan go to
ecr and gcr; an image without a scan label is blocked). The real CLI runs
as a subprocess with the embedded engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.actions.engine_push import EnginePusher
from adapter.metadata.docker_source import DockerMetadataSource
from adapter.registry.client import RegistryClient
from adapter.registry.manifest import parse_manifest
from migrate.contract.decision import DecisionAction
from migrate.core.errors import ActionError
from tests.fixtures.podman import PodmanEngine, PodmanFactory
from tests.fixtures.registry import RegistryFactory, RunningRegistry

pytestmark = [pytest.mark.registry, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
SCANNED = {"environment": "production", "security.scan.status": "passed"}


@dataclass
class DockerWorld:
    engine: PodmanEngine
    ecr: RunningRegistry
    gcr: RunningRegistry
    config: Path
    policies: Path
    tmp: Path

    def run(self, *args: str, docker_host: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [CLI, *args, "--config", str(self.config), "--policies", str(self.policies)]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(self.tmp),
                "DOCKER_HOST": docker_host or self.engine.docker_host,
            },
        )


@pytest.fixture(scope="module")
def docker_world(
    registry_factory: RegistryFactory,
    podman_factory: PodmanFactory,
    repo_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DockerWorld]:
    ecr = registry_factory.start(name="ecr")
    gcr = registry_factory.start(name="gcr")
    engine = podman_factory.start(insecure=[ecr.host, gcr.host])
    tmp = tmp_path_factory.mktemp("docker-source")
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "policy": {"evaluationTimeout": "5s", "maxConcurrency": 4},
                "registries": {"ecr": {"url": ecr.url}, "gcr": {"url": gcr.url}},
            }
        )
    )
    yield DockerWorld(
        engine, ecr, gcr, config, repo_root / "examples" / "policies" / "seed.yaml", tmp
    )
    ecr.stop()
    gcr.stop()


def _manifest(registry: RunningRegistry, repository: str, tag: str) -> tuple[int, Any]:
    response = registry.http().get(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    return response.status_code, response


def test_evaluate_reads_the_engine_and_decides_exactly(docker_world: DockerWorld) -> None:
    image_id = docker_world.engine.import_image(
        "team/app:prod-v1.0.0", labels=SCANNED, seed=11, arch="arm64"
    )
    done = docker_world.run("evaluate", "docker://team/app:prod-v1.0.0", "--output", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    [plan] = document["images"]
    image = plan["image"]
    created = image.pop("created_at")
    size = image.pop("size")
    assert image == {
        "registry": "docker",
        "repository": "team/app",
        "tag": "prod-v1.0.0",
        "digest": image_id,
        "labels": SCANNED,
        "annotations": {},
        "architecture": "arm64",
        "os": "linux",
        "variant": "",  # podman 4.3's Docker API does not report Variant (Docker's does)
        "media_type": "",
        "index_digest": "",
    }
    assert created.startswith("20") and created.endswith("Z")
    assert size > 0
    decision = plan["decision"]
    assert (decision["should_replicate"], decision["matched_policies"]) == (
        True,
        ["production-replication"],
    )
    assert [
        (a["type"], a["target_registry"], a["target_repo"], a["target_tag"])
        for a in decision["actions"]
    ] == [
        ("replicate", "ecr", "production/team/app", "prod-v1.0.0"),
        ("replicate", "gcr", "prod-mirror/team/app", "prod-v1.0.0"),
    ]
    text = docker_world.run("evaluate", "docker://team/app:prod-v1.0.0")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == "docker/team/app:prod-v1.0.0"


def test_replicate_allowed_lands_with_the_decided_image_id(docker_world: DockerWorld) -> None:
    engine = docker_world.engine
    image_id = engine.import_image("team/svc:prod-v2.0.0", labels=SCANNED, seed=12)
    before = engine.image_names()
    done = docker_world.run("replicate", "docker://team/svc:prod-v2.0.0")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (lines[0], lines[-1]) == (
        "replicated docker/team/svc:prod-v2.0.0 -> ecr/production/team/svc:prod-v2.0.0, "
        "gcr/prod-mirror/team/svc:prod-v2.0.0",
        "summary: replicated 1, skipped 0, blocked 0, failed 0",
    )
    # the table per target registry: TARGET COPIED SKIPPED BLOCKED FAILED (bytes, time vary)
    assert [line.split()[:5] for line in lines[1:-1]] == [
        ["TARGET", "COPIED", "SKIPPED", "BLOCKED", "FAILED"],
        ["ecr", "1", "0", "0", "0"],
        ["gcr", "1", "0", "0", "0"],
    ]
    for registry, repository in (
        (docker_world.ecr, "production/team/svc"),
        (docker_world.gcr, "prod-mirror/team/svc"),
    ):
        status, response = _manifest(registry, repository, "prod-v2.0.0")
        assert status == 200
        manifest = parse_manifest(response.content, response.headers["content-type"])
        assert manifest.config is not None
        assert manifest.config.digest == image_id  # what was decided is what landed
    assert engine.image_names() == before  # the temporary target tags are gone again
    again = docker_world.run("replicate", "docker://team/svc:prod-v2.0.0", "--output", "json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["summary"]["skipped"] == 1 and report["summary"]["replicated"] == 0


def test_replicate_blocked_exits_5_and_pushes_nothing(docker_world: DockerWorld) -> None:
    docker_world.engine.import_image(
        "team/raw:prod-v3.0.0", labels={"environment": "production"}, seed=13
    )
    done = docker_world.run("replicate", "docker://team/raw:prod-v3.0.0")
    assert done.returncode == 5, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (lines[0], lines[-1]) == (
        "blocked docker/team/raw:prod-v3.0.0: Missing security scan",
        "summary: replicated 0, skipped 0, blocked 1, failed 0",
    )
    assert [line.split() for line in lines[1:-1]] == [
        ["TARGET", "COPIED", "SKIPPED", "BLOCKED", "FAILED", "BYTES", "TIME"],
        ["(no", "target)", "0", "0", "1", "0", "0", "B", "-"],
    ]
    for registry in (docker_world.ecr, docker_world.gcr):
        catalog = registry.http().get(f"{registry.url}/v2/_catalog").json()
        assert not any("team/raw" in name for name in catalog["repositories"])


def test_engine_not_reachable_exits_6_with_a_clear_message(docker_world: DockerWorld) -> None:
    missing = docker_world.tmp / "no-engine.sock"
    for command in ("evaluate", "replicate"):
        done = docker_world.run(
            command, "docker://team/app:prod-v1.0.0", docker_host=f"unix://{missing}"
        )
        assert done.returncode == 6, done.stdout + done.stderr
        assert f"docker engine at unix://{missing} is not reachable" in done.stderr
        assert "start the engine or set DOCKER_HOST" in done.stderr


@pytest.mark.parametrize(
    "reference",
    [
        "docker://",
        "docker://Team/App:v1",
        "docker://team/../app:v1",
        "docker://team/app@sha256:" + "0" * 64,
        "docker://127.0.0.1:5000/team/app",
        "docker://team/app:v1\n",
        "docker://team app:v1",
        "DOCKER://team/app:v1",
        "docker://team/app:" + "x" * 129,
    ],
)
def test_hostile_docker_references_are_usage_errors(
    docker_world: DockerWorld, reference: str
) -> None:
    done = docker_world.run("evaluate", reference)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid image reference" in done.stderr or "not a docker://" in done.stderr


def _pusher(world: DockerWorld) -> tuple[EnginePusher, DockerMetadataSource]:
    import docker

    source = DockerMetadataSource(client=docker.DockerClient(base_url=world.engine.docker_host))
    return EnginePusher(source), source


def test_engine_name_held_by_another_image_is_not_retagged(docker_world: DockerWorld) -> None:
    engine = docker_world.engine
    engine.import_image("team/one:v1", labels=SCANNED, seed=21)
    other = engine.import_image(f"{docker_world.ecr.host}/mirror/one:v1", seed=22)
    pusher, source = _pusher(docker_world)
    [image] = source.get_metadata("docker", "team/one", "v1")
    action = DecisionAction(type="replicate", target_registry="ecr", target_repo="mirror/one")
    with RegistryClient(docker_world.ecr.config()) as target, pytest.raises(ActionError) as info:
        pusher.push(image, action, target, "mirror/one", "v1", skip_existing=False)
    assert info.value.message == (
        f"the docker engine already has {docker_world.ecr.host}/mirror/one:v1 for another "
        f"image ({other}); nothing pushed"
    )
    status, _ = _manifest(docker_world.ecr, "mirror/one", "v1")
    assert status == 404
    assert source.image_id(f"{docker_world.ecr.host}/mirror/one", "v1") == other


class _WrongImagePusher(EnginePusher):
    """A faulty engine step: pushes ``wrong`` (a real image, by the real engine) instead of
    the decided image, so the verification at the target must catch it."""

    wrong = ""

    def _engine_push(
        self, decided: str, target_client: RegistryClient, repository: str, tag: str
    ) -> None:
        super()._engine_push(self.wrong, target_client, repository, tag)


def test_integrity_check_catches_a_different_image_at_the_target(
    docker_world: DockerWorld,
) -> None:
    engine = docker_world.engine
    decided = engine.import_image("team/two:v1", labels=SCANNED, seed=31)
    wrong = engine.import_image("team/impostor:v1", seed=32)
    _, source = _pusher(docker_world)
    faulty = _WrongImagePusher(source)
    faulty.wrong = wrong
    [image] = source.get_metadata("docker", "team/two", "v1")
    assert image.digest == decided
    action = DecisionAction(type="replicate", target_registry="gcr", target_repo="mirror/two")
    with RegistryClient(docker_world.gcr.config()) as target, pytest.raises(ActionError) as info:
        faulty.push(image, action, target, "mirror/two", "v1", skip_existing=False)
    message = info.value.message
    assert message.startswith(
        f"integrity check failed at gcr/mirror/two:v1: it holds image {wrong} (manifest sha256:"
    )
    assert message.endswith(f"), not the decided {decided}")
