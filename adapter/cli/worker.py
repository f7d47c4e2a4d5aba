"""``freightliner-policy worker``: run copy tasks of queue mode (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import click

from adapter.cli.common import effective_log_level, log_level_option
from migrate.core.exit_codes import exit_on_error

__all__ = ["worker"]


@click.command(
    epilog="""\b
Examples:
  freightliner-policy worker --config /etc/freightliner/config.yaml --concurrency 8
  freightliner-policy worker --config config.yaml --pool solo --hostname copy-1@%h

\b
Environment: FREIGHTLINER_REGISTRY_<NAME>_USERNAME/_PASSWORD (registry
credentials), DOCKER_CONFIG; the broker and database URLs come from the
config's queue.broker and state.url.

\b
-v logs at debug and -q at error, over --log-level."""
)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The config file serve uses: registries, queue.broker (Redis), state.url (PostgreSQL).",
)
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Copies this worker runs at once (pool threads or processes).",
)
@click.option(
    "--pool",
    default="threads",
    show_default=True,
    type=click.Choice(["threads", "prefork", "solo"]),
    help="Celery execution pool: threads suit copies (network-bound).",
)
@click.option("--hostname", help="Celery node name (default: celery@<host>).")
@log_level_option
@exit_on_error
def worker(
    config_path: Path, concurrency: int, pool: str, hostname: str | None, log_level: str
) -> None:
    """Copy images for queue mode: consume copy tasks that `serve` enqueues.

    Each task is one image x target with the digest the policy decided; the
    worker copies it (tag last), records it in the shared state and
    acknowledges it only then, so a worker that dies mid-copy leaves the task
    to another worker. Run any number of workers, on any machines, with the
    same config file as `serve` (it needs `queue:` and `state:`).

    SIGTERM stops taking tasks and lets the copies in progress finish.
    Exit codes: 0 stopped, 3 invalid config (no queue/state section, bad URL).
    """
    from adapter.queue.worker import run_worker
    from adapter.service.audit import configure_logging

    level = effective_log_level(log_level)
    configure_logging(level)
    run_worker(config_path, concurrency, pool, level, hostname)
