"""One exit-code table and one error printer for both commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter.cli.main import cli as policy_cli
from migrate.cli import cli as migrate_cli
from migrate.core.errors import (
    ActionError,
    AuthenticationError,
    BundleError,
    ConfigError,
    EngineError,
    EngineUnavailable,
    FreightlinerError,
    ImageNotFound,
    PolicyError,
    RegistryError,
)
from migrate.core.exit_codes import ExitCode, error_document, exit_code_for


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PolicyError("x"), 3),
        (ConfigError("x"), 3),
        (BundleError("x"), 3),
        (EngineUnavailable("x"), 6),
        (AuthenticationError("x"), 6),
        (RegistryError("x"), 6),
        (ImageNotFound("x"), 3),  # the registry answered: the named tag is an input error
        (EngineError("x"), 8),
        (ActionError("x"), 1),
        (FreightlinerError("x"), 1),
    ],
)
def test_the_table(error: FreightlinerError, code: int) -> None:
    assert exit_code_for(error) == code


def test_codes_are_the_documented_ones() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("ERROR", 1),
        ("USAGE", 2),
        ("INVALID_INPUT", 3),
        ("TEST_FAILURE", 4),
        ("BLOCKED", 5),
        ("UNAVAILABLE", 6),
        ("PARTIAL", 7),
        ("ENGINE_ERROR", 8),
        ("TOO_MANY_CANDIDATES", 9),
        ("INTERRUPTED", 130),
    ]


def test_both_commands_print_and_exit_alike(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    runner = CliRunner()
    migrate = runner.invoke(migrate_cli, ["report", str(missing)])
    mounted = runner.invoke(policy_cli, ["migrate", "report", str(missing)])
    expected = f"error: {missing}: cannot read file: No such file or directory\n"
    assert (migrate.exit_code, migrate.stderr) == (3, expected)
    assert (mounted.exit_code, mounted.stderr) == (3, expected)


def test_migrate_is_always_mounted() -> None:
    assert policy_cli.commands["migrate"] is migrate_cli  # type: ignore[attr-defined]


def test_the_json_error_object() -> None:
    from migrate.core.errors import Diagnostic

    problems = [Diagnostic("unknown field", file="p.yaml", line=4, policy_id="a", field="priorty")]
    problems.append(Diagnostic("cannot read: No such file or directory", file="q.yaml"))
    assert error_document("2 problems in policy input", ExitCode.INVALID_INPUT, problems) == {
        "error": {
            "code": "invalid_input",
            "exit_code": 3,
            "message": "2 problems in policy input",
            "problems": [
                {
                    "file": "p.yaml",
                    "line": 4,
                    "policy_id": "a",
                    "field": "priorty",
                    "message": "unknown field",
                },
                {"file": "q.yaml", "message": "cannot read: No such file or directory"},
            ],
        }
    }


def test_json_errors_from_a_command_run_in_process() -> None:
    runner = CliRunner()
    result = runner.invoke(policy_cli, ["policy", "list", "/nonexistent-dir", "--output", "json"])
    assert result.exit_code == 2  # click's own path check, before the command runs
    missing = runner.invoke(
        policy_cli,
        ["policy", "eval", "examples/policies", "--image", "-", "--output", "json"],
        input="{",
    )
    assert (missing.exit_code, missing.stderr) == (3, "")
    assert missing.stdout == (
        '{"error": {"code": "invalid_input", "exit_code": 3, "message": '
        '"<stdin>:1: invalid JSON: Expecting property name enclosed in double quotes", '
        '"problems": []}}\n'
    )
