"""``--log-level`` of the long-lived commands, and -v/-q over it, the same for each."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from adapter.cli.common import effective_log_level, log_level_option
from migrate.core.cli_options import add_common_options


def _group() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    @group.command()
    @log_level_option
    def probe(log_level: str) -> None:
        click.echo(effective_log_level(log_level))

    return add_common_options(group)


@pytest.mark.parametrize(
    ("args", "level"),
    [
        ([], "info"),
        (["--log-level", "warning"], "warning"),
        (["-v", "--log-level", "warning"], "debug"),
        (["-vv"], "debug"),
        (["-q", "--log-level", "debug"], "error"),
    ],
)
def test_verbosity_overrides_the_log_level(args: list[str], level: str) -> None:
    result = CliRunner().invoke(_group(), ["probe", *args])
    assert result.exit_code == 0, result.output
    assert result.output == f"{level}\n"


def test_serve_and_worker_share_the_option() -> None:
    from adapter.cli.serve import serve
    from adapter.cli.worker import worker

    for command in (serve, worker):
        [option] = [p for p in command.params if p.name == "log_level"]
        assert isinstance(option.type, click.Choice)
        assert list(option.type.choices) == ["debug", "info", "warning", "error"]
        assert option.default == "info"
