"""docs/cli.md's reference is generated from the commands' own --help; it must not drift,
and every command must carry what the help promises (examples, the shared options)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import click
import pytest

from adapter.cli.main import cli
from migrate.cli import cli as migrate_cli

ROOT = Path(__file__).resolve().parents[4]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_what_the_generator_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREIGHTLINER_LOG_FORMAT", "json")  # the generator shows defaults only
    gen = _generator()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert gen.render(current) == current, "docs/cli.md drifted: run python scripts/gen_cli_docs.py"


def test_the_generated_part_names_every_command_once() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    generated = text.split(_generator().MARKER, 1)[1]
    headings = [line for line in generated.splitlines() if line.startswith("### ")]
    policy = [p for p, _ in _commands(cli, "freightliner-policy")]  # type: ignore[arg-type]
    migrate = [p for p, _ in _commands(migrate_cli, "freightliner-migrate")]  # type: ignore[arg-type]
    # `freightliner-policy migrate ...` is documented once, as freightliner-migrate
    expected = [p for p in policy if not p.startswith("freightliner-policy migrate")] + migrate
    assert headings == [f"### `{p}`" for p in expected]
    assert "### `freightliner-policy policy validate`" in headings
    assert "### `freightliner-migrate report`" in headings


def _commands(group: click.Group, path: str) -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(path, group)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} {name}")
        else:
            found.append((f"{path} {name}", command))
    return found


ALL = _commands(cli, "freightliner-policy")  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_help_has_examples(path: str, command: click.Command) -> None:
    assert command.epilog is not None and "Examples:\n" in command.epilog, path
    examples = command.epilog.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert examples and all(line.startswith("  ") for line in examples), path


@pytest.mark.parametrize(
    ("path", "command"),
    [(p, c) for p, c in ALL if not isinstance(c, click.Group)],
    ids=[p for p, c in ALL if not isinstance(c, click.Group)],
)
def test_every_command_has_the_shared_options(path: str, command: click.Command) -> None:
    options = {opt for param in command.params for opt in param.opts}
    assert {"-q", "--quiet", "-v", "--verbose", "--log-format"} <= options, path


def test_migrate_commands_have_them_too_when_run_alone() -> None:
    for name, command in migrate_cli.commands.items():  # type: ignore[attr-defined]
        options = {opt for param in command.params for opt in param.opts}
        assert {"-q", "-v", "--log-format"} <= options, name
