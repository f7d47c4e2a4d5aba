"""The deployment's own files, run for real without Docker: ``deploy/make_secrets.py``
makes the secrets, ``serve`` uses the token file and signs with the key, and the reference
OPA started with ``deploy/opa.yaml`` (as compose starts it, paths moved by ``--set``)
downloads with its bundle:read token and activates only the signed bundle."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.registry import free_port
from tests.fixtures.topology import TopologyFactory, wait_for

pytestmark = [pytest.mark.registry, pytest.mark.opa]

ROOT = Path(__file__).resolve().parents[3]


def test_deploy_secrets_tokens_and_signed_sidecar(
    topology_factory: TopologyFactory, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    made = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "make_secrets.py"), str(secrets)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in secrets.iterdir()}
    assert modes == {
        "tokens.yaml": 0o644,
        "opa_bundle_token": 0o600,
        "admin_token": 0o600,
        "bundle_signing_key.pem": 0o600,
        "bundle_verification_key.pem": 0o644,
    }
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    again = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "make_secrets.py"), str(secrets)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert again.returncode == 1 and "not overwritten" in again.stderr
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before

    topo = topology_factory.start(
        {"demo.yaml": (ROOT / "deploy" / "policies" / "demo.yaml").read_text()},
        opa=False,
        serve={"tokens_file": str(secrets / "tokens.yaml")},
        config_extra={
            "bundle_signing": {
                "signing_key": str(secrets / "bundle_signing_key.pem"),
                "algorithm": "RS256",
                "key_id": "freightliner",
            }
        },
    )
    sidecar = (secrets / "opa_bundle_token").read_text().strip()
    admin = (secrets / "admin_token").read_text().strip()
    url = topo.adapter_url
    as_sidecar = {"Authorization": f"Bearer {sidecar}"}
    as_admin = {"Authorization": f"Bearer {admin}"}
    assert httpx.get(f"{url}/bundles/freightliner.tar.gz", headers=as_sidecar).status_code == 200
    assert httpx.get(f"{url}/bundles/freightliner.tar.gz", headers=as_admin).status_code == 403
    image = {"image": {"registry": "src", "repository": "demo/app", "tag": "v9"}}
    assert httpx.post(f"{url}/v1/evaluate", json=image, headers=as_sidecar).status_code == 403
    assert (
        httpx.post(
            f"{url}/v1/replicate", json={"reference": "src/demo/app:v9"}, headers=as_sidecar
        ).status_code
        == 403
    )
    assert httpx.get(f"{url}/v1/policies", headers=as_sidecar).status_code == 403
    revision = httpx.get(f"{url}/v1/policies", headers=as_admin).json()["bundle"]["revision"]

    topo.opa_port = free_port()
    log = (topo.root / "opa.log").open("ab")
    topo.opa_proc = subprocess.Popen(
        [
            "opa", "run", "--server", "--addr", f"127.0.0.1:{topo.opa_port}",
            "--config-file", str(ROOT / "deploy" / "opa.yaml"),
            "--set", f"services.adapter.url={url}",
            "--set", f"services.adapter.credentials.bearer.token_path={secrets / 'opa_bundle_token'}",
            "--set", "bundles.freightliner.polling.min_delay_seconds=0.2",
            "--set", "bundles.freightliner.polling.max_delay_seconds=0.4",
            "--set-file", f"keys.freightliner.key={secrets / 'bundle_verification_key.pem'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_for(topo._opa_ready, 30, what="opa with deploy/opa.yaml activating the signed bundle")
    assert topo.opa_revision() == revision
    decision = topo.opa_decision(image["image"])
    assert decision["should_replicate"] is True and decision["matched_policies"] == ["demo-mirror"]
