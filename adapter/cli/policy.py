"""``freightliner-policy policy ...``: validate, build, test, eval and list policies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from adapter.cli.common import load_bundle
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError, Diagnostic, PolicyError
from migrate.core.exit_codes import ExitCode, exit_on_error

__all__ = ["policy", "render_decision_text"]

_PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@click.group()
def policy() -> None:
    """Validate, build, test and evaluate replication policies."""


@policy.command()
@_PATHS
@exit_on_error
def validate(paths: tuple[Path, ...]) -> None:
    """Check policy files (YAML files, directories, config.yaml) and report every problem."""
    from migrate.policy.loader import load_policy_documents, policy_files

    policy_set = load_policy_documents(list(paths))
    files = len(policy_files(list(paths)))
    click.echo(
        f"ok: {len(policy_set)} polic{'y' if len(policy_set) == 1 else 'ies'} in {files} file(s)"
    )


@policy.command()
@_PATHS
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="OUT.tar.gz for a tarball, otherwise a bundle directory.",
)
@click.option("--no-tests", is_flag=True, help="Leave out the generated per-policy tests.")
@exit_on_error
def build(paths: tuple[Path, ...], out: Path, no_tests: bool) -> None:
    """Build an OPA bundle from policy sources (written atomically)."""
    bundle = load_bundle(paths, generate_tests=not no_tests)
    bundle.write(out)
    click.echo(f"built {out} revision {bundle.revision} ({len(bundle.policy_ids)} policies)")


@policy.command(name="test")
@_PATHS
@click.option(
    "--runner",
    type=click.Choice(["auto", "opa", "embedded"]),
    default="auto",
    show_default=True,
    help="auto: `opa test` when opa is on PATH, else the embedded engine.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every test, not only failures.")
@exit_on_error
def test_command(paths: tuple[Path, ...], runner: str, verbose: bool) -> None:
    """Run the library's and the generated per-policy tests of a bundle."""
    from migrate.bundle.tester import run_bundle_tests

    report = run_bundle_tests(load_bundle(paths), runner)
    for outcome in report.outcomes:
        if verbose or not outcome.passed:
            status = "PASS" if outcome.passed else "FAIL"
            detail = f": {outcome.error}" if outcome.error else ""
            click.echo(f"{status} data.{outcome.package}.{outcome.name}{detail}")
    click.echo(f"{report.runner}: {report.passed} passed, {report.failed} failed")
    if not report.ok:
        sys.exit(int(ExitCode.TEST_FAILURE))


def _read_image(source: str) -> ImageMetadata:
    name = "<stdin>" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        value = json.loads(text)
        return ImageMetadata.model_validate(value)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        problems = [
            Diagnostic(e["msg"], file=name, field="image." + ".".join(str(s) for s in e["loc"]))
            for e in exc.errors()
        ]
        raise PolicyError("invalid image metadata", problems) from exc


def _shown(type_: str, actual: Any) -> str:
    """An explanation's actual value: ages as days and hours, the rest as JSON."""
    if type_ == "age" and isinstance(actual, int):
        hours = actual // 3_600_000_000_000
        return f"{hours // 24}d{hours % 24}h old"
    return json.dumps(actual, ensure_ascii=False)


def render_decision_text(decision: ReplicationDecision, explain: bool) -> list[str]:
    """The human form of a decision."""
    lines = [f"outcome: {decision.outcome}", f"reason: {decision.reason}"]
    if decision.matched_policies:
        lines.append(f"matched policies: {', '.join(decision.matched_policies)}")
    for action in decision.actions:
        target = f"{action.target_registry}/{action.target_repo}:{action.target_tag}"
        detail = (
            target if action.type == "replicate" else json.dumps(action.parameters, sort_keys=True)
        )
        lines.append(f"  {action.type:<9} {detail}  [{', '.join(action.policy_ids)}]")
    if explain:
        for policy_result in decision.explanation:
            mark = "matched" if policy_result.matched else "not matched"
            lines.append(
                f"policy {policy_result.policy_id} (priority {policy_result.priority}): {mark}"
            )
            for c in policy_result.conditions:
                key = f"[{c.key}]" if c.key else ""
                lines.append(
                    f"  {'✓' if c.matched else '✗'} {c.path}: {c.type}{key} {c.operator} "
                    f"{json.dumps(c.value, ensure_ascii=False)} "
                    f"(actual: {_shown(c.type, c.actual)})"
                )
    return lines


@policy.command(name="eval")
@_PATHS
@click.option(
    "--image", "image_source", required=True, help="ImageMetadata JSON file, or - for stdin."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--explain", is_flag=True, help="Show how every candidate policy's conditions evaluated."
)
@click.option("--now", default=None, help="RFC 3339 time for age conditions (default: now).")
@exit_on_error
def eval_command(
    paths: tuple[Path, ...], image_source: str, output: str, explain: bool, now: str | None
) -> None:
    """Decide one image with the embedded engine. Exit 5 when the decision blocks it."""
    from migrate.engine.embedded import EmbeddedEngine

    image = _read_image(image_source)
    bundle = load_bundle(paths, generate_tests=False)
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    decision = engine.decide(image, now=now)
    if output == "json":
        document: dict[str, Any] = decision.model_dump(mode="json")
        click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for line in render_decision_text(decision, explain):
            click.echo(line)
    if decision.outcome == "block":
        sys.exit(int(ExitCode.BLOCKED))


@policy.command(name="list")
@_PATHS
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@exit_on_error
def list_command(paths: tuple[Path, ...], output: str) -> None:
    """List policies by descending priority."""
    from migrate.policy.loader import load_policy_documents

    items = sorted(
        load_policy_documents(list(paths)).policies, key=lambda p: (-p.policy.priority, p.policy.id)
    )
    rows: list[dict[str, Any]] = [
        {
            "id": p.policy.id,
            "name": p.policy.name,
            "priority": p.policy.priority,
            "enabled": p.policy.enabled,
            "schedule": p.policy.schedule or "",
            "conditions": len(p.policy.conditions),
            "actions": [a.type for a in p.policy.actions],
            "source": f"{p.file}:{p.line}" if p.line else p.file,
        }
        for p in items
    ]
    if output == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'PRIORITY':>8}  {'ENABLED':<7}  {'ID':<32}  {'ACTIONS':<24}  SOURCE")
    for row in rows:
        actions = ",".join(row["actions"]) or "-"
        click.echo(
            f"{row['priority']:>8}  {str(row['enabled']).lower():<7}  {row['id']:<32}  "
            f"{actions:<24}  {row['source']}"
        )
