"""`freightliner-policy policy ...` as users run it: real files, real bundles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli.main import cli

NOW = "2026-11-23T12:00:00Z"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def examples(repo_root: Path) -> Path:
    return repo_root / "examples"


def test_validate_ok(examples: Path) -> None:
    code, out, err = run("policy", "validate", str(examples / "policies"))
    assert (code, out) == (0, "ok: 5 policies in 2 file(s); at most 5 candidate(s) per image\n")
    # the policies every image evaluates are named, with the reason and a rewrite
    platform, seed = examples / "policies" / "platform.yaml", examples / "policies" / "seed.yaml"
    add = "add a repository, tag or label condition with equals, in, a glob or an anchored regex"
    # arm-nightlies (any: architecture in [...], tag regex) is indexed by both members
    assert err.splitlines() == [
        f"warning: {seed}:32: policy 'compliance-blocking': not indexed, every image evaluates "
        f"its first condition: conditions[0] (label not_exists) is a negation; to index it: {add}",
        f"warning: {platform}:38: policy 'edge-no-stale-images': not indexed, every image "
        f"evaluates its first condition: conditions[0] (age older_than) cannot be indexed; "
        f"to index it: {add}",
    ]


ADVERSARIAL = """
- id: scoped-by-unanchored-regex
  conditions: [{type: repository, operator: matches, value: "team-00042/"}]
  actions: [{type: block}]
- id: case-insensitive
  conditions: [{type: tag, operator: matches, value: "(?i)^cve-1-"}]
  actions: [{type: block}]
- id: no-literal
  conditions: [{type: tag, operator: matches, value: "-(dev|rc)[0-9]$"}]
  actions: [{type: block}]
"""


def test_validate_names_unindexable_regexes_with_a_rewrite(tmp_path: Path) -> None:
    source = tmp_path / "adversarial.yaml"
    source.write_text(ADVERSARIAL)
    code, out, err = run("policy", "validate", str(source))
    assert (code, out) == (0, "ok: 3 policies in 1 file(s); at most 3 candidate(s) per image\n")
    # the unanchored repository scope is indexed by its required literal: no warning
    assert err.splitlines() == [
        f"warning: {source}:5: policy 'case-insensitive': not indexed, every image evaluates its "
        "first condition: conditions[0] (tag matches): regex '(?i)^cve-1-' has no literal prefix "
        "(its flags change what a literal matches); to index it: drop the flag group and anchor "
        "the regex with a literal prefix, e.g. '^cve-'",
        f"warning: {source}:8: policy 'no-literal': not indexed, every image evaluates its first "
        "condition: conditions[0] (tag matches): regex '-(dev|rc)[0-9]$' has no literal prefix "
        "and no required literal of 3+ characters; to index it: anchor the regex with a literal "
        "prefix (e.g. '^team-42/')",
    ]


def test_max_candidates_fails_the_build_with_exit_9_and_writes_nothing(
    tmp_path: Path, examples: Path
) -> None:
    out = tmp_path / "bundle.tar.gz"
    code, stdout, err = run(
        "policy", "build", str(examples / "policies"), "-o", str(out), "--max-candidates", "4"
    )
    assert code == 9
    assert stdout == ""
    assert err.splitlines()[-1] == (
        "error: an image may have 5 candidate policies, more than --max-candidates 4 "
        "(see the warnings above); nothing written"
    )
    assert not out.exists()
    code, stdout, _ = run(
        "policy", "build", str(examples / "policies"), "-o", str(out), "--max-candidates", "5"
    )
    assert code == 0
    assert stdout.endswith("(5 policies; at most 5 candidate(s) per image)\n")
    with tarfile.open(out) as tar:
        member = tar.extractfile("/.manifest")
        assert member is not None
        manifest = json.loads(member.read())
    assert manifest["metadata"]["worst_case_candidates"] == 5


def test_build_reports_progress_on_stderr_when_not_a_terminal(
    tmp_path: Path, examples: Path
) -> None:
    prefix = "progress: build: "
    _, _, short = run("policy", "build", str(examples / "policies"), "-o", str(tmp_path / "a"))
    assert not any(line.startswith(prefix) for line in short.splitlines())  # quiet under 2 s
    _, _, err = run(
        "policy", "build", str(examples / "policies"), "-o", str(tmp_path / "b"), "--progress"
    )
    steps = [
        line.removeprefix(prefix).rsplit(" (", 1)[0]
        for line in err.splitlines()
        if line.startswith(prefix)
    ]
    assert steps == [
        "loading policies",
        "loaded 5 policies; compiling",
        "indexing",
        "writing data.json",
        "checking the bundle decides",  # on the other core, from here (issue 13.5)
        "built",
        "writing",
        "done",
    ]
    _, _, quiet = run(
        "policy", "build", str(examples / "policies"), "-o", str(tmp_path / "c"), "--progress", "-q"
    )
    assert not any(line.startswith("progress: ") for line in quiet.splitlines())


def test_validate_reports_every_problem_with_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- id: a\n  priority: x\n- id: b\n  conditions:\n    - {type: tag, operator: matches, value: '['}\n"
    )
    code, out, err = run("policy", "validate", str(bad))
    assert code == 3
    assert out == ""
    assert err.splitlines() == [
        f"error: {bad}:2: policy 'a': priority: Input should be a valid integer, unable to parse string as an integer",
        f"error: {bad}:5: policy 'b': conditions[0].value: invalid RE2 pattern '[': refused by Go's regexp (OPA): missing ]: [",
    ]


def test_build_tarball_and_directory_are_deterministic(examples: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    assert run("policy", "build", str(examples / "policies"), "-o", str(a))[0] == 0
    assert run("policy", "build", str(examples / "policies"), "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        names = sorted(m.name for m in tar.getmembers())
    assert "/.manifest" in names and "/data.json" in names
    assert "/freightliner/replication/decision.rego" in names
    assert sum(n.startswith("/freightliner/generated/") for n in names) == 5
    directory = tmp_path / "bundle"
    assert run("policy", "build", str(examples / "policies"), "-o", str(directory))[0] == 0
    manifest = json.loads((directory / ".manifest").read_text())
    assert manifest["roots"] == ["freightliner"]
    assert manifest["rego_version"] == 1
    assert len(manifest["revision"]) == 32


def test_failed_build_writes_nothing(tmp_path: Path, examples: Path) -> None:
    out = tmp_path / "out.tar.gz"
    good = run("policy", "build", str(examples / "policies"), "-o", str(out))
    assert good[0] == 0
    before = out.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: a\nschedule: 'every day'\n")
    code, _, err = run("policy", "build", str(bad), "-o", str(out))
    assert code == 3
    assert "schedule" in err
    assert out.read_bytes() == before  # the previous bundle is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "out.tar.gz"]
    code, _, _ = run("policy", "build", str(bad), "-o", str(tmp_path / "dir"))
    assert code == 3 and not (tmp_path / "dir").exists()


def test_test_command_passes_with_both_runners(examples: Path, opa_bin: str) -> None:
    code, out, _ = run("policy", "test", str(examples / "policies"))
    assert code == 0
    assert out.splitlines()[-1].startswith(f"opa test ({opa_bin}): ")
    assert out.splitlines()[-1].endswith(" passed, 0 failed")
    code, out2, _ = run("policy", "test", "--runner", "embedded", str(examples / "policies"))
    assert code == 0
    assert out2.splitlines()[-1].replace("embedded (regorus)", "X") == out.splitlines()[-1].replace(
        f"opa test ({opa_bin})", "X"
    )


def test_failing_example_exits_4(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "id: p\nconditions:\n  - {type: tag, operator: equals, value: v1}\n"
        "actions:\n  - {type: replicate, target_registry: ecr}\n"
        "examples:\n  - image: {registry: r, repository: a, tag: v2}\n    matched: true\n"
    )
    for runner in ("opa", "embedded"):
        code, out, _ = run("policy", "test", "--runner", runner, str(policy))
        assert code == 4
        assert "FAIL data.freightliner.generated.p_p_" in out
        assert out.splitlines()[-1].endswith("1 failed")


def test_eval_json_is_exactly_the_decision_document(
    examples: Path, opa_bin: str, tmp_path: Path
) -> None:
    image = examples / "images" / "prod-unscanned.json"
    code, out, _ = run(
        "policy",
        "eval",
        str(examples / "policies"),
        "--image",
        str(image),
        "--output",
        "json",
        "--now",
        NOW,
    )
    assert code == 5  # blocked
    document = json.loads(out)
    bundle = tmp_path / "b.tar.gz"
    run("policy", "build", str(examples / "policies"), "-o", str(bundle))
    proc = subprocess.run(
        [
            opa_bin,
            "eval",
            "-b",
            str(bundle),
            "-f",
            "json",
            "-I",
            "data.freightliner.replication.decision",
        ],
        input=json.dumps({"image": json.loads(image.read_text()), "now": NOW}),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]
    # The adapter fills ImageMetadata defaults; the decision must match OPA's on the same input.
    assert document["reason"] == expected["reason"] == "Missing security scan"
    assert document["actions"] == expected["actions"]
    assert document["matched_policies"] == expected["matched_policies"]
    assert set(document) == {
        "should_replicate",
        "actions",
        "matched_policies",
        "reason",
        "metadata",
        "explanation",
    }


def test_eval_text_and_stdin(examples: Path) -> None:
    image = (examples / "images" / "prod-scanned.json").read_text()
    code, out, _ = run(
        "policy", "eval", str(examples / "policies"), "--image", "-", "--now", NOW, stdin=image
    )
    assert code == 0
    assert out.splitlines()[:2] == [
        "outcome: replicate",
        "reason: replicate to ecr/production/team/app:prod-v1.0.0, gcr/prod-mirror/team/app:prod-v1.0.0 "
        "(policies: production-replication)",
    ]


def test_eval_bad_image_is_one_clear_error(examples: Path, tmp_path: Path) -> None:
    image = tmp_path / "image.json"
    image.write_text('{"registry": "r", "repository": "a", "size": "big"}')
    code, out, err = run("policy", "eval", str(examples / "policies"), "--image", str(image))
    assert (code, out) == (3, "")
    assert (
        err
        == f"error: {image}: image.size: Input should be a valid integer, unable to parse string as an integer\n"
    )
    image.write_text("{not json")
    code, _, err = run("policy", "eval", str(examples / "policies"), "--image", str(image))
    assert code == 3 and err.startswith(f"error: {image}:1: invalid JSON")


def test_list(examples: Path) -> None:
    code, out, _ = run("policy", "list", str(examples / "policies"), "--output", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["priority"]) for r in rows] == [
        ("edge-no-stale-images", 300),
        ("compliance-blocking", 200),
        ("production-replication", 100),
        ("platform-releases", 50),
        ("arm-nightlies", 10),
    ]


def test_console_script_runs(examples: Path) -> None:
    exe = Path(sys.executable).with_name("freightliner-policy")
    proc = subprocess.run(
        [str(exe), "policy", "validate", str(examples / "policies")],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        0,
        "ok: 5 policies in 2 file(s); at most 5 candidate(s) per image\n",
    )


def test_build_refused_by_the_decides_check_on_the_other_core_writes_nothing(
    tmp_path: Path, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decides check runs in a forked child (issue 13.5); its refusal is the build's."""
    from migrate.bundle import decides, decides_parallel

    parent = os.getpid()

    def refuse(modules: object, data: object, ids: object) -> decides.Outcome:
        assert os.getpid() != parent  # it ran in the child
        return (
            decides.ENGINE_ERROR,
            "p.yaml:2: policy 'p': the embedded engine fails to decide: boom",
        )

    monkeypatch.setattr(decides_parallel, "decides_outcome", refuse)
    out = tmp_path / "out.tar.gz"
    code, stdout, err = run("policy", "build", str(examples / "policies"), "-o", str(out))
    assert (code, stdout) == (3, "")
    assert err.splitlines()[-1] == (
        "error: p.yaml:2: policy 'p': the embedded engine fails to decide: boom"
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []
