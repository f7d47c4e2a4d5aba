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
from migrate.core.cli_options import add_common_options, run

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.version_option(package_name="freightliner-policy")
def cli() -> None:
    """Policy-driven container image replication."""


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
# -q/-v/--log-format on every command (commands added above this line)
add_common_options(cli)


def _context() -> dict[str, object]:
    """What subcommands get from the adapter: ``migrate verify``'s live inventory reader."""
    return {"live_inventory": live_inventory}


def main() -> None:
    run(cli, "freightliner-policy", _context())


def migrate_main() -> None:
    """``freightliner-migrate``: the ``migrate`` group with the adapter's registry reader."""
    run(migrate_cli, "freightliner-migrate", _context())
