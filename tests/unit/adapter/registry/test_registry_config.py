"""RegistriesConfig parsing and credential resolution."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from adapter.registry.config import Credentials, RegistriesConfig, RegistryConfig, env_prefix
from migrate.core.errors import ConfigError

YAML = """
opa: {url: http://127.0.0.1:8181}
registries:
  ecr:
    url: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/
  local:
    url: http://127.0.0.1:5000
  lab:
    url: http://registry.lab:5000
    insecure: true
    username_env: LAB_USER
    password_env: LAB_PASS
"""


def test_parses_the_registries_section_only() -> None:
    config = RegistriesConfig.from_yaml(YAML, "freightliner.yaml")
    assert list(config) == ["ecr", "lab", "local"]
    ecr = config.get("ecr")
    assert ecr == RegistryConfig(
        name="ecr", url="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert ecr.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert ecr.verify_tls is True
    lab = config.get("lab")
    assert (lab.url, lab.insecure, lab.username_env, lab.password_env) == (
        "http://registry.lab:5000",
        True,
        "LAB_USER",
        "LAB_PASS",
    )
    assert lab.verify_tls is False
    assert "local" in config and "gcr" not in config and len(config) == 3


def test_url_without_scheme_is_an_error_with_the_fix() -> None:
    text = "registries:\n  local:\n    url: 127.0.0.1:5000\n  gcr:\n    url: gcr.io\n"
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    assert info.value.lines() == [
        "cfg.yaml: registries.local.url: url '127.0.0.1:5000' has no scheme: write "
        "https://127.0.0.1:5000 (TLS, verified), or http://127.0.0.1:5000 for plain http",
        "cfg.yaml: registries.gcr.url: url 'gcr.io' has no scheme: write https://gcr.io "
        "(TLS, verified), or http://gcr.io with insecure: true for plain http",
    ]


def test_unknown_registry_names_the_configured_ones() -> None:
    config = RegistriesConfig.from_yaml(YAML)
    with pytest.raises(
        ConfigError, match=r"unknown registry 'gcr' \(configured: ecr, lab, local\)"
    ):
        config.get("gcr")


def test_inline_password_is_rejected_with_a_clear_error() -> None:
    text = "registries:\n  ecr:\n    url: https://ecr.example\n    password: hunter2\n"
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    assert info.value.lines() == [
        "cfg.yaml: registries.ecr: inline secrets are not allowed (password); use password_file/"
        "token_file, environment variables (username_env/password_env/token_env) or docker_config"
    ]
    assert "hunter2" not in str(info.value.lines())


def test_plain_http_needs_insecure_unless_loopback() -> None:
    text = "registries:\n  lab:\n    url: http://registry.lab:5000\n"
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    assert info.value.lines() == [
        "cfg.yaml: registries.lab: plain http to 'registry.lab' needs insecure: true "
        "(only loopback hosts may use http)"
    ]
    for url in ("http://localhost:5000", "http://127.0.0.1:5000", "http://[::1]:5000"):
        assert RegistryConfig(name="l", url=url).scheme == "http"


def test_every_problem_is_reported() -> None:
    text = (
        "registries:\n  a:\n    url: ftp://x\n  b:\n    url: https://b\n    colour: red\n  c: 3\n"
    )
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    assert [d.field for d in info.value.diagnostics] == [
        "registries.a.url",
        "registries.b.colour",
        "registries.c",
    ]


def test_env_prefix() -> None:
    assert env_prefix("my-ecr.prod") == "FREIGHTLINER_REGISTRY_MY_ECR_PROD_"


def test_credentials_from_default_environment_variables(tmp_path: Path) -> None:
    config = RegistryConfig(name="my-ecr", url="https://ecr.example")
    env = {
        "FREIGHTLINER_REGISTRY_MY_ECR_USERNAME": "bob",
        "FREIGHTLINER_REGISTRY_MY_ECR_PASSWORD": "s3cret",
        "DOCKER_CONFIG": str(tmp_path),
    }
    assert config.credentials(env) == Credentials(username="bob", password="s3cret")
    assert "s3cret" not in repr(config.credentials(env))
    assert config.credentials({"DOCKER_CONFIG": str(tmp_path)}) is None


def test_named_variables_must_be_set() -> None:
    config = RegistryConfig(
        name="lab", url="https://lab", username_env="LAB_USER", password_env="LAB_PASS"
    )
    assert config.credentials({"LAB_USER": "u", "LAB_PASS": "p"}) == Credentials("u", "p")
    with pytest.raises(
        ConfigError, match="registry 'lab': environment variable LAB_PASS is not set"
    ):
        config.credentials({"LAB_USER": "u"})
    token = RegistryConfig(name="t", url="https://t", token_env="T_TOKEN")
    assert token.credentials({"T_TOKEN": "abc"}) == Credentials(token="abc")
    with pytest.raises(ConfigError, match="token_env T_TOKEN is not set"):
        token.credentials({})


def _docker_config(path: Path, auths: dict[str, object]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"auths": auths}))
    return path / "config.json"


def test_credentials_from_docker_config(tmp_path: Path) -> None:
    auth = base64.b64encode(b"carol:pa:ss").decode()
    _docker_config(
        tmp_path,
        {
            "https://registry.example:5443/v1/": {"auth": auth},
            "other.example": {"auth": base64.b64encode(b"x:y").decode()},
        },
    )
    config = RegistryConfig(name="r", url="https://registry.example:5443")
    assert config.credentials({"DOCKER_CONFIG": str(tmp_path)}) == Credentials("carol", "pa:ss")
    unlisted = RegistryConfig(name="r", url="https://registry.example")
    assert unlisted.credentials({"DOCKER_CONFIG": str(tmp_path)}) is None


def test_explicit_docker_config_path(tmp_path: Path) -> None:
    path = _docker_config(
        tmp_path / "d", {"index.docker.io": {"auth": base64.b64encode(b"dave:pw").decode()}}
    )
    hub = RegistryConfig(name="hub", url="https://registry-1.docker.io", docker_config=path)
    assert hub.credentials({}) == Credentials("dave", "pw")
    missing = RegistryConfig(
        name="hub", url="https://registry-1.docker.io", docker_config=tmp_path / "nope.json"
    )
    with pytest.raises(ConfigError, match=r"docker_config .*nope\.json does not exist"):
        missing.credentials({})
    _docker_config(tmp_path / "bad", {"registry-1.docker.io": {"auth": "!!notbase64"}})
    bad = RegistryConfig(
        name="hub",
        url="https://registry-1.docker.io",
        docker_config=tmp_path / "bad" / "config.json",
    )
    with pytest.raises(ConfigError, match="'auth' is not base64 of user:pass"):
        bad.credentials({})


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "freightliner.yaml"
    path.write_text(YAML)
    assert list(RegistriesConfig.load(path)) == ["ecr", "lab", "local"]
    with pytest.raises(ConfigError, match="cannot read"):
        RegistriesConfig.load(tmp_path / "missing.yaml")
    assert len(RegistriesConfig.from_yaml("other: 1\n")) == 0
