"""LazyGroup: subcommands imported on first use, the same tree, help and errors as eager
registration (migrate/core/lazy_commands.py)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from migrate.core.cli_options import add_common_options
from migrate.core.lazy_commands import LazyGroup


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real module (a file on sys.path) with two commands; its name."""
    name = f"lazy_toy_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            '''
            import click

            LOADED = []

            @click.command(name="hello", epilog="Examples:\\n  toy hello")
            @click.option("--who", default="world")
            def hello(who):
                """Say hello."""
                click.echo(f"hello {who}")

            @click.command(name="other")
            def other():
                """Another one."""
                click.echo("other")

            LOADED.append(1)
            '''
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _groups(module: str) -> tuple[LazyGroup, click.Group]:
    lazy = LazyGroup(name="toy", epilog="E")
    lazy.add_lazy_command("hello", f"{module}:hello")
    lazy.add_lazy_command("other", f"{module}:other")
    add_common_options(lazy)
    return lazy, click.Group(name="toy", epilog="E")


def test_a_command_is_imported_when_used_and_gets_the_shared_options(toy: str) -> None:
    lazy, _ = _groups(toy)
    assert toy not in sys.modules
    assert lazy.loaded_commands() == {}
    result = CliRunner().invoke(lazy, ["hello", "--who", "you", "-q"])
    assert (result.exit_code, result.output) == (0, "hello you\n")
    assert list(lazy.loaded_commands()) == ["hello"]
    options = {opt for p in lazy.loaded_commands()["hello"].params for opt in p.opts}
    assert {"--who", "-q", "--quiet", "-v", "--verbose", "--log-format"} <= options


def test_help_commands_and_errors_are_what_eager_registration_gives(toy: str) -> None:
    lazy, _ = _groups(toy)
    help_lazy = CliRunner().invoke(lazy, ["--help"]).output
    module = sys.modules[toy]  # --help lists every command: all imported
    eager = click.Group(name="toy", epilog="E")
    eager.add_command(module.hello)
    eager.add_command(module.other)
    add_common_options(eager)
    assert help_lazy == CliRunner().invoke(eager, ["--help"]).output
    assert "hello  Say hello." in help_lazy
    assert list(lazy.commands) == ["hello", "other"]
    assert lazy.commands["hello"] is module.hello
    for args in (["helo"], ["hello", "--bad"], ["other", "--help"]):
        fresh, _ = _groups(toy)
        got, want = CliRunner().invoke(fresh, args), CliRunner().invoke(eager, args)
        assert (got.exit_code, got.output) == (want.exit_code, want.output), args
    assert CliRunner().invoke(lazy, ["helo"]).exit_code == 2


def test_a_broken_import_fails_loudly_on_first_use(toy: str) -> None:
    group = LazyGroup(name="toy")
    group.add_lazy_command("gone", "lazy_toy_no_such_module:gone")
    result = CliRunner().invoke(group, ["gone"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ModuleNotFoundError)
    assert "gone" in group.list_commands(click.Context(group))
    with pytest.raises(ModuleNotFoundError):
        _ = group.commands  # listing them all imports them all
    with pytest.raises(ValueError, match="module:attribute"):
        group.add_lazy_command("x", "no_colon")


def test_the_root_command_tree_is_the_eager_one() -> None:
    from adapter.cli.main import cli
    from migrate.cli import cli as migrate_cli

    assert list(cli.commands) == [
        "policy",
        "token",
        "serve",
        "worker",
        "evaluate",
        "replicate",
        "migrate",
    ]
    policy = cli.commands["policy"]
    assert isinstance(policy, click.Group)
    assert list(policy.commands)[-3:] == ["export", "apply", "preview"]
    assert {n: c.name for n, c in policy.commands.items()} == {n: n for n in policy.commands}
    assert cli.commands["migrate"] is migrate_cli
