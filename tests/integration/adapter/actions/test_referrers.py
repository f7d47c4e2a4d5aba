"""``with_referrers: true`` over real docker-registry instances and the embedded engine.

docker-registry 2.8 has no referrers API (``GET /v2/<name>/referrers/<digest>``
answers 404), so the fallback tag path is exercised for real: an SBOM and an
internal report are OCI 1.1 artifacts with ``subject`` listed in the source's
``sha256-<hex>`` index, a cosign signature sits under ``sha256-<hex>.sig``,
and the SBOM is itself signed (``sha256-<sbom hex>.sig``, a referrer of a
referrer). The report is blocked by policy and must not reach the target.

The API path uses a **test server**: a small real HTTP server in front of the
source docker-registry that answers ``GET /v2/<name>/referrers/<digest>``
itself (with what the test sets) and forwards every other request unchanged.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.actions.executor import DecisionExecutor
from adapter.decision.failover import FailoverEngine
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.registry.config import RegistryConfig
from adapter.registry.manifest import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from adapter.registry.referrers import find_referrers
from adapter.runner.interface import ImageOutcome, ImageReference
from adapter.runner.replicator import RegistryReplicator
from migrate.bundle.builder import BundleBuilder
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import EngineError
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.fixtures.images import PushedImage, push_blob, push_image, push_manifest, sha256
from tests.fixtures.registry import RegistryFactory, RunningRegistry, free_port
from tests.integration.adapter.runner.test_platforms_allowed import push_three_platforms

pytestmark = pytest.mark.registry

POLICIES = """\
policies:
  - id: copy-signed
    conditions: [{type: tag, operator: matches, value: "^v"}]
    actions:
      - type: replicate
        target_registry: target
        target_repo: "mirror/{repository}"
        with_referrers: true
  - id: copy-bare
    conditions: [{type: tag, operator: matches, value: "^bare-"}]
    actions:
      - {type: replicate, target_registry: target, target_repo: "bare/{repository}"}
  - id: subset-signed
    conditions:
      - {type: tag, operator: matches, value: "^sub-"}
      - {type: metadata, key: architecture, operator: in, value: [amd64, arm64]}
    actions:
      - type: replicate
        target_registry: target
        target_repo: "sub/{repository}"
        platforms: allowed
        with_referrers: true
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

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
SBOM_TYPE = "application/spdx+json"
REPORT_TYPE = "application/vnd.example.internal+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def descriptor(content: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(content), "size": len(content), **extra}


def push_artifact(
    registry: RunningRegistry,
    repository: str,
    subject: tuple[bytes, str],
    artifact_type: str,
    payload: bytes,
    annotations: dict[str, str],
) -> bytes:
    """An OCI 1.1 artifact manifest with ``subject``, pushed by digest (no tag)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY, EMPTY_TYPE, data=base64.b64encode(EMPTY).decode()),
        "layers": [descriptor(payload, artifact_type)],
        "subject": descriptor(subject[0], subject[1]),
        "annotations": annotations,
    }
    content = json.dumps(manifest, indent=2).encode()
    with registry.http() as http:
        push_blob(http, repository, EMPTY)
        push_blob(http, repository, payload)
        push_manifest(http, repository, sha256(content), content, OCI_MANIFEST)
    return content


def push_cosign_signature(
    registry: RunningRegistry, repository: str, subject_digest: str, seed: int
) -> bytes:
    """A cosign-style signature manifest under ``sha256-<hex>.sig``."""
    payload = json.dumps(
        {"critical": {"image": {"docker-manifest-digest": subject_digest}, "type": "cosign"}}
    ).encode()
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(payload)]},
            "seed": seed,
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, OCI_CONFIG),
        "layers": [
            descriptor(
                payload,
                SIMPLESIGNING,
                annotations={"dev.cosignproject.cosign/signature": f"MEUCIQ-test-{seed}"},
            )
        ],
    }
    content = json.dumps(manifest).encode()
    tag = subject_digest.replace(":", "-") + ".sig"
    with registry.http() as http:
        push_blob(http, repository, config)
        push_blob(http, repository, payload)
        push_manifest(http, repository, tag, content, OCI_MANIFEST)
    return content


def referrers_index(*manifests: tuple[bytes, str, dict[str, str]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(m, OCI_MANIFEST, artifactType=t, annotations=a) for m, t, a in manifests
            ],
        }
    ).encode()


@dataclass
class Signed:
    image: PushedImage
    sbom: bytes
    report: bytes
    signature: bytes
    sbom_signature: bytes


def push_signed(registry: RunningRegistry, repository: str, tag: str, seed: int) -> Signed:
    image = push_image(registry, repository, tag, seed=seed)
    subject = (image.manifest, image.media_type)
    sbom_notes = {"org.opencontainers.image.created": "2026-11-01T00:00:00Z"}
    sbom = push_artifact(registry, repository, subject, SBOM_TYPE, b'{"spdx": 1}', sbom_notes)
    report = push_artifact(registry, repository, subject, REPORT_TYPE, b'{"cves": []}', {})
    signature = push_cosign_signature(registry, repository, image.digest, seed)
    sbom_signature = push_cosign_signature(registry, repository, sha256(sbom), seed + 1)
    return Signed(image, sbom, report, signature, sbom_signature)


def push_fallback_index(registry: RunningRegistry, repository: str, signed: Signed) -> None:
    index = referrers_index(
        (signed.sbom, SBOM_TYPE, {"org.opencontainers.image.created": "2026-11-01T00:00:00Z"}),
        (signed.report, REPORT_TYPE, {}),
    )
    with registry.http() as http:
        tag = signed.image.digest.replace(":", "-")
        push_manifest(http, repository, tag, index, OCI_INDEX)


class ReferrersTestServer:
    """A test server: answers the referrers API itself, forwards the rest to a registry."""

    def __init__(self, backend: str) -> None:
        self.answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                match = re.fullmatch(r"/v2/(.+)/referrers/(sha256:[0-9a-f]{64})", self.path)
                if match and self.command == "GET":
                    outer.asked.append(match.group(2))
                    status, headers, body = outer.answers.get(
                        match.group(2), (200, {"Content-Type": OCI_INDEX}, referrers_index())
                    )
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else None
                forwarded = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length"}
                }
                answer = httpx.request(
                    self.command,
                    backend + self.path,
                    headers=forwarded,
                    content=content,
                    timeout=20,
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                data = b"" if self.command == "HEAD" else answer.content
                self.send_header(
                    "Content-Length", answer.headers.get("Content-Length", str(len(data)))
                )
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Setup:
    source: RunningRegistry
    target: RunningRegistry
    api: ReferrersTestServer
    clients: dict[str, RegistryClient]
    replicator: RegistryReplicator


@pytest.fixture
def setup(registry_factory: RegistryFactory, tmp_path: Path) -> Iterator[Setup]:
    source = registry_factory.start(name="local")
    target = registry_factory.start(name="target")
    api = ReferrersTestServer(source.url)
    (tmp_path / "policies.yaml").write_text(POLICIES)
    bundle = BundleBuilder(generate_tests=False).build(
        load_policy_documents([tmp_path / "policies.yaml"])
    )
    via_api = RegistryClient(RegistryConfig(name="viaapi", url=api.url), credentials=None)
    clients = {"local": source.client(), "target": target.client(), "viaapi": via_api}
    engine = FailoverEngine(EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision))
    replicator = RegistryReplicator(
        engine, RegistryMetadataSource(clients), clients, DecisionExecutor(clients)
    )
    yield Setup(source, target, api, clients, replicator)
    via_api.close()
    api.close()
    source.stop()
    target.stop()


def _run(setup: Setup, reference: str) -> ImageOutcome:
    [outcome] = setup.replicator.replicate(ImageReference.parse(reference)).outcomes
    return outcome


def test_fallback_tag_and_cosign_referrers_travel_and_a_blocked_one_does_not(setup: Setup) -> None:
    signed = push_signed(setup.source, "team/signed", "v1", seed=11)
    push_fallback_index(setup.source, "team/signed", signed)
    # a signature of the blocked report: its subject stays home, so it does too
    report_signature = push_cosign_signature(setup.source, "team/signed", sha256(signed.report), 99)
    outcome = _run(setup, "local/team/signed:v1")
    target = setup.clients["target"]
    repo = "mirror/team/signed"
    assert target.get_manifest(repo, "v1").digest == signed.image.digest
    # the SBOM by digest, the signatures under their cosign tags: bytes and digests unchanged
    assert target.get_manifest(repo, sha256(signed.sbom)).content == signed.sbom
    subject_tag = signed.image.digest.replace(":", "-")
    sbom_tag = sha256(signed.sbom).replace(":", "-")
    assert target.get_manifest(repo, subject_tag + ".sig").content == signed.signature
    assert target.get_manifest(repo, sbom_tag + ".sig").content == signed.sbom_signature
    # the blocked report is not at the target, and not listed in its fallback index
    assert target.head_manifest(repo, sha256(signed.report)) is None
    assert target.head_manifest(repo, sha256(report_signature)) is None
    fallback = target.get_manifest(repo, subject_tag)
    assert (
        fallback.content
        == json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    descriptor(
                        signed.sbom,
                        OCI_MANIFEST,
                        artifactType=SBOM_TYPE,
                        annotations={"org.opencontainers.image.created": "2026-11-01T00:00:00Z"},
                    )
                ],
            },
            separators=(",", ":"),
        ).encode()
    )
    assert outcome.status == "replicated"
    assert [
        {k: v for k, v in copy.items() if k not in ("seconds", "bytes_copied")}
        for copy in outcome.view()["copies"]
    ] == [
        {
            "target": "target/mirror/team/signed:v1",
            "registry": "target",
            "status": "replicated",
            "source_digest": signed.image.digest,
            "target_digest": signed.image.digest,
            "referrers_copied": [
                sha256(signed.sbom),
                sha256(signed.signature),
                sha256(signed.sbom_signature),
            ],
            "referrers_present": [],
            "referrers_blocked": [f"{sha256(signed.report)}: internal reports stay home"],
        }
    ]
    # a second run: everything is there (skipped); the fallback index is not rewritten
    again = _run(setup, "local/team/signed:v1")
    assert again.status == "skipped"
    assert again.copies[0].referrers_copied == ()
    assert again.copies[0].referrers_present == outcome.copies[0].referrers_copied
    assert target.get_manifest(repo, subject_tag).digest == fallback.digest


def test_without_with_referrers_nothing_but_the_image_travels(setup: Setup) -> None:
    signed = push_signed(setup.source, "team/signed", "bare-1", seed=21)
    push_fallback_index(setup.source, "team/signed", signed)
    outcome = _run(setup, "local/team/signed:bare-1")
    target = setup.clients["target"]
    assert outcome.status == "replicated"
    assert target.get_manifest("bare/team/signed", "bare-1").digest == signed.image.digest
    assert target.head_manifest("bare/team/signed", sha256(signed.sbom)) is None
    assert list(target.tags("bare/team/signed")) == ["bare-1"]


def test_referrers_api_of_the_test_server_is_used(setup: Setup) -> None:
    signed = push_signed(setup.source, "team/api", "v2", seed=31)  # no fallback tag at all
    setup.api.answers[signed.image.digest] = (
        200,
        {"Content-Type": OCI_INDEX},
        referrers_index((signed.sbom, SBOM_TYPE, {}), (signed.report, REPORT_TYPE, {})),
    )
    outcome = _run(setup, "viaapi/team/api:v2")
    target = setup.clients["target"]
    assert signed.image.digest in setup.api.asked
    assert target.get_manifest("mirror/team/api", sha256(signed.sbom)).content == signed.sbom
    assert target.head_manifest("mirror/team/api", sha256(signed.report)) is None
    assert outcome.copies[0].referrers_copied == (
        sha256(signed.sbom),
        sha256(signed.signature),
        sha256(signed.sbom_signature),
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            (200, {"Content-Type": "application/json"}, b"{}"),
            "answered 'application/json', not an OCI index",
        ),
        (
            (200, {"Content-Type": OCI_INDEX}, b"[" * 10),
            "is not JSON",
        ),
        (
            (
                200,
                {"Content-Type": OCI_INDEX},
                json.dumps(
                    {
                        "manifests": [
                            {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 10}
                        ]
                        * 65
                    }
                ).encode(),
            ),
            "more than 64 referrers; refused",
        ),
        (
            (
                200,
                {"Content-Type": OCI_INDEX, "Link": '<http://127.0.0.2:1/v2/x>; rel="next"'},
                referrers_index(),
            ),
            "not the registry's origin",
        ),
    ],
)
def test_hostile_referrers_answers_are_refused(
    setup: Setup, answer: tuple[int, dict[str, str], bytes], error: str
) -> None:
    signed = push_signed(setup.source, "team/hostile", "v3", seed=41)
    setup.api.answers[signed.image.digest] = answer
    outcome = _run(setup, "viaapi/team/hostile:v3")
    target = setup.clients["target"]
    assert outcome.status == "failed"
    assert error in outcome.error
    assert outcome.error.startswith(
        f"target/mirror/team/hostile:v3: image copied as {signed.image.digest}; referrers: "
    )
    # the image is there; nothing the hostile answer listed was copied
    assert target.get_manifest("mirror/team/hostile", "v3").digest == signed.image.digest
    assert target.head_manifest("mirror/team/hostile", sha256(signed.sbom)) is None


def test_a_listed_manifest_that_does_not_name_the_subject_is_refused(setup: Setup) -> None:
    signed = push_signed(setup.source, "team/liar", "v4", seed=51)
    other = push_image(setup.source, "team/liar", "unrelated", seed=52)
    setup.api.answers[signed.image.digest] = (
        200,
        {"Content-Type": OCI_INDEX},
        referrers_index((other.manifest, "application/x", {})),
    )
    outcome = _run(setup, "viaapi/team/liar:v4")
    assert outcome.status == "failed"
    assert f"{other.digest} does not name {signed.image.digest} as its subject; refused" in (
        outcome.error
    )
    assert setup.clients["target"].head_manifest("mirror/team/liar", other.digest) is None


def test_with_a_new_index_the_kept_platforms_referrers_travel_not_the_index_ones(
    setup: Setup,
) -> None:
    pushed = push_three_platforms(setup.source, "team/multi", "sub-1", seed=81)
    amd64, s390x = pushed.entry(0)["digest"], pushed.entry(2)["digest"]
    on_index = push_cosign_signature(setup.source, "team/multi", pushed.digest, 82)
    on_amd64 = push_cosign_signature(setup.source, "team/multi", amd64, 83)
    on_s390x = push_cosign_signature(setup.source, "team/multi", s390x, 84)
    outcome = _run(setup, "local/team/multi:sub-1")
    target = setup.clients["target"]
    assert outcome.status == "replicated"
    assert outcome.copies[0].referrers_copied == (sha256(on_amd64),)
    assert outcome.copies[0].platforms_left_out == ("linux/s390x",)
    assert target.get_manifest("sub/team/multi", amd64.replace(":", "-") + ".sig").content == (
        on_amd64
    )
    for absent in (on_index, on_s390x):
        assert target.head_manifest("sub/team/multi", sha256(absent)) is None


def test_listing_the_referrers_of_an_unsigned_image_costs_five_requests(setup: Setup) -> None:
    """docker-registry: GET referrers (404), HEAD sha256-<hex> (404), HEAD .sig/.att/.sbom."""
    image = push_image(setup.source, "team/plain", "v1", seed=91)
    client = setup.source.client()
    listing = find_referrers(client, "team/plain", [image.digest])
    assert (listing.referrers, listing.errors, client.requests) == ([], [], 5)


def test_a_sweep_never_takes_referrer_tags_for_images(setup: Setup) -> None:
    """The fallback tag and cosign tags are not enumerated: a repository-wide policy would
    otherwise copy the fallback index (and the blocked report in it) as an image."""
    signed = push_signed(setup.source, "team/swept", "v1", seed=95)
    push_fallback_index(setup.source, "team/swept", signed)
    tags = sorted(setup.clients["local"].tags("team/swept"))
    base = signed.image.digest.replace(":", "-")
    sbom = sha256(signed.sbom).replace(":", "-")
    assert tags == sorted(["v1", base, base + ".sig", sbom + ".sig"])
    assert list(setup.replicator.tags(ImageReference.parse("local/team/swept"))) == [
        ("team/swept", "v1")
    ]
    [outcome] = setup.replicator.replicate(ImageReference.parse("local/team/swept")).outcomes
    assert (outcome.image.tag, outcome.status) == ("v1", "replicated")
    assert setup.clients["target"].head_manifest("mirror/team/swept", sha256(signed.report)) is None


class FailsOnReferrers:
    """The embedded engine, except that it fails (EngineError) on the batch of referrers
    (images without a platform): the FailoverEngine around it then fails closed."""

    def __init__(self, inner: EmbeddedEngine) -> None:
        self.inner = inner
        self.revision = inner.revision

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        if any(not image.architecture for image in images):
            raise EngineError("the engine is down for referrers")
        return self.inner.decide_many(images, now=now)

    def close(self) -> None:
        pass


def test_a_referrer_no_engine_could_decide_is_not_copied_and_fails_the_action(
    setup: Setup, tmp_path: Path
) -> None:
    signed = push_signed(setup.source, "team/undecided", "v1", seed=97)
    (tmp_path / "p.yaml").write_text(POLICIES)
    bundle = BundleBuilder(generate_tests=False).build(load_policy_documents([tmp_path / "p.yaml"]))
    engine = FailoverEngine(
        FailsOnReferrers(EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision))
    )
    replicator = RegistryReplicator(
        engine,
        RegistryMetadataSource(setup.clients),
        setup.clients,
        DecisionExecutor(setup.clients),
    )
    summary = replicator.replicate(ImageReference.parse("local/team/undecided:v1"))
    [outcome] = summary.outcomes
    target = setup.clients["target"]
    assert target.get_manifest("mirror/team/undecided", "v1").digest == signed.image.digest
    assert target.head_manifest("mirror/team/undecided", sha256(signed.signature)) is None
    assert (outcome.status, summary.exit_code) == ("failed", 7)
    assert (
        f"referrer {sha256(signed.signature)} not decided: blocked: decision engine failed "
        "(failure_mode fail-closed): the engine is down for referrers" in outcome.error
    )
