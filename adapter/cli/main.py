"""The ``freightliner-policy`` command: the root of every subcommand."""

from __future__ import annotations

from collections.abc import Mapping

import click

from migrate.core.cli_options import add_common_options, run
from migrate.core.lazy_commands import LazyGroup

__all__ = ["cli", "main", "migrate_main"]

_EPILOG = """\b
Examples:
  freightliner-policy policy validate examples/policies
  freightliner-policy policy build examples/policies -o bundle.tar.gz
  freightliner-policy evaluate local/team/app:prod-v1.0.0 --config examples/config.yaml
  freightliner-policy replicate local/team/app --config examples/config.yaml --dry-run
  freightliner-policy replicate local/team --output json | jq .targets
  freightliner-policy COMMAND -h

\b
Exit codes (one table for both commands, docs/cli.md):
  0 ok, 1 unexpected error, 2 usage, 3 invalid input (policy, config, image
  file, a missing image), 4 tests failed / migration mismatches / rules not
  translated, 5 blocked, 6 engine or registry unavailable, 7 some replications
  failed, 8 engine error, 9 too many candidates, 130 interrupted.
  With --output json an error is one JSON object on stdout:
  {"error": {"code", "exit_code", "message", "problems": [...]}}.

\b
Environment:
  FREIGHTLINER_CONFIG       default of --config (evaluate, replicate)
  FREIGHTLINER_REGISTRY_<NAME>_USERNAME, FREIGHTLINER_REGISTRY_<NAME>_PASSWORD
                            credentials of registry <NAME> (upper case, other
                            characters as _), unless the config names others
                            (username_env, password_env, token_env)
  DOCKER_CONFIG             directory of config.json (registries with docker_config)
  FREIGHTLINER_API_TOKEN    API token of policy export/apply (and serve's
                            default serve.token_env)
  FREIGHTLINER_LOG_FORMAT   default of --log-format (text or json)
  CI                        set: replicate shows no progress unless --progress

\b
Shell completion (bash; zsh and fish alike, see docs/cli.md):
  eval "$(_FREIGHTLINER_POLICY_COMPLETE=bash_source freightliner-policy)"
"""


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG
)
@click.version_option(package_name="freightliner-policy")
def cli() -> None:
    """Policy-driven container image replication."""


# Each subcommand's module is imported when the command is used (or listed, --help):
# `policy build` does not import httpx, the runner or the legacy translator (about 0.2 s
# of its start). Not optional: a broken import fails loudly on first use (and in --help),
# it does not remove the subcommand. `policy export|apply|preview`: adapter/cli/policy.py.
assert isinstance(cli, LazyGroup)
cli.add_lazy_command("policy", "adapter.cli.policy:policy")
cli.add_lazy_command("token", "adapter.cli.policy_remote:token")
cli.add_lazy_command("serve", "adapter.cli.serve:serve")
cli.add_lazy_command("worker", "adapter.cli.worker:worker")
cli.add_lazy_command("evaluate", "adapter.cli.runtime:evaluate")
cli.add_lazy_command("replicate", "adapter.cli.runtime:replicate")
cli.add_lazy_command("migrate", "migrate.cli:cli")
# -q/-v/--log-format on every command (each when it is imported)
add_common_options(cli)


def _live_inventory(
    registries: Mapping[str, str], page_size: int = 100
) -> list[tuple[str, str, str]]:
    """``migrate verify``'s live inventory reader: adapter.registry.inventory's, imported
    when a verify reads a registry."""
    from adapter.registry.inventory import live_inventory as read

    return read(registries, page_size)


def _context() -> dict[str, object]:
    """What subcommands get from the adapter: ``migrate verify``'s live inventory reader."""
    return {"live_inventory": _live_inventory}


def main() -> None:
    run(cli, "freightliner-policy", _context())


def migrate_main() -> None:
    """``freightliner-migrate``: the ``migrate`` group with the adapter's registry reader."""
    from migrate.cli import cli as migrate_cli

    run(migrate_cli, "freightliner-migrate", _context())
