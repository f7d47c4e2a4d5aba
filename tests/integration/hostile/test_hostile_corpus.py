"""Hostile and broken inputs: each gives one clear error and a documented exit code.

Every case is generated here (nothing large is checked in) and runs the real
command in a subprocess under a memory cap (RLIMIT_AS), so a blow-up fails the
test instead of the machine. Reproduced on main before the fix: deep '[' ->
SIGSEGV (exit 139); alias bomb -> MemoryError; '--now yesterday' -> exit 1
with a Rust backtrace; an edited data.json -> accepted.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MEMORY_CAP = 3 * 1024**3  # bytes of address space per command
EXAMPLES = ROOT / "examples"


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(cwd: Path, *argv: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_cap,
        env=env,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _policy(condition: str) -> str:
    return (
        "policies:\n  - id: p\n    conditions:\n"
        f"      - {condition}\n"
        "    actions:\n      - {type: block}\n"
    )


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return (
        "\n".join(lines)
        + "\npolicies:\n  - id: p\n    conditions:\n"
        + "      - {type: tag, operator: in, value: *a9}\n"
    )


def _nested_groups(depth: int) -> str:
    inner = "{type: tag, operator: equals, value: a}"
    for _ in range(depth):
        inner = "{not: " + inner + "}"
    return _policy(inner)


Case = tuple[str, Callable[[Path], list[str]], int, list[str]]

POLICY_CASES: list[tuple[str, str, str]] = [
    # (id, file text, expected stderr line after "error: p.yaml")
    (
        "oversized-file",
        "# " + "x" * (16 * 1024 * 1024),
        ": file is 16777218 bytes; the limit is 16777216 bytes (input limits)",
    ),
    ("deep-brackets", "[" * 40_000, ":1: YAML nests more than 64 levels deep (input limits)"),
    (
        "alias-bomb",
        _alias_bomb(),
        ":6: YAML expands to more than 1000000 nodes (aliases count what they repeat; "
        "input limits)",
    ),
    (
        "1000-nested-groups",
        _nested_groups(1000),
        ":4: YAML nests more than 64 levels deep (input limits)",
    ),
    (
        "9-nested-groups",
        _nested_groups(9),
        ":3: policy 'p': conditions: conditions nest 10 levels deep; at most 8",
    ),
    (
        "regex-backslash-C",
        _policy(r"{type: tag, operator: matches, value: '\C'}"),
        ":4: policy 'p': conditions[0].value: invalid RE2 pattern '\\\\C': refused by Go's "
        "regexp (OPA): invalid escape sequence \\C (Go does not support it)",
    ),
    (
        "regex-too-big-for-regorus",
        _policy("{type: tag, operator: matches, value: '^.{129,}$'}"),
        ":4: policy 'p': conditions[0].value: invalid RE2 pattern '^.{129,}$': refused by "
        "Rust's regex (embedded engine, regorus): compiled regex exceeded size limit "
        "(102400 bytes)",
    ),
    (
        "size-10e41",
        _policy("{type: metadata, key: size, operator: gt, value: " + str(10**41) + "}"),
        ":4: policy 'p': conditions[0].value: size is " + str(10**41) + " bytes; at most "
        "9223372036854775807 (the largest both decision engines compare exactly)",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in POLICY_CASES], ids=[c[0] for c in POLICY_CASES]
)
def test_hostile_policy_file_is_one_error(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    for argv in (("policy", "validate", "p.yaml"), ("policy", "build", "p.yaml", "-o", "out")):
        code, out, err = run(tmp_path, "freightliner-policy", *argv)
        assert (code, out) == (3, ""), err[-2000:]
        assert err.splitlines() == [f"error: p.yaml{expected}"]
    assert not (tmp_path / "out").exists()


def test_deep_legacy_files_are_one_error(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("replication_rules: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "rules.json").write_text(
        '{"replication_rules": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    for name in ("rules.yaml", "rules.json"):
        code, out, err = run(tmp_path, "freightliner-migrate", "report", name)
        assert (code, out) == (3, "")
        assert err.splitlines() == [
            f"error: {name}:1: YAML nests more than 64 levels deep (input limits)"
        ]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    code, _, err = run(
        tmp_path,
        "freightliner-policy",
        "policy",
        "build",
        str(EXAMPLES / "policies"),
        "-o",
        "b.tar.gz",
    )
    assert code == 0, err
    return tmp_path / "b.tar.gz"


def _rewrite(path: Path, change: Callable[[dict[str, bytes]], None]) -> None:
    with tarfile.open(path, "r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    change(files)
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path.write_bytes(raw.getvalue())


IMAGE = str(EXAMPLES / "images" / "prod-unscanned.json")


def test_tampered_bundle_is_refused_everywhere_it_is_read(bundle: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        tmp_path, "freightliner-policy", "policy", "eval", str(bundle), "--image", IMAGE
    )
    assert (code, out.splitlines()[0]) == (5, "outcome: block")

    def unblock(files: dict[str, bytes]) -> None:
        files["/data.json"] = files["/data.json"].replace(b'"block"', b'"notify"')

    _rewrite(bundle, unblock)
    expected = (
        f"error: {bundle}: data.json differs: the content does not match the manifest's revision"
    )
    for argv in (
        ("freightliner-policy", "policy", "eval", str(bundle), "--image", IMAGE),
        ("freightliner-policy", "policy", "test", str(bundle), "--runner", "embedded"),
        (
            "freightliner-policy",
            "evaluate",
            "local/a:b",
            "--config",
            str(EXAMPLES / "config.yaml"),
            "--policies",
            str(bundle),
        ),
    ):
        code, out, err = run(tmp_path, *argv)
        assert code == 3, (argv, err[-1000:])
        assert err.splitlines()[0].startswith(expected), err


def test_truncated_and_bomb_bundles_are_one_line(bundle: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    code, _, err = run(
        tmp_path, "freightliner-policy", "policy", "eval", str(truncated), "--image", IMAGE
    )
    assert code == 3
    assert err.splitlines() == [
        f"error: {truncated}: not a readable bundle (truncated: unexpected end of data)"
    ]
    # A member that claims 300 MiB of zeros (refused from its header, never inflated).
    bomb = tmp_path / "bomb.tar.gz"
    header = tarfile.TarInfo("data.json")
    header.size = 300 * 1024 * 1024
    with gzip.open(bomb, "wb") as gz:
        gz.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        chunk = b"\0" * (1024 * 1024)
        for _ in range(8):
            gz.write(chunk)
    code, _, err = run(
        tmp_path, "freightliner-policy", "policy", "eval", str(bomb), "--image", IMAGE
    )
    assert code == 3
    assert err.splitlines() == [
        f"error: {bomb}: data.json inflates to 314572800 bytes; the limit is 268435456 "
        "(input limits)"
    ]


def test_bad_now_is_a_usage_error_and_engine_errors_are_one_line(
    bundle: Path, tmp_path: Path
) -> None:
    code, out, err = run(
        tmp_path,
        "freightliner-policy",
        "policy",
        "eval",
        str(bundle),
        "--image",
        IMAGE,
        "--now",
        "yesterday",
    )
    assert (code, out) == (2, "")
    assert "Invalid value for '--now': 'yesterday' is not an RFC 3339 time" in err
    assert "backtrace" not in err.lower()
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"registry": "r", "repository": "a", "tag": "t", "size": 10**41}))
    code, out, err = run(
        tmp_path, "freightliner-policy", "policy", "eval", str(bundle), "--image", str(huge)
    )
    assert (code, err.splitlines()) == (
        3,
        [f"error: {huge}: image.size: Input should be less than or equal to 9223372036854775807"],
    )
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    code, out, err = run(
        tmp_path, "freightliner-policy", "policy", "eval", str(bundle), "--image", str(deep)
    )
    assert (code, err.splitlines()) == (
        3,
        [f"error: {deep}:1: JSON nests more than 64 levels deep (input limits)"],
    )


def _convert_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - source_registry: a\n    source_repository: x/*\n"
        "    destination_registry: b\n    destination_repository: y/\n    tag_filter: 'v*'\n"
    )
    return rules


def test_output_never_destroys(tmp_path: Path) -> None:
    policies = tmp_path / "mypolicies"
    shutil.copytree(EXAMPLES / "policies", policies)
    before = sorted(p.name for p in policies.iterdir())
    # The output contains an input: refused, even with --force.
    for argv in (("-o", "mypolicies"), ("-o", "."), ("-o", ".", "--force")):
        code, _, err = run(tmp_path, "freightliner-policy", "policy", "build", "mypolicies", *argv)
        assert code == 3, err
        assert "the output would replace the input mypolicies" in err
    assert sorted(p.name for p in policies.iterdir()) == before
    # A foreign non-empty directory: refused unless --force.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    code, _, err = run(
        tmp_path, "freightliner-policy", "policy", "build", "mypolicies", "-o", "foreign"
    )
    assert (code, err.splitlines()) == (
        3,
        [
            "error: foreign: directory is not empty and was not written by this tool "
            "(no .freightliner-output); choose an empty directory or pass --force to replace it"
        ],
    )
    assert (foreign / "notes.txt").read_text() == "mine"
    # Its own output is rebuilt in place; leftovers of an interrupted run are removed.
    assert (
        run(tmp_path, "freightliner-policy", "policy", "build", "mypolicies", "-o", "out")[0] == 0
    )
    leftover = tmp_path / ".out.tmp-99999999-abc"
    leftover.mkdir()
    (tmp_path / ".out.tmp-legacy").mkdir()
    assert (
        run(tmp_path, "freightliner-policy", "policy", "build", "mypolicies", "-o", "out")[0] == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    code, _, _ = run(
        tmp_path, "freightliner-policy", "policy", "build", "mypolicies", "-o", "foreign", "--force"
    )
    assert code == 0 and not (foreign / "notes.txt").exists()

    rules = _convert_rules(tmp_path)
    for argv in (("-o", "."), ("-o", "."), ("-o", str(tmp_path), "--force")):
        code, _, err = run(tmp_path, "freightliner-migrate", "convert", str(rules), *argv)
        assert code == 3 and "the output would replace the input" in err, err
    assert rules.exists()
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("keep")
    code, _, err = run(tmp_path, "freightliner-migrate", "convert", "rules.yaml", "-o", "existing")
    assert code == 3 and "existing: directory is not empty" in err
    assert (tmp_path / "existing" / "keep.txt").read_text() == "keep"
    assert run(tmp_path, "freightliner-migrate", "convert", "rules.yaml", "-o", "conv")[0] == 0
    assert run(tmp_path, "freightliner-migrate", "convert", "rules.yaml", "-o", "conv")[0] == 0
    assert (tmp_path / "conv" / ".freightliner-output").is_file()


def test_migrate_verify_refuses_a_tampered_bundle(tmp_path: Path) -> None:
    rules = _convert_rules(tmp_path)
    assert run(tmp_path, "freightliner-migrate", "convert", "rules.yaml", "-o", "conv")[0] == 0
    bundle = tmp_path / "conv" / "bundle.tar.gz"

    def edit(files: dict[str, bytes]) -> None:
        name = next(n for n in files if n.endswith("decision.rego"))
        files[name] += b"\n# edited\n"

    _rewrite(bundle, edit)
    code, _, err = run(
        tmp_path, "freightliner-migrate", "verify", str(rules), "--bundle", str(bundle)
    )
    assert code == 3
    assert "freightliner/replication/decision.rego differs" in err.splitlines()[0]


def test_engine_failure_is_one_line_exit_8(tmp_path: Path) -> None:
    """A consistent bundle (hashes match) whose regex regorus cannot compile: built by
    hand, as a future bug or another tool could; the engine's error is one line, exit 8."""
    from migrate.bundle.builder import Bundle as BundleFiles
    from migrate.bundle.builder import BundleBuilder, _digests, _json_bytes, _revision
    from migrate.policy.loader import parse_policy_text

    text = _policy("{type: tag, operator: matches, value: '^v[0-9]'}")
    built = BundleBuilder(generate_tests=False).build(parse_policy_text(text, "p.yaml"))
    data = built.data()
    policy = data["freightliner"]["policy_set"]["policies"]["p"]
    for leaf in [*policy["leaves"], *policy["alternatives"][0]]:  # the leaves reordered
        leaf["arg"] = "^.{129,}$"
    files = {p: c for p, c in built.files.items() if p != ".manifest"}
    files["data.json"] = _json_bytes(data)
    manifest = json.loads(built.files[".manifest"])
    manifest["revision"] = _revision(files)
    manifest["metadata"]["files"] = _digests(files)
    files[".manifest"] = _json_bytes(manifest)
    BundleFiles(files, manifest["revision"]).write_tarball(tmp_path / "b.tar.gz")
    image = tmp_path / "i.json"
    image.write_text(json.dumps({"registry": "r", "repository": "a", "tag": "v1"}))
    code, out, err = run(
        tmp_path, "freightliner-policy", "policy", "eval", "b.tar.gz", "--image", str(image)
    )
    assert (code, out) == (8, "")
    assert err.splitlines() == [
        "error: evaluation of data.freightliner.replication.decision failed: "
        "compiled regex exceeded size limit (102400 bytes)"
    ]


def test_embedded_fallback_refuses_a_tampered_bundle(bundle: Path) -> None:
    """The adapter's embedded engine (opa.bundle in the config) reads through read_bundle."""
    from migrate.core.errors import BundleError
    from migrate.engine.embedded import EmbeddedEngine

    assert EmbeddedEngine.from_bundle(bundle).revision

    def add_module(files: dict[str, bytes]) -> None:
        files["/freightliner/evil/evil.rego"] = b"package freightliner.evil\n\nx := 1\n"

    _rewrite(bundle, add_module)
    with pytest.raises(BundleError) as info:
        EmbeddedEngine.from_bundle(bundle)
    assert str(info.value).startswith(
        f"{bundle}: freightliner/evil/evil.rego was added: the content does not match"
    )


def test_legacy_regex_is_checked_against_both_engines(tmp_path: Path) -> None:
    sync = tmp_path / "sync.json"
    sync.write_text(
        json.dumps(
            {
                "source": {"registry": "a"},
                "destination": {"registry": "b"},
                "images": [{"repository": "x", "tag_regex": "\\C"}],
            }
        )
    )
    # Go's regexp.Compile refuses it: legacy skips the image (issue 12: a disabled policy
    # and a warning); the pattern never reaches the bundle. --strict refuses the file.
    code, out, err = run(tmp_path, "freightliner-migrate", "convert", "sync.json", "-o", "out")
    assert code == 0, err
    assert err.splitlines() == [
        "warning: sync.json:1: images[0]: tag_regex '\\\\C' does not parse: legacy skips "
        "this image (never replicated)"
    ]
    policy = (tmp_path / "out" / "policies" / "01-sync.yaml").read_text()
    assert "enabled: false" in policy
    assert "matches" not in policy
    code, out, err = run(
        tmp_path, "freightliner-migrate", "convert", "sync.json", "-o", "strict", "--strict"
    )
    assert (code, out) == (3, "")
    assert err.splitlines()[-1].endswith("(never replicated) (--strict)")
    assert not (tmp_path / "strict").exists()
