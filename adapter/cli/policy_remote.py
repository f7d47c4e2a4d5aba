"""``policy export|apply|preview`` and ``token new|hash``: the policy API from the command line.

``export`` and ``apply`` talk to a running ``serve`` (``--server URL``) with the
token from ``--token-file`` or the environment variable ``FREIGHTLINER_API_TOKEN``.
``preview`` works locally: the config's registries, the current and the proposed
policies, decided with the embedded engine.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import httpx

from adapter.cli.common import load_bundle
from migrate.core.errors import (
    AuthenticationError,
    ConfigError,
    FreightlinerError,
    PolicyError,
    RegistryError,
)
from migrate.core.exit_codes import ExitCode, exit_on_error

__all__ = ["apply_command", "export_command", "preview_command", "token"]

_TOKEN_ENV = "FREIGHTLINER_API_TOKEN"


def _server_options(func: Any) -> Any:
    func = click.option(
        "--token-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"File holding the API token (default: the environment variable {_TOKEN_ENV}).",
    )(func)
    return click.option(
        "--server", required=True, help="URL of a running `freightliner-policy serve`."
    )(func)


def _client(server: str, token_file: Path | None) -> httpx.Client:
    if token_file is not None:
        lines = token_file.read_text(encoding="utf-8").strip().splitlines()
        token = lines[0].strip() if lines else ""
    else:
        token = os.environ.get(_TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"no API token: give --token-file or set {_TOKEN_ENV}")
    return httpx.Client(
        base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=120.0
    )


def _fail_on(response: httpx.Response, what: str) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": str(response.status_code), "message": response.text[:200]}
    if response.status_code in {401, 403}:
        raise AuthenticationError(f"{what}: HTTP {response.status_code}: {error['message']}")
    problems = error.get("problems") or []
    if problems:
        raise _ServerProblems(f"{what}: {error['message']}", [p["text"] for p in problems])
    raise FreightlinerError(
        f"{what}: HTTP {response.status_code} {error['code']}: {error['message']}"
    )


class _ServerProblems(PolicyError):
    """The server refused a policy: its problems, one per line (exit 3)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems

    def lines(self) -> list[str]:
        return [self.message, *self.problems]


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise RegistryError(f"{client.base_url}: {exc}") from None


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", dir=path.parent if str(path.parent) else "."
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command(
    name="export",
    epilog="""\b
Examples:
  freightliner-policy policy export --server http://127.0.0.1:8080 -o policies.yaml
  FREIGHTLINER_API_TOKEN=... freightliner-policy policy export --server https://fl.example.com

Environment: FREIGHTLINER_API_TOKEN (the token, unless --token-file).""",
)
@_server_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@exit_on_error
def export_command(server: str, token_file: Path | None, output: Path | None) -> None:
    """Export the server's whole policy set as one YAML document (stdout, or -o FILE)."""
    with _client(server, token_file) as client:
        response = _request(client, "GET", "/v1/policies", params={"format": "yaml"})
        _fail_on(response, "export")
    if output is None:
        click.echo(response.text, nl=False)
    else:
        _write_atomically(output, response.content)
        click.echo(
            f"exported to {output} (bundle revision {response.headers['etag'].strip(chr(34))})"
        )


@click.command(
    name="apply",
    epilog="""\b
Examples:
  freightliner-policy policy apply team-a.yaml --server http://127.0.0.1:8080 --token-file t
  FREIGHTLINER_API_TOKEN=... freightliner-policy policy apply team-a.yaml --server URL

Environment: FREIGHTLINER_API_TOKEN (the token, unless --token-file).""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_server_options
@exit_on_error
def apply_command(file: Path, server: str, token_file: Path | None) -> None:
    """Create or replace every policy of FILE on the server (PUT /v1/policies/{id}).

    Each policy is one write through the server's pipeline (validate, build, tests,
    publish), with If-Match: the revision the previous write produced. Policies not in
    FILE are left alone.
    """
    from adapter.service.policy_api import dump_yaml
    from migrate.policy.loader import parse_policy_text

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    policy_set = parse_policy_text(text, str(file))  # local check: problems with FILE's lines
    with _client(server, token_file) as client:
        response = _request(client, "GET", "/v1/policies")
        _fail_on(response, "reading the current revision")
        revision = response.headers["etag"]
        for loaded in policy_set.policies:
            body = dump_yaml(loaded.raw)
            response = _request(
                client,
                "PUT",
                f"/v1/policies/{loaded.policy.id}",
                content=body.encode("utf-8"),
                headers={"content-type": "application/yaml", "if-match": revision},
            )
            _fail_on(response, f"policy {loaded.policy.id}")
            result = response.json()
            revision = response.headers["etag"]
            state = "unchanged" if not result["changed"] else f"revision {result['revision']}"
            click.echo(f"policy {loaded.policy.id}: {result['action']} {result['file']} ({state})")


@click.command(
    name="preview",
    epilog="""\b
Examples:
  freightliner-policy policy preview new/ --config examples/config.yaml --repository local/team/app
  freightliner-policy policy preview change.yaml --config config.yaml --mode merge \\
      --audit-log audit.jsonl --window 24h --output json

\b
Environment: FREIGHTLINER_REGISTRY_<NAME>_USERNAME/_PASSWORD (registry
credentials), DOCKER_CONFIG.""",
)
@click.argument("proposed", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Config file: its registries, and its policies as the current set.",
)
@click.option(
    "--current",
    "current",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="The current policies (files, directories or a bundle; default: the config's).",
)
@click.option(
    "--repository",
    "repositories",
    multiple=True,
    metavar="REGISTRY/REPOSITORY",
    help="Decide every tag of this repository (repeatable).",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also decide the images of this audit log's recent decisions.",
)
@click.option("--window", default="24h", show_default=True, help="Audit log window.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(0, 100_000))
@click.option(
    "--mode",
    type=click.Choice(["replace", "merge"]),
    default="replace",
    show_default=True,
    help="replace: PROPOSED is the whole new set; merge: its policies replace same-id ones.",
)
@click.option("--now", default=None, help="RFC 3339 time for age conditions (default: now).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@exit_on_error
def preview_command(
    proposed: tuple[Path, ...],
    config_path: Path,
    current: tuple[Path, ...],
    repositories: tuple[str, ...],
    audit_log: Path | None,
    window: str,
    limit: int,
    mode: str,
    now: str | None,
    output: str,
) -> None:
    """What PROPOSED policies would change: images that start or stop replicating, change
    targets, become blocked or unblocked, with the responsible policies. Publishes nothing."""
    from adapter.config import FreightlinerConfig
    from adapter.runner.factory import build_runtime
    from adapter.runner.interface import ImageReference
    from adapter.service.preview import (
        diff_decisions,
        recent_images,
        render_text,
        repository_images,
    )
    from migrate.bundle.builder import BundleBuilder
    from migrate.core.clock import now_rfc3339
    from migrate.engine.embedded import EmbeddedEngine
    from migrate.policy.loader import load_policy_documents
    from migrate.policy.model import PolicySet
    from migrate.policy.values import parse_duration_ns

    config = FreightlinerConfig.load(config_path)
    verification = config.bundle_signing.verification()
    current_bundle = load_bundle(
        current or (config_path,), generate_tests=False, verification=verification
    )
    proposed_set = load_policy_documents(list(proposed))
    if mode == "merge":
        current_set = load_policy_documents(list(current or (config_path,)))
        changed = {p.policy.id for p in proposed_set.policies}
        kept = [p for p in current_set.policies if p.policy.id not in changed]
        proposed_set = PolicySet(sorted([*kept, *proposed_set.policies], key=lambda p: p.policy.id))
    proposed_bundle = BundleBuilder(generate_tests=False).build(proposed_set)
    try:
        references = [ImageReference.parse(r) for r in repositories]
        span = timedelta(microseconds=parse_duration_ns(window) / 1000)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with build_runtime(config, bundle=lambda: current_bundle, config_path=config_path) as runtime:
        images = recent_images(audit_log, window=span, limit=limit) if audit_log else []
        images += repository_images(runtime.replicator, references)
        result = diff_decisions(
            images,
            EmbeddedEngine(
                current_bundle.modules(), current_bundle.data(), current_bundle.revision
            ),
            EmbeddedEngine(
                proposed_bundle.modules(), proposed_bundle.data(), proposed_bundle.revision
            ),
            now or now_rfc3339(),
        )
    result.update(
        {"current_revision": current_bundle.revision, "proposed_revision": proposed_bundle.revision}
    )
    if output == "json":
        click.echo(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for line in render_text(result):
            click.echo(line)


@click.group(
    epilog="""\b
Examples:
  freightliner-policy token new ci --scope decisions --scope bundle:read --token-out ci.token
  freightliner-policy token hash < ci.token"""
)
def token() -> None:
    """Make API tokens for `serve.tokens_file` (docs/deployment.md)."""


@token.command(
    name="new",
    epilog="""\b
Examples:
  freightliner-policy token new ci --scope decisions --token-out ci.token >> tokens.yaml
  freightliner-policy token new admin --scope policies:read --scope policies:write""",
)
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["bundle:read", "decisions", "replicate", "policies:read", "policies:write"]),
    help="A scope of the token (repeatable).",
)
@click.option(
    "--token-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the token itself here (mode 0600) instead of printing it on stderr.",
)
def token_new(name: str, scopes: tuple[str, ...], token_out: Path | None) -> None:
    """A new random token: its tokens_file entry on stdout, the token on stderr (or a file)."""
    import yaml

    from adapter.service.auth import hash_token, new_token

    value = new_token()
    entry = {"name": name, "sha256": hash_token(value), "scopes": sorted(set(scopes))}
    if token_out is not None:
        fd = os.open(token_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
    else:
        click.echo(value, err=True)
    click.echo(yaml.safe_dump([entry], sort_keys=False), nl=False)


@token.command(
    name="hash",
    epilog="""\b
Examples:
  freightliner-policy token hash < ci.token
  printf '%s\\n' "$TOKEN" | freightliner-policy token hash""",
)
def token_hash() -> None:
    """Read a token on stdin; print the sha256 to store in tokens_file."""
    from adapter.service.auth import hash_token

    value = sys.stdin.readline().strip()
    if not value:
        click.echo("error: no token on stdin", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    click.echo(hash_token(value))
