"""``serve`` signs what it publishes; the real OPA sidecar (reference ``opa run --server``
with ``keys:`` and the bundle's ``signing:``) polls it, refuses a bundle edited after
signing or an unsigned one, and keeps its last good bundle; the adapter refuses the same
bytes. Between OPA and ``serve`` sits a loopback proxy that can tamper with the bundle
(the attacker who answers the sidecar's download)."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from adapter.service.auth import hash_token
from migrate.bundle.signing import SignatureError, VerificationConfig
from migrate.engine.embedded import EmbeddedEngine
from tests.fixtures.keys import write_pem_pair
from tests.fixtures.registry import free_port
from tests.fixtures.topology import Topology, TopologyFactory, wait_for
from tests.integration.adapter.service.policies import image, tag_policy

pytestmark = [pytest.mark.registry, pytest.mark.opa]

SIDECAR = "sidecar-bundle-read-token-0123456789"
ADMIN = "admin-token-0123456789-abcdef"
NOW = "2026-11-23T12:00:00Z"


class TamperingProxy:
    """Forwards OPA's bundle download to ``serve``; ``mode`` decides what OPA gets."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "pass"  # pass | tamper | unsigned | extra
        self.served: list[tuple[str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                mode = proxy.mode
                headers = {"authorization": self.headers.get("authorization", "")}
                if mode == "pass" and self.headers.get("if-none-match"):
                    headers["if-none-match"] = self.headers["if-none-match"]
                response = httpx.get(proxy.upstream + self.path, headers=headers, timeout=10)
                body, etag = response.content, response.headers.get("etag", "")
                if mode != "pass" and response.status_code == 200:
                    body = proxy.tampered(body, mode)
                    etag = f'"{mode}-{len(proxy.served)}"'
                proxy.served.append((mode, response.status_code))
                self.send_response(response.status_code)
                self.send_header("etag", etag)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def tampered(tarball: bytes, mode: str) -> bytes:
        files = unpack(tarball)
        if mode == "tamper":  # every tag replicates: edited after signing
            files["data.json"] = files["data.json"].replace(b'"^prod-.*"', b'"^.*"')
        elif mode == "unsigned":
            files.pop(".signatures.json")
        elif mode == "extra":
            files["freightliner/extra.rego"] = b"package freightliner.extra\n\nx := 1\n"
        return pack(files)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def unpack(tarball: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            if extracted is not None:
                files[member.name.lstrip("/")] = extracted.read()
    return files


def pack(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo("/" + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return write_pem_pair(private, tmp_path / "signing.pem", tmp_path / "signing.pub.pem")


@pytest.fixture
def signed_topology(
    topology_factory: TopologyFactory, tmp_path: Path, keys: tuple[Path, Path]
) -> Iterator[tuple[Topology, TamperingProxy, Path]]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {
                        "name": "opa-sidecar",
                        "sha256": hash_token(SIDECAR),
                        "scopes": ["bundle:read"],
                    },
                    {
                        "name": "admin",
                        "sha256": hash_token(ADMIN),
                        "scopes": ["decisions", "policies:read"],
                    },
                ]
            }
        )
    )
    topo = topology_factory.start(
        {"prod.yaml": tag_policy("^prod-.*")},
        opa=False,
        serve={"tokens_file": str(tokens)},
        config_extra={
            "bundle_signing": {
                "signing_key": str(keys[0]),
                "algorithm": "RS256",
                "key_id": "freightliner",
            }
        },
    )
    proxy = TamperingProxy(topo.adapter_url)
    token_file = tmp_path / "sidecar.token"
    token_file.write_text(SIDECAR)
    # As deploy/opa.yaml: keys + the bundle's signing, the bundle:read token from a file.
    config = {
        "services": {
            "adapter": {
                "url": proxy.url,
                "credentials": {"bearer": {"token_path": str(token_file)}},
            }
        },
        "keys": {"freightliner": {"algorithm": "RS256", "key": keys[1].read_text()}},
        "bundles": {
            "freightliner": {
                "service": "adapter",
                "resource": "bundles/freightliner.tar.gz",
                "signing": {"keyid": "freightliner"},
                "polling": {"min_delay_seconds": 0.2, "max_delay_seconds": 0.4},
            }
        },
    }
    path = topo.root / "opa.yaml"
    path.write_text(yaml.safe_dump(config))
    topo.opa_port = free_port()
    log = (topo.root / "opa.log").open("ab")
    import subprocess

    topo.opa_proc = subprocess.Popen(
        ["opa", "run", "--server", "--addr", f"127.0.0.1:{topo.opa_port}", "-c", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(topo._opa_ready, 30, what="opa /health?bundles")
        yield topo, proxy, keys[1]
    finally:
        proxy.stop()


def _revision(topo: Topology) -> str:
    with httpx.Client(base_url=topo.adapter_url, headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        return str(c.get("/v1/policies").json()["bundle"]["revision"])


def _opa_log(topo: Topology) -> str:
    return (topo.root / "opa.log").read_text(errors="replace")


def test_sidecar_refuses_tampered_and_unsigned_bundles_and_keeps_the_last_good(
    signed_topology: tuple[Topology, TamperingProxy, Path],
) -> None:
    topo, proxy, public = signed_topology
    good = _revision(topo)
    assert topo.opa_revision() == good
    assert topo.opa_decision(image("dev-1"), NOW)["should_replicate"] is False
    assert topo.opa_decision(image("prod-1"), NOW)["should_replicate"] is True

    # What serve publishes is signed, and verifies with the public key.
    with httpx.Client(
        base_url=topo.adapter_url, headers={"Authorization": f"Bearer {SIDECAR}"}
    ) as c:
        published = c.get("/bundles/freightliner.tar.gz").content
    verification = VerificationConfig.from_file(public, "RS256", "freightliner")
    files = unpack(published)
    assert ".signatures.json" in files
    assert (
        good
        == EmbeddedEngine.from_bundle(_write(topo, "good.tar.gz", published), verification).revision
    )

    expected = {
        "tamper": "data.json: digest mismatch (want: ",
        "unsigned": "bundle missing .signatures.json file",
        "extra": "file freightliner/extra.rego not included in bundle signature",
    }
    for mode, reason in expected.items():
        proxy.mode = mode
        marker = f"Bundle signature verification failed: {reason}"
        wait_for(
            lambda marker=marker: marker in _opa_log(topo),
            20,
            what=f"OPA refusing the {mode} bundle",
        )
        served = sum(1 for m, status in proxy.served if m == mode and status == 200)
        assert served >= 1
        # OPA keeps the last good bundle: same revision, same decisions.
        assert topo.opa_revision() == good
        assert topo.opa_decision(image("dev-1"), NOW)["should_replicate"] is False
        # The adapter refuses the same bytes wherever it reads a bundle.
        tampered = _write(topo, f"{mode}.tar.gz", proxy.tampered(published, mode))
        with pytest.raises(SignatureError) as caught:
            EmbeddedEngine.from_bundle(tampered, verification)
        assert caught.value.reason.startswith(reason)

    # Signed updates still flow: a policy change is published, signed, and activated.
    proxy.mode = "pass"
    topo.write_policy("prod.yaml", tag_policy("^(prod|dev)-.*"))
    wait_for(lambda: _revision(topo) != good, 30, what="serve publishing the change")
    new = _revision(topo)
    wait_for(lambda: topo.opa_revision() == new, 30, what="OPA activating the signed change")
    assert topo.opa_decision(image("dev-1"), NOW)["should_replicate"] is True


def _write(topo: Topology, name: str, data: bytes) -> Path:
    path = topo.root / name
    path.write_bytes(data)
    return path
