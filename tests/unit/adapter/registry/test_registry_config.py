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


# -- credential files, helpers, TLS settings (issue 15) ----------------------------------------

CREDENTIALS_AND_TLS_YAML = """
registries:
  harbor:
    url: https://harbor.internal:8443
    username: robot$replicator
    password_file: /run/secrets/harbor
    ca_file: {ca}
  gcr:
    url: https://europe-docker.pkg.dev
    token_file: /run/secrets/gcr-token
    helper_timeout_seconds: 5
  lab:
    url: https://registry.lab:5443
    certs_dir: {certs}
"""


def _pem(tmp_path: Path) -> tuple[Path, Path]:
    """A real self-signed CA certificate and an empty certs.d root."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "certs.d").mkdir()
    return ca, tmp_path / "certs.d"


def test_credential_and_tls_fields_parse(tmp_path: Path) -> None:
    ca, certs = _pem(tmp_path)
    config = RegistriesConfig.from_yaml(CREDENTIALS_AND_TLS_YAML.format(ca=ca, certs=certs))
    harbor = config.get("harbor")
    assert (harbor.username, harbor.password_file, harbor.ca_file) == (
        "robot$replicator",
        Path("/run/secrets/harbor"),
        ca,
    )
    gcr = config.get("gcr")
    assert (gcr.token_file, gcr.helper_timeout_seconds) == (Path("/run/secrets/gcr-token"), 5.0)
    assert config.get("lab").certs_dir == certs
    assert harbor.verify_tls and harbor.has_tls_files and not gcr.has_tls_files


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"token_env": "T", "token_file": "/t"},
            "token_env and token_file exclude each other: keep one",
        ),
        (
            {"password_env": "P", "password_file": "/p"},
            "password_env and password_file exclude each other: keep one",
        ),
        ({"username": "u"}, "username is only used with password_file"),
        ({"client_cert": "/c.pem"}, "client_cert needs client_key"),
        ({"client_key": "/k.pem"}, "client_key needs client_cert"),
        (
            {"insecure": True, "ca_file": "/ca.pem"},
            "insecure: true turns TLS verification off, ca_file would be ignored: remove one",
        ),
        ({"helper_timeout_seconds": 0}, "Input should be greater than 0"),
    ],
)
def test_conflicting_settings_are_one_line_each(settings: dict[str, object], message: str) -> None:
    text = yaml_registry({"url": "https://r.example", **settings})
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    field = (
        "registries.r.helper_timeout_seconds"
        if "helper_timeout_seconds" in settings
        else "registries.r"
    )
    assert info.value.lines() == [f"cfg.yaml: {field}: {message}"]


def yaml_registry(settings: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump({"registries": {"r": settings}})


def test_tls_settings_on_plain_http_are_an_error() -> None:
    text = yaml_registry({"url": "http://127.0.0.1:5000", "ca_file": "/ca.pem"})
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.from_yaml(text, "cfg.yaml")
    assert info.value.lines() == ["cfg.yaml: registries.r: ca_file need an https url"]


def test_bad_tls_paths_name_the_registry_and_field(tmp_path: Path) -> None:
    ca, _ = _pem(tmp_path)
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    cases = {
        "missing": {"ca_file": str(tmp_path / "missing.pem")},
        "garbage": {"ca_file": str(not_pem)},
        "no-key": {"client_cert": str(ca), "client_key": str(tmp_path / "missing.key")},
        "no-dir": {"certs_dir": str(tmp_path / "no-such-dir")},
    }
    text = "registries:\n" + "".join(
        f"  {name}:\n    url: https://r.example\n"
        + "".join(f"    {k}: {v}\n" for k, v in settings.items())
        for name, settings in cases.items()
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    from adapter.config import FreightlinerConfig

    with pytest.raises(ConfigError) as info:
        FreightlinerConfig.load(path)
    assert info.value.lines() == [
        f"{path}:4: registries.missing.ca_file: {tmp_path / 'missing.pem'} does not exist",
        f"{path}:7: registries.garbage.ca_file: {not_pem} is not a PEM CA certificate "
        "(NO_CERTIFICATE_OR_CRL_FOUND)",
        f"{path}:11: registries.no-key.client_key: {tmp_path / 'missing.key'} does not exist",
        f"{path}:14: registries.no-dir.certs_dir: {tmp_path / 'no-such-dir'} is not a directory",
    ]


def test_password_file_is_read_and_re_read_when_it_changes(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first\n")
    config = RegistryConfig(
        name="harbor", url="https://harbor.example", username="robot", password_file=secret
    )
    source = config.credential_source({})
    first = source.current()
    assert first == Credentials("robot", "first")
    assert first is not None and first.origin == f"password_file {secret}"
    assert source.current() is first  # unchanged file: cached, not re-read
    replacement = tmp_path / "password.new"
    replacement.write_text("second-and-longer\r\n")
    replacement.replace(secret)
    assert source.current() == Credentials("robot", "second-and-longer")


def test_password_file_needs_a_user_and_content(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("")
    no_user = RegistryConfig(name="h", url="https://h.example", password_file=secret)
    with pytest.raises(ConfigError) as info:
        no_user.credentials({})
    assert info.value.lines() == [
        "registry 'h': password_file needs a user: set username, or the environment variable "
        "FREIGHTLINER_REGISTRY_H_USERNAME"
    ]
    empty = no_user.credentials
    with pytest.raises(ConfigError) as info:
        empty({"FREIGHTLINER_REGISTRY_H_USERNAME": "u"})
    assert info.value.lines() == [f"registry 'h': password_file {secret} is empty"]


def test_token_file_wins_over_the_default_variables(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    config = RegistryConfig(name="g", url="https://g.example", token_file=token)
    env = {"FREIGHTLINER_REGISTRY_G_USERNAME": "u", "FREIGHTLINER_REGISTRY_G_PASSWORD": "p"}
    assert config.credentials(env) == Credentials(token="tok-123")


def test_a_helper_name_with_a_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"credsStore": "../../bin/sh", "auths": {"r.example": {"auth": "eDp5"}}})
    )
    config = RegistryConfig(name="r", url="https://r.example")
    with pytest.raises(ConfigError) as info:
        config.credentials({"DOCKER_CONFIG": str(tmp_path)})
    assert info.value.lines() == [
        f"registry 'r' at https://r.example: credsStore in {tmp_path / 'config.json'}: invalid "
        "credential helper name '../../bin/sh'"
    ]
