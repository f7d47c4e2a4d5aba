"""freightliner-migrate convert / verify / report, through the real console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.images import push_image
from tests.fixtures.registry import RunningRegistry

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "legacy"
SCRIPT = Path(sys.executable).parent / "freightliner-migrate"
TREE = ["--tree-source", "docker-hub/library", "--tree-dest", "ecr/mirror"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, check=False)


def _examples(tmp_path: Path) -> list[str]:
    for name in ("rules.yaml", "sync.yaml", "config.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return [str(tmp_path / n) for n in ("rules.yaml", "sync.yaml", "config.yaml")]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_convert_is_byte_identical_and_loadable(tmp_path: Path) -> None:
    files = _examples(tmp_path)
    first = _run("convert", *files, *TREE, "-o", str(tmp_path / "a"))
    second = _run("convert", *files, *TREE, "-o", str(tmp_path / "b"))
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert sorted(_tree(tmp_path / "a")) == [
        ".freightliner-output",  # marks the directory as ours (safe to replace)
        "bundle.tar.gz",
        "policies/01-rules.yaml",
        "policies/02-sync.yaml",
        "policies/03-config.yaml",
        "report.md",
    ]
    text = (tmp_path / "a" / "policies" / "01-rules.yaml").read_text()
    assert (
        "  # "
        + str(tmp_path / "rules.yaml")
        + ':5 (replication.rules[0]): "docker-hub"/"library/*"'
        in text
    )
    # GetDestinationRepository's substitution runs in the bundle (freightliner.legacy)
    assert 'legacy_destination: {source: "library/*", destination: "mirror/*"}' in text
    assert first.stdout.startswith("6 policies from 3 file(s) -> ")
    # Converting again over an existing directory replaces it whole.
    again = _run("convert", *files, *TREE, "-o", str(tmp_path / "a"))
    assert again.returncode == 0
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failed_convert_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - {source_registry: h, source_repository: 'a[*', destination_registry: e,"
        " destination_repository: b}\n  - {source_registry: h, source_repository: a,"
        " destination_registry: e, destination_repository: b, schedule: '61 * * * *'}\n"
    )
    proc = _run("convert", str(bad), "-o", str(tmp_path / "out"))
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        f"error: {bad}:3: rules[1]: schedule: schedule '61 * * * *': minute field: 61 is outside 0-59",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_bad_inputs_one_line_each(tmp_path: Path) -> None:
    yaml_error = tmp_path / "broken.yaml"
    yaml_error.write_text("rules: [\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "rules:\n  - {source_registry: h, source_repository: a, destination_registry: e,"
        " destination_repository: b, colour: red}\n"
    )
    proc = _run("report", str(yaml_error), str(tmp_path / "nope.yaml"), str(unknown))
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        f"error: {yaml_error}:2: invalid YAML: did not find expected node content",
        f"error: {tmp_path / 'nope.yaml'}: cannot read file: No such file or directory",
    ]
    proc = _run("report", str(unknown))
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [
        f"warning: {unknown}:2: rules[0]: unknown key 'colour' ignored"
    ]
    assert f"* {unknown}:2: rules[0]: unknown key 'colour' ignored" in proc.stdout


def test_report_lists_attention_items(tmp_path: Path) -> None:
    proc = _run("report", *_examples(tmp_path))
    # the tree filters have no source/destination here: not translated, exit 4 (issue 17)
    assert proc.returncode == 4
    assert proc.stderr == 'error: 1 legacy rule(s) not translated (see "Not translated")\n'
    out = proc.stdout
    assert "* policies generated: 5" in out
    assert "treeReplicate filters need a source and destination" in out
    assert "first 5 selected tags (registry order): carried as parameters.limit" in out
    assert "MaxConcurrentReplications=4 is a worker setting" in out


def test_verify_with_inventory_and_both_engines(tmp_path: Path, opa_bin: str) -> None:
    files = _examples(tmp_path)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "docker-hub": {
                    "library/nginx": ["1.25", "1.26", "latest"],
                    "library/old-app": ["v1"],
                    "team/app": ["x"],
                }
            }
        )
    )
    proc = _run("verify", *files, *TREE, "--inventory", str(inventory), "--samples", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("checked ") and "(5 from the inventory" in last
    assert last.endswith("with embedded, opa: 0 mismatches")


def test_verify_fails_on_a_foreign_bundle(tmp_path: Path) -> None:
    files = _examples(tmp_path)
    assert _run("convert", *files, *TREE, "-o", str(tmp_path / "out")).returncode == 0
    proc = _run(
        "verify",
        files[0],
        "--bundle",
        str(tmp_path / "out" / "bundle.tar.gz"),
        "--engine",
        "embedded",
    )
    assert proc.returncode == 4
    assert proc.stdout.splitlines()[0].startswith("MISMATCH [embedded] docker-hub/library/")
    assert (
        proc.stdout.splitlines()[-1].endswith("mismatches")
        and "with embedded: 0" not in proc.stdout
    )


@pytest.mark.parametrize("command", ["convert", "verify", "report"])
def test_help(command: str) -> None:
    proc = _run(command, "--help")
    assert proc.returncode == 0
    assert "LEGACY_FILES..." in proc.stdout


def test_verify_reads_a_live_inventory_through_the_registry_client(
    tmp_path: Path, fresh_registry: RunningRegistry
) -> None:
    """``--registry NAME=URL`` without ``--inventory``: the tags come from a real registry,
    read by the adapter's RegistryClient (migrate has no HTTP client of its own)."""
    for repository, tag in [
        ("library/nginx", "1.25"),
        ("library/nginx", "latest"),
        ("team/app", "x"),
    ]:
        push_image(fresh_registry, repository, tag)
    rules = tmp_path / "rules.yaml"
    shutil.copy(EXAMPLES / "rules.yaml", rules)
    proc = _run(
        "verify",
        str(rules),
        "--registry",
        f"docker-hub={fresh_registry.url}",
        "--samples",
        "5",
        "--engine",
        "embedded",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert "(3 from the inventory" in last, last
    assert last.endswith("with embedded: 0 mismatches")


def test_convert_and_verify_report_progress_with_the_shared_facility(tmp_path: Path) -> None:
    files = _examples(tmp_path)
    convert = _run("convert", *files, *TREE, "-o", str(tmp_path / "out"), "--progress")
    assert convert.returncode == 0, convert.stderr
    steps = [
        line.removeprefix("progress: convert: ").rsplit(" (", 1)[0]
        for line in convert.stderr.splitlines()
        if line.startswith("progress: ")
    ]
    assert steps == [
        "reading legacy rules",
        "converting 3 rules",
        "writing 6 policies and the bundle",
        "done",
    ]
    verify = _run("verify", *files, *TREE, "--engine", "embedded", "--progress", "-q")
    assert verify.returncode == 0, verify.stderr
    assert not any(line.startswith("progress: ") for line in verify.stderr.splitlines())
    verify = _run(
        "verify", *files, *TREE, "--engine", "embedded", "--progress", "--log-format", "json"
    )
    assert verify.returncode == 0, verify.stderr
    messages = [
        json.loads(line)["message"] for line in verify.stderr.splitlines() if line.startswith("{")
    ]
    assert [m.rsplit(" (", 1)[0] for m in messages][:4] == [
        "verify: reading legacy rules",
        "verify: converting 3 rules",
        "verify: reading the inventory",
        "verify: building the bundle",
    ]
    assert messages[-1].startswith("verify: done (")


def _signed_bundle(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """The examples converted, their bundle signed (ES256, key id k1): files, bundle, key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from migrate.bundle.builder import read_bundle
    from migrate.bundle.signing import SigningConfig, sign_bundle
    from tests.fixtures.keys import write_pem_pair

    files = _examples(tmp_path)
    assert _run("convert", *files, *TREE, "-o", str(tmp_path / "out")).returncode == 0
    private, public = write_pem_pair(
        ec.generate_private_key(ec.SECP256R1()), tmp_path / "k.pem", tmp_path / "k.pub.pem"
    )
    signed = tmp_path / "signed.tar.gz"
    bundle = read_bundle(tmp_path / "out" / "bundle.tar.gz")
    sign_bundle(bundle, SigningConfig.from_file(private, "ES256", "k1")).write_tarball(signed)
    return files, signed, public


def test_verify_checks_a_bundles_signature(tmp_path: Path) -> None:
    files, signed, public = _signed_bundle(tmp_path)
    key = ["--verification-key", str(public), "--signing-alg", "ES256"]
    proc = _run(
        "verify", *files, *TREE, "--bundle", str(signed), "--engine", "embedded",
        *key, "--verification-key-id", "k1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("with embedded: 0 mismatches")

    # another key: refused before any image is decided, in one line
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.fixtures.keys import write_pem_pair

    _, other = write_pem_pair(
        ec.generate_private_key(ec.SECP256R1()), tmp_path / "o.pem", tmp_path / "o.pub.pem"
    )
    proc = _run(
        "verify", *files, *TREE, "--bundle", str(signed), "--engine", "embedded",
        "--verification-key", str(other), "--signing-alg", "ES256", "--verification-key-id", "k1",
    )  # fmt: skip
    assert proc.returncode == 3
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"error: {signed}: bundle signature verification failed")


def test_verify_refuses_a_verification_key_without_a_bundle(tmp_path: Path) -> None:
    files = _examples(tmp_path)
    key = tmp_path / "k.pub.pem"
    key.write_text("not used")
    proc = _run("verify", *files, *TREE, "--verification-key", str(key))
    assert proc.returncode == 2
    assert "--verification-key checks a built bundle: give --bundle" in proc.stderr
