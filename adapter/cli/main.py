"""The ``freightliner-policy`` command: the root of every subcommand."""

from __future__ import annotations

import click

from adapter.cli.policy import policy
from adapter.cli.policy_remote import apply_command, export_command, preview_command, token
from adapter.cli.runtime import evaluate, replicate
from adapter.cli.serve import serve
from adapter.cli.worker import worker
from adapter.registry.inventory import live_inventory
from migrate.cli import cli as migrate_cli

__all__ = ["cli", "main", "migrate_main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="freightliner-policy")
def cli() -> None:
    """Policy-driven container image replication.

    Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 invalid input,
    4 test failure or migration mismatch, 5 blocked, 6 engine or registry
    unavailable, 7 some replications failed.
    """


policy.add_command(export_command)
policy.add_command(apply_command)
policy.add_command(preview_command)
cli.add_command(policy)
cli.add_command(token)
cli.add_command(serve)
cli.add_command(worker)
cli.add_command(evaluate)
cli.add_command(replicate)
# Not optional: a broken import must fail loudly, not remove the subcommand.
cli.add_command(migrate_cli, name="migrate")


def _context() -> dict[str, object]:
    """What subcommands get from the adapter: ``migrate verify``'s live inventory reader."""
    return {"live_inventory": live_inventory}


def main() -> None:
    cli(prog_name="freightliner-policy", obj=_context())


def migrate_main() -> None:
    """``freightliner-migrate``: the ``migrate`` group with the adapter's registry reader."""
    migrate_cli(prog_name="freightliner-migrate", obj=_context())
