"""Running the service: the policy sources, the listen address, and uvicorn.

Startup builds and tests the first bundle before binding the port (a broken
policy set stops the command with its diagnostics). SIGTERM/SIGINT: uvicorn
stops accepting, finishes open requests, then the lifespan shutdown stops the
scheduler (running sweeps start no new copy and get
``serve.shutdown_grace_seconds`` to finish the ones in flight).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import uvicorn

from adapter.config import FreightlinerConfig
from adapter.service.app import ServiceApp
from adapter.service.context import ServiceContext
from migrate.core.errors import ConfigError

__all__ = ["parse_listen", "policy_sources", "serve"]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid listen address {text!r}: expected HOST:PORT")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def policy_sources(
    config: FreightlinerConfig, config_path: Path, policies: Path | None
) -> list[Path]:
    """``--policies``, else ``policy.configPath`` (relative to the config file); plus the config
    file itself when it embeds policies."""
    sources: list[Path] = []
    if policies is not None:
        sources.append(policies)
    elif config.policy.configPath:
        path = Path(config.policy.configPath).expanduser()
        sources.append(path if path.is_absolute() else config_path.parent / path)
    if config.policy.policies:
        sources.append(config_path)
    if not sources:
        raise ConfigError(
            "no policies: give --policies DIR, policy.configPath or policy.policies in the config"
        )
    for source in sources:
        if not source.exists():
            raise ConfigError(f"policy source {source} does not exist")
    return sources


def serve(config_path: Path, policies: Path | None = None, listen: str | None = None) -> None:
    """Build the first bundle, then serve until SIGTERM/SIGINT."""
    config = FreightlinerConfig.load(config_path)
    host, port = parse_listen(listen or config.serve.listen)
    ctx = ServiceContext(
        config, policy_sources(config, config_path, policies), config_path=config_path
    )
    ctx.prepare()
    server = uvicorn.Server(
        uvicorn.Config(
            ServiceApp(ctx),
            host=host,
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=max(1, int(ctx.settings.shutdown_grace_seconds)),
        )
    )
    # uvicorn re-raises the signal it stopped on once it is done; a graceful stop exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run()
