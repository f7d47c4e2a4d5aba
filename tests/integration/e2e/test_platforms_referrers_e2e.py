"""End to end: the real CLI (``replicate --output json``) over two loopback docker-registry
instances, with the embedded engine and with a real OPA sidecar: a three-platform index
replicated with ``platforms: allowed`` and a signed image with ``with_referrers: true``
(fallback tag and cosign tags), one referrer blocked by policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.builder import BundleBuilder
from migrate.policy.loader import load_policy_documents
from tests.fixtures.images import sha256
from tests.fixtures.registry import RegistryFactory
from tests.integration.adapter.actions.test_referrers import (
    push_fallback_index,
    push_signed,
)
from tests.integration.adapter.runner.test_platforms_allowed import push_three_platforms

pytestmark = [pytest.mark.registry, pytest.mark.opa, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "freightliner-policy")
POLICIES = """\
policies:
  - id: servers
    conditions:
      - {type: repository, operator: equals, value: team/multi}
      - {type: metadata, key: architecture, operator: in, value: [amd64, arm64]}
    actions:
      - {type: replicate, target_registry: target, platforms: allowed}
  - id: signed
    conditions: [{type: repository, operator: equals, value: team/signed}]
    actions:
      - {type: replicate, target_registry: target, with_referrers: true}
  - id: keep-reports-home
    priority: 100
    conditions:
      - type: annotation
        key: org.opencontainers.artifact.type
        operator: equals
        value: application/vnd.example.internal+json
    actions:
      - {type: block, parameters: {reason: "internal reports stay home"}}
"""


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_replicate_json_reports_platforms_and_referrers(
    registry_factory: RegistryFactory, tmp_path: Path, engine: str, opa_factory: Any
) -> None:
    local = registry_factory.start(name="local")
    target = registry_factory.start(name="target")
    index = push_three_platforms(local, "team/multi", "v1", seed=61)
    signed = push_signed(local, "team/signed", "v1", seed=71)
    push_fallback_index(local, "team/signed", signed)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    opa_config: dict[str, Any] = {}
    opa = None
    if engine == "opa":
        opa = opa_factory.start(BundleBuilder().build(load_policy_documents([policies])))
        opa_config = {"url": opa.url}
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "policy": {"evaluationTimeout": "5s", "maxConcurrency": 2},
                "registries": {"local": {"url": local.url}, "target": {"url": target.url}},
                "opa": opa_config,
            }
        )
    )
    options = ["--output", "json", "--config", str(config), "--policies", str(policies)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args, *options],
            capture_output=True,
            text=True,
            timeout=180,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            check=False,
        )

    try:
        evaluated = run("evaluate", "local/team/signed:v1")
        result = run("replicate", "local")
    finally:
        if opa is not None:
            opa.stop()
        local.stop()
    assert (evaluated.returncode, result.returncode) == (0, 0), evaluated.stderr + result.stderr
    [plan] = json.loads(evaluated.stdout)["images"]
    referrers = plan["decision"]["metadata"]["referrers"]["referrers"]
    assert [(r["digest"], r["found"], r["copy"]) for r in referrers] == [
        (sha256(signed.sbom), "fallback-tag", True),
        (sha256(signed.report), "fallback-tag", False),
        (sha256(signed.signature), "cosign", True),
        (sha256(signed.sbom_signature), "cosign", True),
    ]
    by_ref = {o["reference"]: o for o in json.loads(result.stdout)["outcomes"]}
    new_index = json.dumps(
        dict(index.index, manifests=[index.entry(n) for n in (0, 1, 3)]), separators=(",", ":")
    ).encode()
    multi = by_ref["local/team/multi:v1"]
    copies = [
        {k: v for k, v in c.items() if k not in ("seconds", "bytes_copied")}
        for c in multi["copies"]
    ]
    assert (multi["status"], copies) == (
        "replicated",
        [
            {
                "target": "target/team/multi:v1",
                "registry": "target",
                "status": "replicated",
                "source_digest": index.digest,
                "target_digest": sha256(new_index),
                "platforms_copied": ["linux/amd64", "linux/arm64/v8"],
                "platforms_left_out": ["linux/s390x"],
            }
        ],
    )
    selection = multi["decision"]["metadata"]["platform_selection"]["target/team/multi:v1"]
    assert selection["index_digest"] == index.digest
    assert [(p["platform"], p["kept"]) for p in selection["platforms"]] == [
        ("linux/amd64", True),
        ("linux/arm64/v8", True),
        ("linux/s390x", False),
    ]
    copy = by_ref["local/team/signed:v1"]["copies"][0]
    assert copy["referrers_copied"] == [
        sha256(signed.sbom),
        sha256(signed.signature),
        sha256(signed.sbom_signature),
    ]
    assert copy["referrers_blocked"] == [f"{sha256(signed.report)}: internal reports stay home"]
    client = target.client()
    assert client.get_manifest("team/multi", "v1").content == new_index
    assert client.head_manifest("team/signed", sha256(signed.report)) is None
    assert client.get_manifest("team/signed", sha256(signed.sbom)).content == signed.sbom
    target.stop()
