"""Both commands as scripts use them (issue 17): real processes of the console scripts.

``--version``/``-h`` on both; errors under ``--output json`` as exact JSON objects on stdout
and nothing on stderr; JSON log lines; shell completion; a missing tag is an input error."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.images import push_image
from tests.fixtures.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
VERSION = importlib.metadata.version("freightliner-policy")


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / args[0]), *args[1:]]
    environ = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=cwd, env=environ
    )


def error(code: str, exit_code: int, message: str, problems: list[Any] | None = None) -> Any:
    return {
        "error": {
            "code": code,
            "exit_code": exit_code,
            "message": message,
            "problems": problems or [],
        }
    }


@pytest.mark.parametrize("command", ["freightliner-policy", "freightliner-migrate"])
def test_version_and_short_help_on_both_commands(command: str) -> None:
    version = run(command, "--version")
    assert (version.returncode, version.stdout, version.stderr) == (
        0,
        f"{command}, version {VERSION}\n",
        "",
    )
    short = run(command, "-h")
    assert (short.returncode, short.stderr) == (0, "")
    assert short.stdout.startswith(f"Usage: {command} [OPTIONS] COMMAND [ARGS]...\n")
    for section in ("Examples:", "Exit codes", "Environment:", "Shell completion"):
        assert section in short.stdout, section
    assert short.stdout == run(command, "--help").stdout


def test_subcommands_take_h_under_both_commands() -> None:
    direct = run("freightliner-migrate", "convert", "-h")
    mounted = run("freightliner-policy", "migrate", "convert", "-h")
    assert direct.returncode == mounted.returncode == 0
    assert direct.stdout.startswith("Usage: freightliner-migrate convert [OPTIONS]")
    assert mounted.stdout.startswith("Usage: freightliner-policy migrate convert [OPTIONS]")


def test_validation_errors_as_one_json_object() -> None:
    result = run(
        "freightliner-policy", "policy", "validate", "tests/fixtures/validation", "--output", "json"
    )
    assert (result.returncode, result.stderr) == (3, "")
    assert result.stdout.count("\n") == 1
    a, b = "tests/fixtures/validation/a.yaml", "tests/fixtures/validation/b.yaml"
    regex = "invalid RE2 pattern '[': refused by Go's regexp (OPA): missing ]: ["
    upper = (
        "invalid target_repo name 'Mirror/a': path component 1 'Mirror' is not [a-z0-9]+ joined "
        "by '.', '_', '__' or '-' (variables judged as 'a'; the rendered name is checked again)"
    )
    placeholder = (
        "unknown placeholder in '{repo}' (known: {legacy}, {match}, {registry}, {repository}, "
        "{tag}; '{{' for a brace)"
    )
    assert json.loads(result.stdout) == error(
        "invalid_input",
        3,
        "6 problems in policy input",
        [
            {
                "file": a,
                "line": 3,
                "policy_id": "alpha",
                "field": "priorty",
                "message": "unknown field",
            },
            {
                "file": a,
                "line": 5,
                "policy_id": "alpha",
                "field": "conditions[0].value",
                "message": regex,
            },
            {
                "file": a,
                "line": 7,
                "policy_id": "alpha",
                "field": "actions[0].target_repo",
                "message": upper,
            },
            {
                "file": a,
                "line": 9,
                "policy_id": "beta",
                "field": "schedule",
                "message": "cron expression 'every day' has 2 fields; expected 5 or 6",
            },
            {
                "file": b,
                "line": 3,
                "policy_id": "gamma",
                "field": "priority",
                "message": "Input should be a valid integer, unable to parse string as an integer",
            },
            {
                "file": b,
                "line": 7,
                "policy_id": "gamma",
                "field": "actions[0].target_repo",
                "message": placeholder,
            },
        ],
    )
    text = run("freightliner-policy", "policy", "validate", "tests/fixtures/validation")
    assert (text.returncode, text.stdout) == (3, "")
    assert len(text.stderr.splitlines()) == 6


def test_usage_errors_as_json_while_parsing_and_while_running() -> None:
    parsing = run("freightliner-policy", "evaluate", "--output", "json", "--bogus", "x")
    assert (parsing.returncode, parsing.stderr) == (2, "")
    assert json.loads(parsing.stdout) == error(
        "usage", 2, "No such option '--bogus'. Did you mean '--verbose'?"
    )
    missing = run("freightliner-policy", "evaluate", "--output=json")
    assert json.loads(missing.stdout) == error("usage", 2, "Missing argument 'REFERENCE'.")
    opa = run(
        "freightliner-policy",
        "evaluate",
        "local/a:v1",
        "--opa-url",
        "localhost:8181",
        "--output",
        "json",
    )
    assert (opa.returncode, opa.stderr) == (2, "")
    assert json.loads(opa.stdout) == error(
        "usage",
        2,
        "Invalid value for '--opa-url': 'localhost:8181' is not an http:// or https:// URL "
        "with a host (e.g. http://127.0.0.1:8181)",
    )
    name = run("freightliner-policy", "evaluate", "local/UP:x", "--output", "json")
    assert (name.returncode, name.stderr) == (2, "")
    assert json.loads(name.stdout)["error"]["code"] == "usage"
    text = run("freightliner-policy", "evaluate", "local/a:v1", "--opa-url", "localhost:8181")
    assert (text.returncode, text.stdout) == (2, "")
    assert text.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--opa-url': 'localhost:8181' is not an http:// or https:// "
        "URL with a host (e.g. http://127.0.0.1:8181)"
    )


def test_image_errors_as_json(tmp_path: Path) -> None:
    image = tmp_path / "image.json"
    image.write_text('{"registry": "r", "repository": "a", "tag": 5, "labels": []}')
    result = run(
        "freightliner-policy", "policy", "eval", str(ROOT / "examples" / "policies"),
        "--image", str(image), "--output", "json",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (3, "")
    assert json.loads(result.stdout) == error(
        "invalid_input",
        3,
        "invalid image metadata",
        [
            {"file": str(image), "field": "image.tag", "message": "Input should be a valid string"},
            {
                "file": str(image),
                "field": "image.labels",
                "message": "Input should be a valid dictionary",
            },
        ],
    )


def _image_file(tmp_path: Path) -> Path:
    source = json.loads((ROOT / "examples" / "images" / "prod-scanned.json").read_text())
    path = tmp_path / "images.json"
    path.write_text(json.dumps([source]))
    return path


def test_a_missing_tag_is_an_input_error(tmp_path: Path) -> None:
    images = _image_file(tmp_path)
    policies = str(ROOT / "examples" / "policies")
    args = (
        "evaluate",
        "docker-hub/team/app:nope",
        "--image-file",
        str(images),
        "--policies",
        policies,
    )
    text = run("freightliner-policy", *args)
    assert (text.returncode, text.stdout, text.stderr) == (
        3,
        "",
        f"error: {images}: no image docker-hub/team/app:nope\n",
    )
    as_json = run("freightliner-policy", *args, "--output", "json")
    assert (as_json.returncode, as_json.stderr) == (3, "")
    assert json.loads(as_json.stdout) == error(
        "invalid_input", 3, f"{images}: no image docker-hub/team/app:nope"
    )


@pytest.mark.registry
@pytest.mark.parametrize("command", ["evaluate", "replicate"])
def test_a_missing_tag_on_a_registry_is_exit_3(
    tmp_path: Path, registry: RunningRegistry, unique_repo: str, command: str
) -> None:
    push_image(registry, unique_repo, "v1")
    config = tmp_path / "config.yaml"
    config.write_text(f"registries:\n  local: {{url: '{registry.url}'}}\n")
    policies = str(ROOT / "examples" / "policies")
    result = run(
        "freightliner-policy", command, f"local/{unique_repo}:nope", "--policies", policies,
        env={"FREIGHTLINER_CONFIG": str(config)},
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        3,
        "",
        f"error: registry 'local': {unique_repo}:nope not found\n",
    )


def test_log_lines_as_json(tmp_path: Path) -> None:
    result = run(
        "freightliner-policy", "policy", "build", str(ROOT / "examples" / "policies"),
        "-o", str(tmp_path / "b.tar.gz"), "--progress", "--log-format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [r["message"].rsplit(" (", 1)[0] for r in records] == [
        "build: loading policies",
        "build: loaded 5 policies; compiling",
        "build: indexing",
        "build: writing data.json",
        "build: checking the bundle decides",
        "build: built",
        "build: writing",
        "build: done",
    ]
    assert {(r["level"], r["logger"]) for r in records} == {("info", "freightliner.progress")}
    assert all(sorted(r) == ["level", "logger", "message", "time"] for r in records)
    env_default = run(
        "freightliner-policy", "policy", "build", str(ROOT / "examples" / "policies"),
        "-o", str(tmp_path / "c.tar.gz"), "--progress",
        env={"FREIGHTLINER_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert sum(1 for line in env_default.stderr.splitlines() if line.startswith("{")) == 8


def test_shell_completion_as_documented() -> None:
    source = run("freightliner-policy", env={"_FREIGHTLINER_POLICY_COMPLETE": "bash_source"})
    assert source.returncode == 0
    assert "_freightliner_policy_completion()" in source.stdout
    complete = run(
        "freightliner-policy",
        env={
            "_FREIGHTLINER_POLICY_COMPLETE": "bash_complete",
            "COMP_WORDS": "freightliner-policy policy va",
            "COMP_CWORD": "2",
        },
    )
    assert (complete.returncode, complete.stdout) == (0, "plain,validate\n")
    migrate = run(
        "freightliner-migrate",
        env={
            "_FREIGHTLINER_MIGRATE_COMPLETE": "bash_complete",
            "COMP_WORDS": "freightliner-migrate rep",
            "COMP_CWORD": "1",
        },
    )
    assert (migrate.returncode, migrate.stdout) == (0, "plain,report\n")
    docs = (ROOT / "docs" / "cli.md").read_text()
    assert 'eval "$(_FREIGHTLINER_POLICY_COMPLETE=bash_source freightliner-policy)"' in docs


def test_verbose_test_listing_uses_the_shared_v() -> None:
    quiet = run(
        "freightliner-policy", "policy", "test", "examples/policies", "--runner", "embedded"
    )
    verbose = run(
        "freightliner-policy", "policy", "test", "examples/policies", "--runner", "embedded", "-v"
    )
    assert quiet.returncode == verbose.returncode == 0
    assert not any(line.startswith("PASS ") for line in quiet.stdout.splitlines())
    assert sum(1 for line in verbose.stdout.splitlines() if line.startswith("PASS ")) > 10


def test_a_scheme_less_opa_url_in_the_config_is_invalid_input(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("opa:\n  url: localhost:8181\n")
    images = _image_file(tmp_path)
    result = run(
        "freightliner-policy", "evaluate", "docker-hub/team/app:prod-v1.0.0",
        "--image-file", str(images), "--config", str(config),
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        3,
        "",
        f"error: {config}:2: opa.url: 'localhost:8181' is not an http:// or https:// URL with "
        "a host (e.g. http://127.0.0.1:8181)\n",
    )
