"""Bundle signatures in OPA's format, checked both ways against the reference ``opa``.

* bundles signed by the project (``policy build --signing-key``) load under
  ``opa run --verification-key`` with the same key (RS256, ES256, HS256);
* bundles signed by ``opa sign`` verify under the project's verifier;
* every refusal (digest mismatch, extra file, missing file, wrong key, wrong
  scope, unsigned) has exactly the reason ``opa`` gives for the same bundle.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from migrate.bundle.builder import BundleBuilder, read_bundle
from migrate.bundle.signing import (
    SIGNATURES_FILE,
    SignatureError,
    SigningConfig,
    VerificationConfig,
    file_hash,
    sign_bundle,
    verify_files,
)
from migrate.policy.loader import parse_policy_text
from tests.fixtures.keys import write_pem_pair

pytestmark = pytest.mark.opa

POLICY = """\
policies:
  - id: mirror-release
    priority: 10
    conditions:
      - {type: tag, operator: matches, value: "^v[0-9]+"}
    actions:
      - {type: replicate, target_registry: dst, target_repo: "mirror/{repository}"}
"""
ALGORITHMS = ["RS256", "ES256", "HS256"]


def _keys(tmp: Path, algorithm: str) -> tuple[Path, Path]:
    """(private key / secret file, public key / secret file)."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "HS256":
        secret = tmp / "hmac.key"
        secret.write_bytes(b"an-hmac-secret-0123456789")
        return secret, secret
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    return write_pem_pair(private, tmp / f"{algorithm}.pem", tmp / f"{algorithm}.pub.pem")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from adapter.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _opa_load(opa_bin: str, bundle: Path, key: Path, algorithm: str, *extra: str) -> str:
    """Load ``bundle`` with ``opa run --server`` and the key: '' when it activates (the
    server is then stopped), else OPA's reason after 'Bundle signature verification failed: '."""
    proc = subprocess.Popen(
        [
            opa_bin,
            "run",
            "--server",
            "--addr",
            "127.0.0.1:0",
            "-b",
            str(bundle),
            "--verification-key",
            str(key),
            "--signing-alg",
            algorithm,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # a failed load exits; a good one logs the server start
        if "Initializing server" in line or "Starting server" in line or "listening" in line:
            proc.terminate()
            proc.wait(timeout=20)
            return ""
        marker = "Bundle signature verification failed: "
        if marker in line:
            proc.wait(timeout=20)
            return line.split(marker, 1)[1].strip().rstrip('"}')
    code = proc.wait(timeout=20)
    raise AssertionError(f"opa exited {code} without a verdict")


def _tarball(files: dict[str, bytes], path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo("/" + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture(scope="module")
def bundle() -> object:
    return BundleBuilder(generate_tests=False).build(parse_policy_text(POLICY, "p.yaml"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_project_signed_bundle_loads_in_reference_opa(
    opa_bin: str, tmp_path: Path, algorithm: str
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICY)
    private, public = _keys(tmp_path, algorithm)
    out = tmp_path / "bundle.tar.gz"
    built = _cli(
        "policy", "build", str(policies), "-o", str(out), "--no-tests",
        "--signing-key", str(private), "--signing-alg", algorithm,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert built.stdout.endswith(f"at most 1 candidate(s) per image, signed {algorithm})\n")
    with tarfile.open(out) as tar:
        names = sorted(m.name for m in tar.getmembers())
        signatures = json.loads(tar.extractfile("/.signatures.json").read())  # type: ignore[union-attr]
    assert "/.signatures.json" in names
    [token] = signatures["signatures"]
    header, payload = (
        json.loads(__import__("base64").urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        for p in token.split(".")[:2]
    )
    assert header == {"alg": algorithm, "typ": "JWT"}
    assert sorted(f["name"] for f in payload["files"]) == sorted(
        n.lstrip("/") for n in names if n != "/.signatures.json"
    )
    assert {f["algorithm"] for f in payload["files"]} == {"SHA-256"}
    assert _opa_load(opa_bin, out, public, algorithm) == ""
    # The project's own readers accept it with the same key.
    assert read_bundle(out, VerificationConfig.from_file(public, algorithm)).policy_ids == [
        "mirror-release"
    ]
    image = tmp_path / "image.json"
    image.write_text(json.dumps({"registry": "src", "repository": "a", "tag": "v1"}))
    ok = _cli(
        "policy", "eval", str(out), "--image", str(image), "--verification-key", str(public),
        "--signing-alg", algorithm,
    )  # fmt: skip
    assert (ok.returncode, ok.stdout.splitlines()[0]) == (0, "outcome: replicate")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_opa_signed_bundle_verifies_under_project_verifier(
    opa_bin: str, tmp_path: Path, algorithm: str
) -> None:
    private, public = _keys(tmp_path, algorithm)
    root = tmp_path / "b"
    (root / "x").mkdir(parents=True)
    # Structured files are hashed canonically: key order, spacing, Go escaping
    # (no HTML escaping, U+2028 escaped), numbers as written.
    (root / "data.json").write_text(
        '{ "z": [1.50, 1e3, -0, 12345678901234567890],\n  "a": "<&> \\u2028 \\u00e9 \\t \\u0001" }'
    )
    (root / "x" / "data.json").write_text(
        '{"k": {"b": true, "a": null}, "s": "\\ud800x \\u007f", "\\u00e9": -0.0, "t": "rc-0"}'
    )
    (root / "x" / "p.rego").write_text("package x\n\nallow := true\n")
    (root / ".manifest").write_text('{"revision": "r1", "roots": ["z", "a", "x"]}')
    signed = subprocess.run(
        [opa_bin, "sign", "-b", str(root), "--signing-key", str(private),
         "--signing-alg", algorithm, "-o", str(root)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    loaded = read_bundle(root, VerificationConfig.from_file(public, algorithm))
    assert loaded.revision == "r1"
    assert SIGNATURES_FILE not in loaded.files  # checked, then not part of the content
    on_disk = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }
    payload = verify_files(on_disk, VerificationConfig.from_file(public, algorithm))
    assert sorted(f["name"] for f in payload["files"]) == [
        ".manifest", "data.json", "x/data.json", "x/p.rego",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "canonical"),
    [
        (b'{"a": -0, "b": [1, -0.0]}', b'{"a":-0,"b":[1,-0.0]}'),
        (b'{"b": [1.50, 1e3], "a": -1}', b'{"a":-1,"b":[1.50,1e3]}'),
        (b'{"t": "rc-0", "n": 12345678901234567890}', b'{"n":12345678901234567890,"t":"rc-0"}'),
        (b'{"s": "\\u2028<&>\\u0001\\b\\u007f"}', b'{"s":"\\u2028<&>\\u0001\\b\x7f"}'),
        (b'{"k": "\\ud800x", "\\u00e9": 1, "z": 2}', b'{"k":"\\ufffdx","z":2,"\xc3\xa9":1}'),
    ],
)
def test_canonical_form(document: bytes, canonical: bytes) -> None:
    hashlib = __import__("hashlib")
    assert file_hash("data.json", document) == hashlib.sha256(canonical).hexdigest()


def test_canonical_hash_of_structured_files() -> None:
    a = file_hash("data.json", b'{"b": 1, "a": [true, null, "<&>"]}')
    assert a == file_hash("x/data.json", b'{\n  "a": [true,null,"<&>"],\n  "b": 1\n}\n')
    assert a == __import__("hashlib").sha256(b'{"a":[true,null,"<&>"],"b":1}').hexdigest()
    assert file_hash("data.json", b'{"n": 1.0}') != file_hash("data.json", b'{"n": 1}')
    assert (
        file_hash("p.rego", b"package p\n")
        == __import__("hashlib").sha256(b"package p\n").hexdigest()
    )
    assert file_hash("data.json", '{"s": "\u2028"}'.encode()) == (
        __import__("hashlib").sha256(b'{"s":"\\u2028"}').hexdigest()
    )


def _reasons(
    opa_bin: str, tmp_path: Path, files: dict[str, bytes], verification: VerificationConfig,
    public: Path, *extra: str,
) -> tuple[str, str]:  # fmt: skip
    """(the project's reason, OPA's reason) for the same bundle."""
    path = _tarball(files, tmp_path / f"case-{len(list(tmp_path.glob('case-*')))}.tar.gz")
    with pytest.raises(SignatureError) as caught:
        read_bundle(path, verification)
    assert (
        str(caught.value) == f"{path}: bundle signature verification failed: {caught.value.reason}"
    )
    return caught.value.reason, _opa_load(opa_bin, path, public, "RS256", *extra)


def test_refusals_match_opa_exactly(opa_bin: str, tmp_path: Path, bundle: object) -> None:
    private, public = _keys(tmp_path, "RS256")
    (tmp_path / "other").mkdir()
    other_private, _ = _keys(tmp_path / "other", "RS256")
    key = VerificationConfig.from_file(public)
    signed = sign_bundle(bundle, SigningConfig.from_file(private)).files
    data_hash = file_hash("data.json", signed["data.json"])

    tampered = dict(signed)
    tampered["data.json"] = signed["data.json"].replace(b'"^v[0-9]+"', b'"^.*"')
    got = file_hash("data.json", tampered["data.json"])
    ours, theirs = _reasons(opa_bin, tmp_path, tampered, key, public)
    assert ours == theirs == f"data.json: digest mismatch (want: {data_hash}, got: {got})"

    extra = {**signed, "freightliner/evil.rego": b"package freightliner.evil\n"}
    ours, theirs = _reasons(opa_bin, tmp_path, extra, key, public)
    assert ours == theirs == "file freightliner/evil.rego not included in bundle signature"

    missing = {n: c for n, c in signed.items() if n != "data.json"}
    ours, theirs = _reasons(opa_bin, tmp_path, missing, key, public)
    assert (
        ours
        == theirs
        == ("file(s) [data.json] specified in bundle signatures but not found in the target bundle")
    )

    wrong = sign_bundle(bundle, SigningConfig.from_file(other_private)).files
    ours, theirs = _reasons(opa_bin, tmp_path, wrong, key, public)
    assert (
        ours
        == theirs
        == (
            "failed to verify message: could not verify message using any of the signatures or keys"
        )
    )

    scoped = sign_bundle(bundle, SigningConfig.from_file(private, scope="prod")).files
    ours, theirs = _reasons(opa_bin, tmp_path, scoped, key, public)
    assert ours == theirs == "scope mismatch"
    read_bundle(
        _tarball(scoped, tmp_path / "scoped.tar.gz"),
        VerificationConfig.from_file(public, scope="prod"),
    )
    assert _opa_load(opa_bin, tmp_path / "scoped.tar.gz", public, "RS256", "--scope", "prod") == ""

    unsigned = {n: c for n, c in signed.items() if n != SIGNATURES_FILE}
    ours, theirs = _reasons(opa_bin, tmp_path, unsigned, key, public)
    assert ours == theirs == "bundle missing .signatures.json file"


def test_cli_refuses_a_tampered_bundle_with_one_line(tmp_path: Path, bundle: object) -> None:
    private, public = _keys(tmp_path, "ES256")
    files = dict(sign_bundle(bundle, SigningConfig.from_file(private, "ES256", "k1")).files)
    data = json.loads(files["data.json"])
    for policy in data["freightliner"]["policy_set"]["policies"].values():
        policy["priority"] += 1  # a real edit, whatever the builder's JSON formatting
    files["data.json"] = json.dumps(data).encode()
    path = _tarball(files, tmp_path / "t.tar.gz")
    image = tmp_path / "image.json"
    image.write_text(json.dumps({"registry": "src", "repository": "a", "tag": "v1"}))
    result = _cli(
        "policy", "eval", str(path), "--image", str(image), "--verification-key", str(public),
        "--signing-alg", "ES256", "--verification-key-id", "k1",
    )  # fmt: skip
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"error: {path}: bundle signature verification failed: data.json: digest mismatch (want: "
    )
    # without a key the content hash still catches it (issue 11: a changed bundle is
    # refused wherever it is read; OPA without `signing` would load it)
    unsigned = _cli("policy", "eval", str(path), "--image", str(image))
    assert unsigned.returncode == 3
    assert unsigned.stderr.splitlines() == [
        f"error: {path}: data.json differs: the content does not match the manifest's revision "
        f"{bundle.revision} (the bundle was changed after it was built; rebuild it)"  # type: ignore[attr-defined]
    ]
