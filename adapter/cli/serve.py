"""``freightliner-policy serve``: the long-lived policy service (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import click

from adapter.cli.common import effective_log_level, log_level_option
from migrate.core.exit_codes import exit_on_error

__all__ = ["serve"]


@click.command(
    epilog="""\b
Examples:
  freightliner-policy serve --config examples/config.yaml
  freightliner-policy serve --config config.yaml --policies policies/ --listen 127.0.0.1:8080

\b
Logs are JSON lines on stderr (--log-format does not change them); -v
logs at debug and -q at error, over --log-level.

\b
Environment: FREIGHTLINER_API_TOKEN (serve.token_env's default),
FREIGHTLINER_REGISTRY_<NAME>_USERNAME/_PASSWORD (registry credentials),
DOCKER_CONFIG."""
)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The config file (registries, opa, serve settings).",
)
@click.option(
    "--policies",
    type=click.Path(exists=True, path_type=Path),
    help="Policy directory to build, serve and watch (default: policy.configPath).",
)
@click.option("--listen", help="HOST:PORT to listen on (default: serve.listen).")
@log_level_option
@exit_on_error
def serve(config_path: Path, policies: Path | None, listen: str | None, log_level: str) -> None:
    """Serve decisions, the OPA bundle, scheduled sweeps and metrics over HTTP.

    Every /v1/ endpoint needs `Authorization: Bearer <token>` (serve.token_env,
    default FREIGHTLINER_API_TOKEN, or serve.token_file).
    """
    from adapter.service.audit import configure_logging
    from adapter.service.server import serve as run

    level = effective_log_level(log_level)
    configure_logging(level)
    run(config_path, policies, listen)
