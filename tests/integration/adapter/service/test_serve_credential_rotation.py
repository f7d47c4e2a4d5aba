"""A long-running ``serve`` (a real process) keeps replicating when the target registry's
password changes: the 401 makes it run the Docker credential helper again (a real
``docker-credential-*`` executable on PATH), which now has the new password."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cred_helper import install_helper
from tests.fixtures.images import push_image
from tests.fixtures.registry import PASSWORD, USERNAME, RegistryFactory
from tests.fixtures.topology import TopologyFactory
from tests.integration.adapter.registry.test_credential_sources import rotate
from tests.integration.adapter.service.policies import tag_policy

pytestmark = pytest.mark.registry


def test_serve_recovers_from_a_password_change_through_the_helper(
    topology_factory: TopologyFactory,
    registry_factory: RegistryFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = registry_factory.start(name="src")
    dst = registry_factory.start(auth="htpasswd", name="dst")
    helper = install_helper(tmp_path / "bin", "rotating")
    helper.store(dst.host, USERNAME, PASSWORD)
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"credHelpers": {dst.host: "rotating"}}))
    monkeypatch.setenv("PATH", helper.path_env())
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    first = push_image(src, "team/app", "prod-1", seed=1)
    second = push_image(src, "team/app", "prod-2", seed=2)

    topo = topology_factory.start(
        {"prod.yaml": tag_policy("^prod-.*")},
        opa=False,
        config_extra={"registries": {"src": {"url": src.url}, "dst": {"url": dst.url}}},
    )
    api = topo.api()
    done = api.post("/v1/replicate", json={"reference": "src/team/app:prod-1"}).json()
    assert (done["exit_code"], done["outcomes"][0]["status"]) == (0, "replicated")
    assert helper.calls() == [dst.host]  # run once, at start

    rotate(dst, PASSWORD, "rotated-after-start")
    helper.store(dst.host, USERNAME, "rotated-after-start")

    done = api.post("/v1/replicate", json={"reference": "src/team/app:prod-2"}).json()
    assert (done["exit_code"], done["outcomes"][0]["status"]) == (0, "replicated")
    assert helper.calls() == [dst.host, dst.host]  # run again once, on the 401
    with dst.http() as http:  # fixture's own client: still the old password
        http.auth = httpx.BasicAuth(USERNAME, "rotated-after-start")
        for tag, pushed in (("prod-1", first), ("prod-2", second)):
            answer = http.head(
                f"/v2/mirror/team/app/manifests/{tag}",
                headers={"Accept": pushed.media_type},
            )
            assert answer.headers["Docker-Content-Digest"] == pushed.digest
    assert topo.serve_proc is not None and topo.serve_proc.poll() is None
    src.stop()
    dst.stop()
