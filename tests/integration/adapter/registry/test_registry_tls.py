"""TLS per registry against real docker-registry processes serving https with a CA made
by the test: ``ca_file``, client certificates (``http.tls.clientcas``), Docker's ``certs.d``,
and the errors when the CA is wrong or the client certificate missing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.registry.client import RegistryClient
from adapter.registry.config import RegistryConfig
from migrate.core.errors import ConfigError, RegistryError
from migrate.core.retry import RetrySettings
from tests.fixtures.images import push_image
from tests.fixtures.registry import RegistryFactory, RunningRegistry
from tests.fixtures.tls import Pki, make_pki

pytestmark = pytest.mark.registry

ONCE = RetrySettings(max_attempts=1)


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    directory = Path(tempfile.mkdtemp(prefix="freightliner-pki-"))
    yield make_pki(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_registry(registry_factory: RegistryFactory, pki: Pki) -> RunningRegistry:
    """https, server certificate signed by the test's CA."""
    return registry_factory.start(
        name="tls",
        tls={"certificate": str(pki.server_cert), "key": str(pki.server_key), "ca_file": pki.ca},
    )


@pytest.fixture(scope="module")
def mtls_registry(registry_factory: RegistryFactory, pki: Pki) -> RunningRegistry:
    """https that requires a client certificate signed by the test's client CA."""
    return registry_factory.start(
        name="mtls",
        tls={
            "certificate": str(pki.server_cert),
            "key": str(pki.server_key),
            "ca_file": pki.ca,
            "clientcas": [str(pki.client_ca)],
            "client_cert": (str(pki.client_cert), str(pki.client_key)),
        },
    )


def client(registry: RunningRegistry, **settings: object) -> RegistryClient:
    config = RegistryConfig.model_validate({"name": registry.name, "url": registry.url, **settings})
    made = RegistryClient(config, credentials=None, retry=ONCE, timeout=20.0)
    registry.clients.append(made)
    return made


def test_ca_file_trusts_the_private_ca(
    tls_registry: RunningRegistry, pki: Pki, unique_repo: str
) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:")
    image = push_image(tls_registry, unique_repo, "v1")
    reader = client(tls_registry, ca_file=str(pki.ca))
    assert reader.get_manifest(unique_repo, "v1").digest == image.digest


@pytest.mark.parametrize("ca", ["default", "other"])
def test_an_untrusted_certificate_is_one_clear_error(
    tls_registry: RunningRegistry, pki: Pki, ca: str
) -> None:
    settings = {} if ca == "default" else {"ca_file": str(pki.other_ca)}
    config = RegistryConfig.model_validate({"name": "tls", "url": tls_registry.url, **settings})
    reader = RegistryClient(config, credentials=None)  # the default retries
    tls_registry.clients.append(reader)
    with pytest.raises(RegistryError) as info:
        reader.ping()
    assert reader.requests == 1  # a TLS failure is a setting: not retried
    assert info.value.lines() == [
        f"registry 'tls': GET /v2/: TLS: the certificate of {tls_registry.host} is not trusted "
        "(unable to get local issuer certificate); trust its CA with ca_file or certs_dir "
        "(insecure: true turns verification off)"
    ]


def test_insecure_skips_verification(tls_registry: RunningRegistry) -> None:
    client(tls_registry, insecure=True).ping()


def test_a_client_certificate_is_presented(
    mtls_registry: RunningRegistry, pki: Pki, unique_repo: str
) -> None:
    image = push_image(mtls_registry, unique_repo, "v1")
    reader = client(
        mtls_registry,
        ca_file=str(pki.ca),
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
    )
    assert reader.get_manifest(unique_repo, "v1").digest == image.digest


def test_without_the_client_certificate_the_error_says_so(
    mtls_registry: RunningRegistry, pki: Pki
) -> None:
    with pytest.raises(RegistryError) as info:
        client(mtls_registry, ca_file=str(pki.ca)).ping()
    assert info.value.lines() == [
        f"registry 'mtls': GET /v2/: TLS handshake with {mtls_registry.host} failed "
        "(SSLV3_ALERT_BAD_CERTIFICATE): the registry wants a client certificate it trusts "
        "(client_cert + client_key, or certs_dir)"
    ]


def test_certs_d_is_picked_up(
    mtls_registry: RunningRegistry, pki: Pki, tmp_path: Path, unique_repo: str
) -> None:
    host_dir = tmp_path / "certs.d" / mtls_registry.host  # 127.0.0.1:PORT, as Docker names it
    host_dir.mkdir(parents=True)
    shutil.copy(pki.ca, host_dir / "ca.crt")
    shutil.copy(pki.client_cert, host_dir / "client.cert")
    shutil.copy(pki.client_key, host_dir / "client.key")
    image = push_image(mtls_registry, unique_repo, "v1")
    reader = client(mtls_registry, certs_dir=str(tmp_path / "certs.d"))
    assert reader.get_manifest(unique_repo, "v1").digest == image.digest
    # another host's directory is not used
    other = tmp_path / "other.d"
    (other / "127.0.0.1:1").mkdir(parents=True)
    shutil.copy(pki.ca, other / "127.0.0.1:1" / "ca.crt")
    with pytest.raises(RegistryError, match="is not trusted"):
        client(mtls_registry, certs_dir=str(other)).ping()


def test_certs_d_client_cert_without_key_is_a_config_error(
    mtls_registry: RunningRegistry, pki: Pki, tmp_path: Path
) -> None:
    host_dir = tmp_path / "certs.d" / mtls_registry.host
    host_dir.mkdir(parents=True)
    shutil.copy(pki.client_cert, host_dir / "client.cert")
    with pytest.raises(ConfigError) as info:
        client(mtls_registry, certs_dir=str(tmp_path / "certs.d"))
    assert info.value.lines() == [
        f"registry 'mtls': certs_dir: missing key client.key for client certificate "
        f"{host_dir / 'client.cert'} (CA certificates must end in .crt)"
    ]


def test_https_to_a_plain_http_registry_says_so(registry: RunningRegistry) -> None:
    config = RegistryConfig(name="plain", url=f"https://{registry.host}")
    reader = RegistryClient(config, credentials=None)
    registry.clients.append(reader)
    with pytest.raises(RegistryError) as info:
        reader.ping()
    assert info.value.lines() == [
        f"registry 'plain': GET /v2/: TLS handshake with {registry.host} failed "
        "(WRONG_VERSION_NUMBER): it does not speak https there; a plain-http registry needs an "
        "http:// url (loopback, or with insecure: true)"
    ]
    assert reader.requests == 1
