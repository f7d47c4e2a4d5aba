"""The ``registries:`` example of docs/deployment.md parses, loads its TLS files and resolves
its credentials as the text says (files under ``/etc/freightliner/`` made in a temp dir)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from adapter.registry.config import Credentials, RegistriesConfig
from tests.fixtures.tls import make_pki

DOC = Path(__file__).resolve().parents[4] / "docs" / "deployment.md"


def example() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- registries-example[^>]*-->\n```yaml\n(.*?)```\n<!-- /registries-example -->",
        text,
        re.S,
    )
    assert match, "the registries example is missing from docs/deployment.md"
    return match.group(1)


def test_the_documented_registries_example(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    pki = make_pki(tmp_path / "pki")
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "harbor").write_text("harbor-password\n")
    (root / "secrets" / "gar-token").write_text("gar-token-value\n")
    shutil.copy(pki.ca, root / "internal-ca.pem")
    (root / "certs.d" / "registry.lab:5443").mkdir(parents=True)
    shutil.copy(pki.ca, root / "certs.d" / "registry.lab:5443" / "ca.crt")
    (root / "partner").mkdir()
    shutil.copy(pki.client_cert, root / "partner" / "client.cert")
    shutil.copy(pki.client_key, root / "partner" / "client.key")
    text = example().replace("/etc/freightliner/", f"{root}/")
    config = RegistriesConfig.from_yaml(text, "deployment.md")
    assert list(config) == ["ecr", "gar", "harbor", "lab", "local", "partner"]
    for name in config:
        config.get(name).check_tls()  # every TLS file loads
    env = {"DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    assert config.get("harbor").credentials(env) == Credentials(
        "robot$replicator", "harbor-password"
    )
    assert config.get("gar").credentials(env) == Credentials(token="gar-token-value")
    assert config.get("ecr").helper_timeout_seconds == 20.0
    assert config.get("local").credentials(env) is None
